"""``vra train`` (scorers from eyeballed labels) and ``vra suggest`` (what to eyeball next).

Imported by ``vra --help`` for the argument definitions only; scikit-learn is imported when a
model is trained.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

TRAIN_HELP = """examples:
  vra train X_day1.csv y_day1.csv mymodels/day1 --stage day1     feature-table form
  vra train X_dayN.csv y_dayN.csv mymodels/dayN --stage dayN
  vra train mymodels --alerts night1.avro night2.avro --labels eyeballed.csv
  vra train mymodels --alerts lsst.avro --labels l.csv --day1 X1.csv y1.csv --dayN XN.csv yN.csv
  vra score alerts.avro --models mymodels                         use them
  vra evaluate vra --day1 X_day1.csv y_day1.csv --models duck --models mymodels --held-out
"""


def cmd_train(args: argparse.Namespace) -> int:
    from .train import register, train_family, train_stage
    from .train_data import concat, from_alerts, read_feature_table

    ignore = [f.strip() for f in (args.ignore_features or "").split(",") if f.strip()]
    opts = dict(name=args.name, version=args.version, validation=args.validation,
                seed=args.seed, balanced=not args.no_balance, licence=args.licence,
                notes=args.note, ignore=ignore, quiet=args.quiet)
    if args.alerts or args.day1 or args.dayN:
        if len(args.paths) != 1 or (args.alerts and not args.labels):
            raise ValueError("with --alerts / --day1 / --dayN give one OUTDIR (and --labels "
                             "for --alerts)")
        outdir = args.paths[0]
        parts = {"day1": [], "dayN": []}
        if args.alerts:
            for stage, data in from_alerts(args.alerts, args.labels, args.format, args.ebv,
                                           quiet=args.quiet).items():
                parts[stage].append(data)
        for stage in ("day1", "dayN"):
            table = getattr(args, stage)
            if table:
                parts[stage].append(read_feature_table(table[0], table[1], stage))
        sets = {st: concat(p) for st, p in parts.items() if p}
        records = train_family(sets, outdir, **opts)
    else:
        if len(args.paths) != 3 or not args.stage:
            raise ValueError("give FEATURES.csv LABELS.csv OUTDIR --stage {day1,dayN} (or "
                             "OUTDIR with --alerts FILE... --labels LABELS.csv)")
        features, labels, outdir = args.paths
        records = [train_stage(read_feature_table(features, labels, args.stage), outdir,
                               **opts)]
    for r in records:
        m = (r["metrics"] or {}).get("held_out") or {}
        score = (f"held-out AuRaK {m['aurak']:.3f} (real/bogus only {m['aurak_rb_baseline']:.3f},"
                 f" ideal {m['aurak_ideal']:.3f}; {m['rows']} rows)" if "aurak" in m
                 else m.get("note", "no held-out rows"))
        print(f"{r['stage']}: {sum(r['rows']['training'].values())} training rows -> "
              f"{outdir}; {score}", file=sys.stderr)
    if args.register:
        names = register(outdir, args.register, args.version, licence=args.licence or
                         "unspecified")
        print(f"registered {', '.join(names)}", file=sys.stderr)
    return 0


def cmd_suggest(args: argparse.Namespace) -> int:
    from .train_data import read_labels
    from .train_suggest import from_alerts, from_features, rank_suggestions, write

    if args.features:
        if not args.stage:
            raise ValueError("--features needs --stage {day1,dayN}")
        rows = from_features(args.features, args.stage, args.models)
    elif args.inputs:
        rows = from_alerts(args.inputs, args.format, args.models, args.ebv, quiet=args.quiet)
    else:
        raise ValueError("give alert files, or --features CSV --stage S")
    labelled = read_labels(args.labels)[0] if args.labels else []
    picked = rank_suggestions(rows, args.n, labelled)
    if args.out:
        with open(args.out, "w", newline="", encoding="utf-8") as fh:
            write(picked, fh)
    else:
        write(picked)
    print(f"{len(picked)} suggestions from {len(rows)} scored alerts "
          f"({len(set(labelled))} objects already labelled)", file=sys.stderr)
    return 0


def add_subparser(sub: Any) -> None:
    """Register ``vra train`` and ``vra suggest``."""
    p = sub.add_parser("train", help="train VRA scorers on eyeballed labels",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=TRAIN_HELP,
                       description="Train the real and galactic VRA scorers (HistGradient"
                                   "BoostingClassifier with the ATLAS VRA paper's settings) on "
                                   "labels good / galactic / pm / garbage / auto-garbage (AGN "
                                   "rows are not used), split by object, balanced by "
                                   "subsampling; export them to the portable format with a "
                                   "model card. Needs scikit-learn (pip install "
                                   "'vra-filters[sklearn]').")
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="FEATURES.csv LABELS.csv OUTDIR (with --stage), or OUTDIR (with "
                        "--alerts)")
    p.add_argument("--stage", choices=["day1", "dayN"],
                   help="which stage the feature table holds (writes OUTDIR/real, OUTDIR/gal)")
    p.add_argument("--alerts", nargs="+", metavar="FILE",
                   help="labelled alerts in any reader format (writes OUTDIR/day1, "
                        "OUTDIR/dayN)")
    p.add_argument("--labels", help="labels CSV for --alerts: an id column and `type`")
    p.add_argument("--day1", nargs=2, metavar=("FEATURES", "LABELS"),
                   help="a day-1 feature table to train on too (with OUTDIR alone)")
    p.add_argument("--dayN", nargs=2, metavar=("FEATURES", "LABELS"),
                   help="a day-N feature table to train on too (with OUTDIR alone)")
    p.add_argument("--ignore-features", metavar="A,B", default="",
                   help="features withheld from training (e.g. ra,dec where the labelled "
                        "sources differ in them but the classes do not)")
    p.add_argument("--format", default="auto", help="input format of --alerts")
    p.add_argument("--ebv", type=float, default=None,
                   help="E(B-V) for alerts that carry none (default: the dust map)")
    p.add_argument("--validation", type=float, default=0.2,
                   help="fraction of each label's objects held out (default 0.2)")
    p.add_argument("--seed", type=int, default=42, help="split, subsampling and trees (42)")
    p.add_argument("--no-balance", action="store_true",
                   help="keep every training row (no subsampling to the rarest label)")
    p.add_argument("--name", default="vra/custom", help="model name prefix (vra/custom)")
    p.add_argument("--version", default="0", help="model version written to model.json")
    p.add_argument("--licence", default=None, help="licence of the trained models")
    p.add_argument("--note", action="append", default=[],
                   help="a line for the model card's notes (repeatable)")
    p.add_argument("--register", metavar="FAMILY", default=None,
                   help="add the models to the registry of the models folder (OUTDIR must "
                        "be <models>/vra/FAMILY[/stage]); then `vra score --models FAMILY`")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_train)

    q = sub.add_parser("suggest", help="which unlabelled alerts to eyeball next",
                       description="Active learning: score alerts and list, one per object, "
                                   "those the scorers are least sure of (p_real near 0.5, or "
                                   "p_gal near 0.5 for likely-real ones), most uncertain "
                                   "first, as CSV.")
    q.add_argument("inputs", nargs="*", metavar="INPUT", help="alert files")
    q.add_argument("--format", default="auto", help="input format")
    q.add_argument("--features", help="a feature table instead of alerts")
    q.add_argument("--stage", choices=["day1", "dayN"], help="stage of --features")
    q.add_argument("--models", default="auto",
                   help="scorers: auto (by survey), a family or a `vra train` directory")
    q.add_argument("--labels", help="labels CSV: objects already labelled are left out")
    q.add_argument("-n", type=int, default=20, help="how many to suggest (20)")
    q.add_argument("--ebv", type=float, default=None)
    q.add_argument("--out", default=None, help="output CSV (default: stdout)")
    q.add_argument("--quiet", action="store_true", help="no progress bars")
    q.set_defaults(func=cmd_suggest)
