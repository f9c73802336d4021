"""Slack notifier for vra_filters: fast-track candidates with their light curve, a digest
after each ingest, a weekly report (``vra slack ...``, and :class:`SlackSink` for live
streams). See README.md ("Slack notifications").

Nothing heavy is imported here: ``vra --help`` must not need slack_sdk or matplotlib.
"""

from __future__ import annotations

__all__ = ["SlackSink", "SlackConfig", "load_config"]


def __getattr__(name: str):
    if name == "SlackSink":
        from .sink import SlackSink
        return SlackSink
    if name in ("SlackConfig", "load_config"):
        from . import config
        return getattr(config, name)
    raise AttributeError(f"module 'vra_slack' has no attribute {name!r}")
