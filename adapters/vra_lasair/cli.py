"""``vra lasair ...``: the Lasair annotator (``run``) and a look into its outbox (``outbox``).

Hooked into the ``vra`` command by ``add_subparser(subparsers)``; confluent-kafka, lasair and
the models are imported inside the commands, so ``vra --help`` needs none of them.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from typing import Any

EPILOG = """examples:
  vra lasair run --input tests/data/lasair/20260205_073301.json.gz --dry-run
                                   annotate_list payloads as JSON lines, no Kafka, no Lasair
  LASAIR_TOKEN=... vra lasair run --config lasair.toml
                                   consume the filter's topic and annotate, until stopped
  vra lasair outbox --config lasair.toml --rejected
                                   what is queued, and what Lasair refused
settings: a TOML file ([lasair] table), VRA_LASAIR_<NAME> environment variables, options;
the token from LASAIR_TOKEN only. See adapters/vra_lasair/README.md.
"""

LOG_FORMAT = "%(asctime)s vra-lasair %(levelname)s %(message)s"


def add_subparser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``lasair`` (with ``run`` and ``outbox``) to the ``vra`` sub-commands."""
    p = subparsers.add_parser(
        "lasair", help="the Lasair annotator: Kafka filter stream in, annotations out",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="Consume a Lasair filter's Kafka topic, score each alert (VRA + ORACLE, "
                    "history from the packet) and push the results back as Lasair "
                    "annotations, at least once, through a durable SQLite outbox.")
    sub = p.add_subparsers(dest="lasair_command", metavar="ACTION")

    q = sub.add_parser(
        "run", help="run the annotator (Kafka, or --input files)",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="Run the annotator. With --input, read Lasair records from files "
                    "instead of Kafka; with --dry-run, write each annotate_list call's payload "
                    "as one JSON line instead of calling Lasair (no token needed, no offsets "
                    "committed, the real outbox untouched). A health line (JSON) goes to "
                    "stderr every --health-every seconds and a 'done' line at exit.")
    q.add_argument("--config", default=None, help="TOML settings file ([lasair] table)")
    q.add_argument("--input", nargs="+", default=None, metavar="FILE",
                   help="Lasair records from files (JSON array or lines, .gz allowed)")
    q.add_argument("--dry-run", action="store_true",
                   help="write the annotate_list payloads as JSON lines; call nothing")
    q.add_argument("--out", default=None, help="--dry-run output file (default: stdout)")
    q.add_argument("--max-messages", type=int, default=0,
                   help="stop after this many messages (0: no limit)")
    q.add_argument("--idle-exit", type=float, default=0.0,
                   help="stop after this many seconds without a message (0: never)")
    q.add_argument("--drain-timeout", type=float, default=None,
                   help="seconds to keep sending the outbox at exit (default 60 for Kafka, "
                        "until empty for --input); what is left waits for the next start")
    for name, text in (("bootstrap-servers", "Kafka bootstrap servers"),
                       ("group-id", "Kafka consumer group"), ("topic", "the filter's topic"),
                       ("annotation-topic", "the Lasair annotator name"),
                       ("endpoint", "Lasair API URL"), ("outbox", "outbox SQLite file"),
                       ("state", "optional object-state SQLite file"),
                       ("health-every", "seconds between health lines"),
                       ("group-instance-id", "Kafka static member id")):
        q.add_argument(f"--{name}", default=None, help=f"{text} (overrides the config)")
    q.set_defaults(func=cmd_run)

    q = sub.add_parser("outbox", help="what the outbox holds; requeue refused annotations",
                       description="Counts of the outbox (queued, retrying, rejected, objects "
                                   "sent, calls made) as JSON; --rejected lists what Lasair "
                                   "refused, --requeue puts it back in the queue.")
    q.add_argument("--config", default=None, help="TOML settings file")
    q.add_argument("--outbox", default=None, help="outbox SQLite file (overrides the config)")
    q.add_argument("--rejected", action="store_true", help="list the refused annotations")
    q.add_argument("--requeue", action="store_true", help="queue the refused ones again")
    q.add_argument("--drain", action="store_true",
                   help="send what is queued to Lasair now (needs LASAIR_TOKEN), e.g. the "
                        "outbox of a host that is being retired")
    q.add_argument("--drain-timeout", type=float, default=3600.0,
                   help="give up draining after this many seconds (default 3600)")
    q.set_defaults(func=cmd_outbox)

    p.set_defaults(func=lambda args: p.print_help() or 2)
    return p


class _Logging:
    """The command's log lines on stderr while it runs (and only then)."""

    def __enter__(self) -> logging.Logger:
        self.log = logging.getLogger("vra_lasair")
        self.handler = logging.StreamHandler(sys.stderr)
        self.handler.setFormatter(logging.Formatter(LOG_FORMAT))
        self.saved = (self.log.level, self.log.propagate)
        self.log.addHandler(self.handler)
        self.log.setLevel(logging.INFO)
        self.log.propagate = False
        logging.getLogger("vra_lasair.kafka").setLevel(logging.WARNING)
        return self.log

    def __exit__(self, *exc) -> None:
        self.log.removeHandler(self.handler)
        self.log.setLevel(self.saved[0])
        self.log.propagate = self.saved[1]


def cmd_run(args: Any) -> int:
    with _Logging() as log:
        return _cmd_run(args, log)


def _cmd_run(args: Any, log: logging.Logger) -> int:
    from . import config as C

    try:
        over = {k: getattr(args, k) for k in ("bootstrap_servers", "group_id", "topic",
                                              "annotation_topic", "endpoint", "outbox",
                                              "state", "health_every", "group_instance_id")}
        settings = C.load(args.config, **over)
        if args.dry_run and not settings.annotation_topic:
            settings = C.load(args.config, **dict(over, annotation_topic="vra_filters"))
        settings.check(kafka=not args.input, send=not args.dry_run)
        token = None if args.dry_run else C.token()
    except C.ConfigError as exc:
        print(f"vra lasair run: {exc}", file=sys.stderr)
        return 2
    return _run(args, settings, token, log)


def _run(args: Any, settings: Any, token: Any, log: logging.Logger) -> int:
    import vra_filters as vra

    from .outbox import OutboxError
    from .runner import Runner
    from .sender import DryRunClient, lasair_client

    out = None
    try:
        if args.dry_run:
            out = open(args.out, "w", encoding="utf-8") if args.out else sys.stdout
            client: Any = DryRunClient(out)
        else:
            client = lasair_client(token, settings.endpoint, settings.http_timeout)
        scorer = vra.Scorer.load(policy=settings.policy, oracle=settings.oracle,
                                 ebv=settings.ebv)
        store = vra.SQLiteStore(settings.state) if settings.state else None
        runner = Runner(settings, scorer, client, token=token, store=store,
                        outbox_path=":memory:" if args.dry_run else None,
                        unlimited=args.dry_run)
    except (RuntimeError, OutboxError, vra.StateError, ValueError, OSError) as exc:
        print(f"vra lasair run: {exc}", file=sys.stderr)
        return 2
    log.info("start %s", json.dumps({
        "mode": ("dry-run " if args.dry_run else "") + ("files" if args.input else "kafka"),
        "settings": settings.describe(), "scorer": scorer.fingerprint}, sort_keys=True,
        default=str))
    try:
        if args.input:
            from vra_filters.readers import iter_read
            timeout = 1e12 if args.drain_timeout is None else args.drain_timeout
            result = runner.run_items(iter_read(args.input, "lasair"), timeout)
        else:
            result = _run_kafka(args, settings, runner)
    finally:
        runner.close()
        if out is not None and out is not sys.stdout:
            out.close()
    if args.input and result["scored"] == 0:
        print("vra lasair run: no alert could be scored", file=sys.stderr)
        return 1
    return 0


def _run_kafka(args: Any, settings: Any, runner: Any) -> Any:
    from .source import KafkaSource

    stop = threading.Event()

    def on_signal(signum, frame):  # first signal: stop cleanly; the loop checks it
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    source = KafkaSource(settings, commit=not args.dry_run)
    try:
        return runner.run_kafka(source, stop, max_messages=args.max_messages,
                                idle_exit=args.idle_exit,
                                drain_timeout=60.0 if args.drain_timeout is None
                                else args.drain_timeout)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def cmd_outbox(args: Any) -> int:
    from . import config as C
    from .outbox import Outbox, OutboxError

    try:
        settings = C.load(args.config, outbox=args.outbox)
        box = Outbox(settings.outbox, calls_per_hour=settings.calls_per_hour,
                     burst=settings.burst)
    except (C.ConfigError, OutboxError) as exc:
        print(f"vra lasair outbox: {exc}", file=sys.stderr)
        return 2
    try:
        if args.requeue:
            print(f"requeued {box.requeue_rejected()} annotations", file=sys.stderr)
        if args.drain:
            with _Logging():
                code = _drain(box, settings, args.drain_timeout)
            if code:
                return code
        report: dict = dict(box.stats(), outbox=settings.outbox)
        if args.rejected:
            report["rejected_items"] = box.rejected()
        print(json.dumps(report, indent=2, sort_keys=True))
    finally:
        box.close()
    return 0


def _drain(box: Any, settings: Any, timeout: float) -> int:
    from . import config as C
    from .sender import Sender, lasair_client

    try:
        token = C.token()
        if not settings.endpoint.startswith(("http://", "https://")):
            raise C.ConfigError(f"endpoint {settings.endpoint!r} is not an http(s) URL")
        client = lasair_client(token, settings.endpoint, settings.http_timeout)
    except (C.ConfigError, RuntimeError) as exc:
        print(f"vra lasair outbox: {exc}", file=sys.stderr)
        return 2
    sender = Sender(box, client, settings, token=token)
    if not sender.drain(timeout):
        print(f"vra lasair outbox: not empty after {timeout:.0f} s "
              f"({box.stats()['queued']} queued; last error: {sender.last_error or 'none'})",
              file=sys.stderr)
        return 1
    print(f"sent {sender.counts['annotated']} annotations in {sender.counts['calls']} calls",
          file=sys.stderr)
    return 0
