"""Where and how the notifier posts: channels, broker links, thresholds, the queue file.

Settings come from a TOML file (``--config``, a ``[slack]`` table) and the environment; the
environment wins. The bot token is read from the environment only (``SLACK_BOT_TOKEN``, or the
variable a config names in ``token_env``) at the moment a client is made, so it is never in a
config file, a ``repr``, the queue, a log line or an error message (:func:`redact`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple

#: The notifications and the channel each goes to (a channel id such as C0123ABCD).
KINDS = ("fast_track", "digest", "weekly")

#: Broker object pages per survey. ``{object_id}`` is the survey's object id; ``{locus_id}``
#: (ANTARES) is only known when the annotation carries one, so that link is often left out.
DEFAULT_LINKS: Dict[str, Dict[str, str]] = {
    "lasair": {"lsst": "https://lasair.lsst.ac.uk/objects/{object_id}/",
               "ztf": "https://lasair-ztf.lsst.ac.uk/objects/{object_id}/"},
    "fink": {"ztf": "https://fink-portal.org/{object_id}",
             "lsst": "https://lsst.fink-portal.org/{object_id}"},
    "antares": {"lsst": "https://antares.noirlab.edu/loci/{locus_id}",
                "ztf": "https://antares.noirlab.edu/loci/{locus_id}"},
    "atlas": {"atlas": "https://star.pst.qub.ac.uk/sne/atlas4/candidate/{object_id}/"},
}
TNS_URL = "https://www.wis-tns.org/object/{name}"

ENV = {
    "channel": "VRA_SLACK_CHANNEL",  # default for all three
    "fast_track": "VRA_SLACK_CHANNEL_FAST_TRACK",
    "digest": "VRA_SLACK_CHANNEL_DIGEST",
    "weekly": "VRA_SLACK_CHANNEL_WEEKLY",
    "queue": "VRA_SLACK_QUEUE",
    "base_url": "VRA_SLACK_BASE_URL",
}

_TOKEN_PATTERN = re.compile(r"xox[a-z]-[A-Za-z0-9-]+")


class ConfigError(ValueError):
    """A setting that is missing or wrong; the message says which and how to set it."""


@dataclass(frozen=True)
class SlackConfig:
    """Notifier settings (see the module docstring). Times in seconds, ranks 0-10."""

    channels: Mapping[str, str] = field(default_factory=dict)
    token_env: str = "SLACK_BOT_TOKEN"
    base_url: str = "https://slack.com/api/"
    queue: str = "vra_slack_queue.sqlite"
    brokers: Tuple[str, ...] = ("lasair", "fink", "antares", "atlas")
    links: Mapping[str, Mapping[str, str]] = field(default_factory=lambda: DEFAULT_LINKS)
    eyeball_threshold: float = 7.0
    purgatory_days: float = 15.0
    top_n: int = 10
    #: Slack allows about one message a second per channel.
    min_interval_s: float = 1.0
    backoff_base_s: float = 2.0
    backoff_cap_s: float = 900.0
    #: how many 429s slack_sdk's RateLimitErrorRetryHandler sleeps through inside one call
    rate_limit_retries: int = 2
    timeout_s: int = 30

    def channel(self, kind: str) -> str:
        """The channel id for ``kind``; a clear error naming the variable when unset."""
        value = self.channels.get(kind) or self.channels.get("default")
        if not value:
            raise ConfigError(f"no Slack channel for the {kind} messages: set "
                              f"{ENV[kind]} (or {ENV['channel']} for all) to a channel id, "
                              f"or [slack.channels] {kind} = \"C...\" in the config file")
        return value

    def token(self, env: Optional[Mapping[str, str]] = None) -> str:
        """The bot token from the environment (raises :class:`ConfigError` if unset)."""
        value = (os.environ if env is None else env).get(self.token_env, "").strip()
        if not value:
            raise ConfigError(f"no Slack token: set {self.token_env} to the app's bot token "
                              "(xoxb-...); see the README, 'Slack notifications'")
        return value


def load_config(path: Optional[str] = None,
                env: Optional[Mapping[str, str]] = None, **overrides: Any) -> SlackConfig:
    """Settings from ``path`` (TOML, optional), then the environment, then ``overrides``
    (command-line options; None values are ignored)."""
    env = os.environ if env is None else env
    values: Dict[str, Any] = {}
    channels: Dict[str, str] = {}
    if path:
        table = _read_toml(Path(path)).get("slack", {})
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: [slack] must be a table")
        known = {f.name for f in fields(SlackConfig)}
        for key, value in table.items():
            if key == "token" or key.endswith("_token"):
                raise ConfigError(f"{path}: the token must not be in a file; put it in the "
                                  "environment (SLACK_BOT_TOKEN) and, if you use another "
                                  "variable, name it with token_env")
            if key not in known:
                raise ConfigError(f"{path}: unknown [slack] key {key!r}; known: "
                                  f"{', '.join(sorted(known))}")
            values[key] = value
        channels.update(values.pop("channels", {}) or {})
        if "links" in values:
            merged = {b: dict(t) for b, t in DEFAULT_LINKS.items()}
            for broker, templates in values["links"].items():
                merged.setdefault(broker, {}).update(templates)
            values["links"] = merged
        if "brokers" in values:
            values["brokers"] = tuple(values["brokers"])
    if env.get(ENV["channel"]):
        channels["default"] = env[ENV["channel"]]
    for kind in KINDS:
        if env.get(ENV[kind]):
            channels[kind] = env[ENV[kind]]
    for key in ("queue", "base_url"):
        if env.get(ENV[key]):
            values[key] = env[ENV[key]]
    channels.update(overrides.pop("channels", None) or {})
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return replace(SlackConfig(), channels=channels, **values)
    except TypeError as exc:
        raise ConfigError(f"bad setting: {exc}") from None


def _read_toml(path: Path) -> Dict[str, Any]:
    from vra_filters.tomlfile import read_toml
    try:
        return read_toml(path)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def redact(text: Any, *secrets: str) -> str:
    """``text`` with every Slack token (``xox?-...``) and each of ``secrets`` blanked."""
    out = str(text)
    for secret in secrets:
        if secret:
            out = out.replace(secret, "[redacted]")
    return _TOKEN_PATTERN.sub("xox?-[redacted]", out)
