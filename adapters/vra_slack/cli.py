"""``vra slack ...``: fast-track messages, ingest digests and the weekly report in Slack.

Hooked into ``vra`` by the ``vra_filters.commands`` entry point (``add_subparser``). Nothing
heavy is imported until a command runs, so ``vra --help`` works without slack_sdk.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any, List, Optional

EPILOG = """examples:
  vra slack digest vra-demo/annotations.jsonl --dry-run         # print the blocks, post nothing
  vra slack fast-track ann.jsonl --alerts alerts.json --dry-run  # and write the PNGs
  vra slack run ann.jsonl --alerts alerts.json     # after an ingest: fast track + digest, post
  vra slack run                                    # post what is still queued
  vra slack weekly week/*.jsonl                    # or --state vra_state.sqlite

environment: SLACK_BOT_TOKEN (bot token, xoxb-...), VRA_SLACK_CHANNEL (channel id for all),
  VRA_SLACK_CHANNEL_FAST_TRACK / _DIGEST / _WEEKLY, VRA_SLACK_QUEUE (default
  ./vra_slack_queue.sqlite), VRA_SLACK_BASE_URL (default https://slack.com/api/)
"""


def add_subparser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``slack`` (``fast-track``, ``digest``, ``weekly``, ``run``) to the ``vra`` commands."""
    p = subparsers.add_parser(
        "slack", help="post fast-track candidates, ingest digests and weekly reports to Slack",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="Slack notifications from annotations (`vra score` JSON lines): one "
                    "message per object entering the fast track (with its light curve), a "
                    "digest per ingest, a weekly report. Every message goes through a "
                    "durable queue: nothing is posted twice, nothing is lost while Slack is "
                    "down. Needs slack_sdk (pip install 'vra-filters[slack]').")
    sub = p.add_subparsers(dest="slack_command", metavar="ACTION")

    def common(q: argparse.ArgumentParser, annotations: str = "+") -> None:
        if annotations:
            q.add_argument("annotations", nargs=annotations, metavar="ANNOTATIONS.jsonl",
                           help="annotation files (`vra score` output; - for stdin)")
        q.add_argument("--config", default=None, help="TOML file with a [slack] table")
        q.add_argument("--queue", default=None,
                       help="queue file (default $VRA_SLACK_QUEUE or ./vra_slack_queue.sqlite)")
        q.add_argument("--dry-run", action="store_true",
                       help="print the Slack calls (blocks, text) and write the PNGs instead "
                            "of posting; the queue is read, never written")
        q.add_argument("--png-dir", default="vra-slack-dry-run",
                       help="where --dry-run writes the PNGs (default ./vra-slack-dry-run)")
        q.add_argument("--wait", type=float, default=60.0,
                       help="seconds to keep retrying while Slack is down or rate-limiting "
                            "(default 60; what is left stays queued)")
        q.add_argument("--verbose", action="store_true", help="log each post")

    def alerts(q: argparse.ArgumentParser) -> None:
        q.add_argument("--alerts", action="append", default=[], metavar="ALERT_FILE",
                       help="the alert file(s) the annotations came from, for the "
                            "light-curve plots (repeatable; without it: no plot, and the "
                            "message says so)")

    q = sub.add_parser("fast-track", help="one message per object entering the fast track",
                       description="Queue and post one message per object whose annotations "
                                   "reach the fast-track tier (its first such alert), unless "
                                   "that object was announced before.")
    common(q)
    alerts(q)
    q.set_defaults(func=cmd_fast_track)

    q = sub.add_parser("digest", help="counts and top objects per tier for one ingest",
                       description="Queue and post the digest of one ingest cycle: counts "
                                   "per tier and the top objects of each eyeball tier, with "
                                   "links. The same cycle is never digested twice.")
    common(q)
    q.add_argument("--top", type=int, default=None, help="objects listed per tier (default 10)")
    q.set_defaults(func=cmd_digest)

    q = sub.add_parser("weekly", help="the weekly report with a chart of outcomes",
                       description="Alerts scored, auto-garbaged, eyeballed per tier, "
                                   "outcomes chart, objects stuck in purgatory and potential "
                                   "misses, over the last --days days of the annotations.")
    common(q, annotations="*")
    q.add_argument("--state", default=None,
                   help="read the annotations from a `vra score --state` store instead")
    q.add_argument("--days", type=float, default=7.0,
                   help="length of the period, ending at the latest alert (0: everything)")
    q.add_argument("--until", type=float, default=None, metavar="MJD",
                   help="end of the period (default: the latest alert)")
    q.set_defaults(func=cmd_weekly)

    q = sub.add_parser("run", help="after an ingest: fast track + digest, then post the queue",
                       description="Queue the fast-track messages and the digest of the "
                                   "annotations given (if any), then post everything due, "
                                   "including what earlier runs left queued.")
    common(q, annotations="*")
    alerts(q)
    q.add_argument("--no-digest", action="store_true", help="fast-track messages only")
    q.add_argument("--status", action="store_true", help="print the queue and exit")
    q.add_argument("--retry-failed", action="store_true",
                   help="re-queue the messages Slack refused (after fixing the cause)")
    q.set_defaults(func=cmd_run)
    p.set_defaults(func=lambda args: p.print_help() or 0)
    return p


# ------------------------------------------------------------------------------- helpers


def _setup_logging(verbose: bool) -> None:
    from .config import redact

    class Redact(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            record.msg = redact(record.getMessage())
            record.args = ()
            return True

    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(Redact())
    handler.setFormatter(logging.Formatter("vra slack: %(message)s"))
    logger = logging.getLogger("vra_slack")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO if verbose else logging.WARNING)
    logger.propagate = False


def _config(args, kinds: List[str]):
    from .config import ENV, load_config

    config = load_config(args.config, queue=args.queue, top_n=getattr(args, "top", None))
    if args.dry_run:  # a dry run needs neither a token nor channels
        channels = dict(config.channels)
        for kind in kinds:
            if not (channels.get(kind) or channels.get("default")):
                channels[kind] = f"<{ENV[kind]} not set>"
        from dataclasses import replace
        config = replace(config, channels=channels)
    else:
        for kind in kinds:
            config.channel(kind)
        config.token()
        _require_slack_sdk()
    return config


def _require_slack_sdk() -> None:
    try:
        import slack_sdk  # noqa: F401
    except ImportError:
        raise ValueError("slack_sdk is not installed: pip install 'vra-filters[slack]' "
                         "(or pip install 'slack_sdk>=3.27'); --dry-run works without it"
                         ) from None


def _annotations(args) -> List[dict]:
    from .sources import read_jsonl
    return list(read_jsonl(args.annotations))


def _alert_index(paths: List[str]):
    if not paths:
        return None
    from .sources import AlertIndex, read_lightcurves
    lcs, skips = read_lightcurves(paths)
    for s in skips:
        print(f"vra slack: alert skipped ({s})", file=sys.stderr)
    return AlertIndex(lcs)


def _open_queue(args, config):
    from .queue import Queue
    return Queue.open_for_dry_run(config.queue) if args.dry_run else Queue(config.queue)


def _finish(args, config, queue, planned: list) -> int:
    """Dry run: print and write PNGs. Else: post what is due; one summary line."""
    from .deliver import drain, summary
    from .notifier import dry_run_record, render

    planned = [p for p in planned if p is not None]
    for p in planned:
        if not p.new:
            print(f"vra slack: {p.key} was queued or posted before: not sent again",
                  file=sys.stderr)
    if args.dry_run:
        out = Path(args.png_dir)
        for p in planned:
            if not p.new:
                continue
            rendered = render(p.kind, p.channel, p.payload, config)
            path = None
            if rendered.png is not None:
                out.mkdir(parents=True, exist_ok=True)
                path = str(out / rendered.png_name)
                Path(path).write_bytes(rendered.png)
            print(dry_run_record(p, rendered, path))
        if queue is not None:
            queue.close()
        return 0
    try:
        report = drain(queue, config, config.token(), wait_s=args.wait)
        text, status = summary(report)
    finally:
        queue.close()
    print(f"vra slack: {text}", file=sys.stderr)
    return status


# ------------------------------------------------------------------------------- commands


def cmd_fast_track(args) -> int:
    _setup_logging(args.verbose)
    from .notifier import Notifier
    config = _config(args, ["fast_track"])
    anns = _annotations(args)
    queue = _open_queue(args, config)
    planned = Notifier(config, queue, _alert_index(args.alerts)).fast_track(anns)
    if not planned:
        print("vra slack: no fast-track annotation in the input", file=sys.stderr)
    return _finish(args, config, queue, planned)


def cmd_digest(args) -> int:
    _setup_logging(args.verbose)
    from .notifier import Notifier
    config = _config(args, ["digest"])
    anns = _annotations(args)
    queue = _open_queue(args, config)
    return _finish(args, config, queue, [Notifier(config, queue).digest(anns)])


def cmd_weekly(args) -> int:
    _setup_logging(args.verbose)
    from .notifier import Notifier
    from .sources import read_jsonl, read_state_store
    if bool(args.state) == bool(args.annotations):
        raise ValueError("give annotation files or --state FILE (one of the two)")
    config = _config(args, ["weekly"])
    anns = read_state_store(args.state) if args.state else list(read_jsonl(args.annotations))
    queue = _open_queue(args, config)
    planned = Notifier(config, queue).weekly(anns, days=args.days, until=args.until)
    return _finish(args, config, queue, [planned])


def cmd_run(args) -> int:
    _setup_logging(args.verbose)
    from .deliver import describe_jobs
    from .notifier import Notifier
    from .queue import Queue
    if args.status or args.retry_failed:
        from .config import load_config
        config = load_config(args.config, queue=args.queue)
        if not Path(config.queue).is_file():
            raise ValueError(f"{config.queue}: no queue file yet")
        with Queue(config.queue, read_only=args.status and not args.retry_failed) as queue:
            if args.retry_failed:
                print(f"vra slack: {queue.retry_failed()} refused message(s) queued again",
                      file=sys.stderr)
            if args.status:
                print(json.dumps(describe_jobs(queue), indent=2))
        if args.status:
            return 0
    kinds = ["fast_track"] + ([] if args.no_digest or not args.annotations else ["digest"])
    config = _config(args, kinds)
    queue = _open_queue(args, config)
    planned: list = []
    if args.annotations:
        anns = _annotations(args)
        notifier = Notifier(config, queue, _alert_index(args.alerts))
        planned += notifier.fast_track(anns)
        if not args.no_digest:
            planned.append(notifier.digest(anns))
    if args.dry_run and queue is None:
        queue = None
    return _finish(args, config, queue, planned)


def main(argv: Optional[List[str]] = None) -> int:
    """``python -m vra_slack ...`` (the same as ``vra slack ...``)."""
    parser = argparse.ArgumentParser(prog="vra")
    add_subparser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["slack", *(sys.argv[1:] if argv is None else argv)])
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError) as exc:
        from .config import redact
        print(f"vra slack: error: {redact(exc, os.environ.get('SLACK_BOT_TOKEN', ''))}",
              file=sys.stderr)
        return 2
