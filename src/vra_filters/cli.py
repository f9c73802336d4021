"""The ``vra`` command line: score alerts, run the demo, benchmark, bring in your own models.

Side effects (files, terminal, progress bars) live here; the scorer below is pure.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Iterable, Iterator, List, Optional

from .options import add_scoring_options, progress, scorer_from_args

EPILOG = """examples:
  vra demo                                  score the embedded LSST sample, print the eyeball list
  vra score alerts.json --format lasair     JSON lines on stdout, skips on stderr
  vra score alerts.avro --history packet    stateless: each alert's own history is its past
  vra score ATLAS_OBJECT.json --ebv 0.05    replays the object's visits (day 1, then each night)
  vra bench --json                          alerts/s per stage on one core
  vra model list                            the shipped models, versions, sha256, licences
"""

DEFAULT_STATE = "vra_state.sqlite"


def _lightcurves(items: Iterable, history: str) -> Iterator:
    """With a store as the history, ATLAS objects (the whole object in one file) are
    replayed visit by visit so the policies see each night; in packet mode the scorer does."""
    from .history import visits
    from .lightcurve import LightCurve
    for item in items:
        if history == "store" and isinstance(item, LightCurve) and item.survey == "atlas":
            yield from visits(item)
        else:
            yield item


def cmd_score(args) -> int:
    from .annotations import JsonLinesSink
    from .readers import Duplicate, Skip, iter_read
    from .state import open_store
    from .stream import Stream

    scorer = scorer_from_args(args, with_features=args.with_features)
    path = args.state or (DEFAULT_STATE if args.history == "store" else None)
    store = open_store(path) if path else None
    out = open(args.out, "w") if args.out else sys.stdout
    sink = JsonLinesSink(out)
    stream = Stream(scorer, store, sink, history=args.history)
    items = _lightcurves(iter_read(args.inputs, args.format), args.history)
    try:
        for result in stream.run(progress(items, "scoring", quiet=args.quiet)):
            if isinstance(result, Skip) and not isinstance(result, Duplicate):
                print(f"skip {result.source}: {result.reason}", file=sys.stderr)
    finally:
        sink.close()
        if store is not None:
            store.close()
    c = stream.counts
    scored = sum(v for k, v in c.items() if k in ("new", "out_of_order", "rescored",
                                                  "duplicate"))
    tiers = ", ".join(f"{k[5:]} {v}" for k, v in sorted(c.items()) if k.startswith("tier:"))
    print(f"scored {scored} alerts ({tiers or 'none'}); skipped {c['skipped']}", file=sys.stderr)
    if c["duplicate_in_input"]:
        print(f"{c['duplicate_in_input']} records left out as duplicates of others in the "
              "input (the same alert delivered again, or a Lasair object row whose full alert "
              "is in the file)", file=sys.stderr)
    redelivered = c["duplicate"] + c["rescored"]
    if redelivered:
        print(f"{redelivered} alerts were re-deliveries already in {path}: {c['duplicate']} "
              f"re-emitted as stored (same models and settings), {c['rescored']} scored again "
              "(other settings; no new visit counted)", file=sys.stderr)
    if scored == 0:
        print("vra score: no alert could be scored", file=sys.stderr)
        return 1
    return 0


def cmd_demo(args) -> int:
    from .demo import run_demo
    return run_demo(args)


def cmd_bench(args) -> int:
    from .bench import run_bench
    report = run_bench(n_alerts=args.alerts, quiet=args.json, oracle=not args.no_oracle)
    if args.json:
        print(json.dumps(report, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vra", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="Virtual Research Assistant scores and ORACLE classes for transient "
                    "alerts (ATLAS, Rubin/LSST, ZTF; Lasair, Fink, ANTARES).")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("score", help="score alert files, one JSON line per alert",
                       description="Score alerts and write one annotation (JSON line) per "
                                   "alert. Alerts that cannot be scored are reported on "
                                   "stderr with the reason; the rest go on. Exits 1 when no "
                                   "alert could be scored.")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="alert files")
    p.add_argument("--format", default="auto",
                   choices=["auto", "atlas", "lasair", "rubin", "ztf"],
                   help="input format (default: guess from each file)")
    p.add_argument("--history", default="store", choices=["store", "packet"],
                   help="where an object's past comes from: the state store (default; each "
                        "alert is one visit) or the alert packet itself (its earlier "
                        "detections are replayed as earlier alerts: for one-off files and "
                        "stateless hosts; no store unless --state is given)")
    p.add_argument("--state", default=None,
                   help="SQLite file keeping each object's history across runs, so a "
                        f"re-delivered alert is not a new visit (default: ./{DEFAULT_STATE} "
                        "with --history store, none with --history packet); ':memory:' "
                        "forgets at exit")
    p.add_argument("--with-features", action="store_true",
                   help="include the feature values in each annotation")
    p.add_argument("--out", default=None, help="output file (default: stdout)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_scoring_options(p)
    p.set_defaults(func=cmd_score)

    p = sub.add_parser("demo", help="score the embedded sample of real LSST alerts",
                       description="Score the real LSST alerts shipped with the package, "
                                   "print the ranked eyeball list and the counts per tier, and "
                                   "write the annotations and a score-space plot.")
    p.add_argument("--out-dir", default="vra-demo",
                   help="where to write annotations.jsonl and score_space.png "
                        "(default: ./vra-demo)")
    add_scoring_options(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("bench", help="alerts/s per stage on one core",
                       description="Throughput of readers, features, scorers, policies and "
                                   "the whole pipeline on the embedded sample replicated to "
                                   "--alerts alerts.")
    p.add_argument("--alerts", type=int, default=10000, help="alerts to time (default 10000)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--no-oracle", action="store_true", help="skip the ORACLE rows")
    p.set_defaults(func=cmd_bench)

    from .cli_evaluate import add_subparser as add_evaluate_commands
    from .cli_model import add_subparser as add_model_commands
    add_model_commands(sub)
    add_evaluate_commands(sub)
    __import__(f"{__package__}.cli_train", fromlist=["add_subparser"]).add_subparser(sub)
    _add_adapter_commands(sub)
    return parser


def _add_adapter_commands(sub) -> None:
    """Broker adapters' subcommands (``vra antares ...``), found through the
    ``vra_filters.commands`` entry points: each names an ``add_subparser(subparsers)``. The core
    never imports an adapter; one that cannot be loaded (e.g. a missing optional dependency)
    gets a stub command saying why, and the other commands work as usual."""
    from importlib.metadata import entry_points

    def stub(name: str, target: str, exc: Exception) -> None:
        why = f"{type(exc).__name__}: {exc}"
        p = sub.add_parser(name, help=f"(unavailable: the {name} adapter failed to load)",
                           description=f"The {name} adapter ({target}) could not be loaded: "
                                       f"{why}")
        p.set_defaults(func=lambda args: print(
            f"vra {name}: the adapter ({target}) could not be loaded: {why}",
            file=sys.stderr) or 2)

    found = entry_points()
    if hasattr(found, "select"):  # Python >= 3.10
        points = list(found.select(group="vra_filters.commands"))
    else:  # Python 3.9: a dict of groups
        points = list(found.get("vra_filters.commands", ()))
    for point in points:  # an editable and a regular install may both list one name
        if point.name in sub.choices:
            continue
        try:
            point.load()(sub)
        except Exception as exc:  # an adapter must not break `vra`
            if point.name not in sub.choices:
                stub(point.name, point.value, exc)


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0 if args.command is None else 2
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError) as exc:
        print(f"vra: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `vra score ... | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
