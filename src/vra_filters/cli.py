"""The ``vra`` command line: score alerts, run the demo, benchmark, bring in your own models.

Side effects (files, terminal, progress bars) live here; everything below is pure.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Iterable, Iterator, List, Optional

EPILOG = """examples:
  vra demo                                  score the embedded LSST sample, print the eyeball list
  vra score alerts.json --format lasair     JSON lines on stdout, skips on stderr
  vra score ATLAS_OBJECT.json --ebv 0.05    replays the object's visits (day 1, then each night)
  vra bench --json                          alerts/s per stage on one core
  vra model import-sklearn my.joblib mymodel/
"""


def _progress(iterable: Iterable, desc: str, total: Optional[int] = None, quiet: bool = False):
    if quiet:
        return iterable
    from tqdm import tqdm
    return tqdm(iterable, desc=desc, total=total, unit=" alerts", file=sys.stderr,
                disable=None, leave=False)


def _lightcurves(paths: List[str], fmt: str) -> Iterator:
    """Read inputs; ATLAS objects are replayed visit by visit so the policies see history."""
    from .readers import read
    from .readers.atlas import replay
    for item in read(paths, fmt):
        if getattr(item, "survey", None) == "atlas":
            yield from replay(item)
        else:
            yield item


DEFAULT_STATE = "vra_state.sqlite"
#: ``--oracle-model auto``: the ORACLE model for each survey's alerts (ATLAS has none: its
#: c and o bands are not among the bands ORACLE was trained on).
ORACLE_AUTO = {"lsst": "elasticc", "ztf": "bts"}


def _make_pipeline(args, default_state: str = DEFAULT_STATE) -> object:
    from .pipeline import Pipeline
    from .policies import load_policy
    from .state import MemoryStore, StateStore
    oracle = None
    choice = getattr(args, "oracle_model", "none")
    if choice != "none":
        from .oracle import Oracle

        def load(model: str):
            return Oracle.load(model=model, variant=args.oracle_variant,
                               convention=args.oracle_convention, threads=args.oracle_threads)

        oracle = ({survey: load(model) for survey, model in ORACLE_AUTO.items()}
                  if choice == "auto" else load(choice))
    path = args.state or default_state
    state = MemoryStore() if path == ":memory:" else StateStore(path)
    return Pipeline(policy=load_policy(args.policy), state=state,
                    ebv=args.ebv, with_features=getattr(args, "with_features", False),
                    oracle=oracle)


def cmd_score(args) -> int:
    from .annotations import write_jsonl
    from .readers import Skip
    pipeline = _make_pipeline(args)
    out = open(args.out, "w") if args.out else sys.stdout
    tiers: Counter = Counter()
    n_skip = 0

    def records():
        nonlocal n_skip
        for result in pipeline.run(_progress(_lightcurves(args.inputs, args.format), "scoring",
                                             quiet=args.quiet)):
            if isinstance(result, Skip):
                n_skip += 1
                print(f"skip {result.source}: {result.reason}", file=sys.stderr)
                continue
            tiers[result["tier"]] += 1
            yield result

    try:
        n = write_jsonl(records(), out)
    finally:
        if out is not sys.stdout:
            out.close()
    summary = ", ".join(f"{t} {tiers[t]}" for t in sorted(tiers)) or "none"
    print(f"scored {n} alerts ({summary}); skipped {n_skip}", file=sys.stderr)
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


def cmd_model_import(args) -> int:
    from .trees import import_sklearn
    model = import_sklearn(args.model, args.outdir, name=args.name, version=args.version)
    print(f"wrote {args.outdir}: {model.name} {model.version} sha256 {model.sha256} "
          f"({len(model.feature_names)} features)")
    return 0


def cmd_model_predict(args) -> int:
    from .trees import predict_csv
    out = args.out or "-"
    predict_csv(args.model_dir, args.features, out)
    return 0


def _add_scoring_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ebv", type=float, default=None,
                   help="E(B-V) for alerts that carry none (default: look it up in the SFD "
                        "dust map shipped with the package, or $VRA_EBV_MAP)")
    p.add_argument("--policy", default=None,
                   help="policy TOML file or preset name (default, galactic); see "
                        "vra_filters/data/policy/default.toml")
    p.add_argument("--state", default=None,
                   help="SQLite file keeping each object's visit history across runs, so a "
                        "re-delivered alert is not a new visit (default for score: "
                        f"./{DEFAULT_STATE}; for demo: in memory); ':memory:' forgets at exit")
    p.add_argument("--oracle-model", default="auto",
                   choices=["auto", "none", "elasticc", "elasticc-lite", "bts"],
                   help="ORACLE class probabilities in the annotations (default auto: "
                        "elasticc for LSST alerts, bts for ZTF, none for ATLAS)")
    p.add_argument("--oracle-variant", default=None,
                   choices=["float32", "dynamic-int8", "int8", "numpy-float32", "numpy-int8"],
                   help="ORACLE runtime and weights (default: dynamic-int8 on LiteRT, or "
                        "numpy-int8 where LiteRT is not installed; int8 = full-integer, "
                        "exported for study but not accurate enough to deploy)")
    p.add_argument("--oracle-convention", default="inference",
                   choices=["inference", "training"],
                   help="ORACLE preprocessing: upstream inference path (time from the first "
                        "detection, sentinels -> -9) or the training path")
    p.add_argument("--oracle-threads", type=int, default=1, help="LiteRT threads")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vra", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="Virtual Research Assistant scores and ORACLE classes for transient "
                    "alerts (ATLAS, Rubin/LSST, ZTF; Lasair, Fink, ANTARES).")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("score", help="score alert files, one JSON line per alert",
                       description="Score alerts and write one annotation (JSON line) per "
                                   "alert. Alerts that cannot be scored are reported on "
                                   "stderr with the reason; the rest go on.")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="alert files")
    p.add_argument("--format", default="auto",
                   choices=["auto", "atlas", "lasair", "rubin", "ztf"],
                   help="input format (default: guess from each file)")
    p.add_argument("--with-features", action="store_true",
                   help="include the feature values in each annotation")
    p.add_argument("--out", default=None, help="output file (default: stdout)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_scoring_options(p)
    p.set_defaults(func=cmd_score)

    p = sub.add_parser("demo", help="score the embedded sample of real LSST alerts",
                       description="Score the real LSST alerts shipped with the package, "
                                   "print the ranked eyeball list and the counts per tier, and "
                                   "write the annotations and a score-space plot.")
    p.add_argument("--out-dir", default="vra-demo",
                   help="where to write annotations.jsonl and score_space.png "
                        "(default: ./vra-demo)")
    _add_scoring_options(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("bench", help="alerts/s per stage on one core",
                       description="Throughput of readers, features, scorers, policies and "
                                   "the whole pipeline on the embedded sample replicated to "
                                   "--alerts alerts.")
    p.add_argument("--alerts", type=int, default=10000, help="alerts to time (default 10000)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--no-oracle", action="store_true", help="skip the ORACLE rows")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("model", help="bring your own scorer (sklearn -> portable format)")
    msub = p.add_subparsers(dest="model_command", metavar="ACTION")
    q = msub.add_parser("import-sklearn",
                        help="convert a fitted HistGradientBoostingClassifier (joblib)",
                        description="Convert a fitted scikit-learn "
                                    "HistGradientBoostingClassifier saved with joblib into "
                                    "the portable, pickle-free format. This opens a pickle: "
                                    "only use it on a file you trust.")
    q.add_argument("model", help="the .joblib file")
    q.add_argument("outdir", help="output directory (trees.npz + model.json)")
    q.add_argument("--name", default=None)
    q.add_argument("--version", default=None)
    q.set_defaults(func=cmd_model_import)
    q = msub.add_parser("predict", help="class probabilities for a features CSV",
                        description="Class probabilities (CSV) for the rows of a CSV whose "
                                    "header names the model's features.")
    q.add_argument("model_dir")
    q.add_argument("features", help="CSV with a header row")
    q.add_argument("--out", default=None, help="output CSV (default: stdout)")
    q.set_defaults(func=cmd_model_predict)
    _add_adapter_commands(sub)
    return parser


def _add_adapter_commands(sub) -> None:
    """Broker adapters' subcommands (``vra antares ...``). The adapters live in the
    repository's ``adapters/`` folder, next to ``src/``; an installed wheel has none."""
    root = Path(__file__).resolve().parents[2]
    if not (root / "adapters" / "antares" / "cli.py").is_file():
        return
    if str(root) not in sys.path:
        sys.path.append(str(root))
    from adapters.antares.cli import add_subparser
    add_subparser(sub)


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
