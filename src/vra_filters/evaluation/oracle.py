"""``vra evaluate oracle``: how well ORACLE classifies labelled light curves, phase by phase.

For each labelled set (alert packets any reader of the package takes, or SNANA FITS HEAD/PHOT
pairs, plus a labels file: object id -> label, mapped to taxonomy nodes by the one table
:data:`vra_filters.oracle.taxonomy.LABEL_TABLE`), each model, convention and variant (the
float reference ``numpy-float32`` and the deployed one), it reports macro recall, precision
and F1 per taxonomy level at +1, +2, 4, ..., +1024 days after the first detection and on the
whole curve, the confusion matrices, the domain-flag counts, and how often the deployed
variant's top class agrees with float. Writes ``oracle_evaluation.json`` and
``oracle_phases.png`` (metric against days since first detection) to ``--out``.

Without INPUT it runs on the labelled sets shipped in a source checkout
(tests/data/oracle_labelled: ELAsTiCC SN Ia, ALeRCE ZTF supernovae, SDSS Stripe 82 RR Lyrae).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

SHIPPED_DIR = Path(__file__).resolve().parents[3] / "tests" / "data" / "oracle_labelled"
#: (packets, labels) of the shipped labelled sets (PROVENANCE.md in that folder).
SHIPPED = (("elasticc_earlysnia.parquet", "elasticc_earlysnia_labels.csv"),
           ("alerce_sne.jsonl.gz", "alerce_sne_labels.csv"),
           ("s82_rrlyrae.jsonl.gz", "s82_rrlyrae_labels.csv"))
FLOAT = "numpy-float32"


def add_arguments(p) -> None:
    p.add_argument("inputs", nargs="*", metavar="INPUT",
                   help="alert files (JSON, JSON lines, Avro, Parquet; gzipped or not) or SNANA "
                        "*_HEAD.FITS[.gz] files; default: the shipped labelled sets")
    p.add_argument("--labels", action="append", default=[], metavar="FILE",
                   help="CSV or Parquet: object id -> label (ELAsTiCC GENTYPE or model name, "
                        "TNS/ZTF type, ALeRCE class); one for all inputs or one per input")
    p.add_argument("--id-column", default=None,
                   help="id column of the labels (default: object_id, objectId, diaObjectId, "
                        "SNID, ...)")
    p.add_argument("--label-column", default=None,
                   help="label column (default: label, class, classALeRCE, GENTYPE, ...)")
    p.add_argument("--format", default="auto",
                   help="input format for the readers (auto, rubin, ztf, lasair, atlas)")
    p.add_argument("--model", default="auto",
                   help="comma list of ORACLE models, or auto (what vra score runs: the "
                        "registry's routing per survey, LSST packets without host galaxy "
                        "magnitudes to elasticc-lite) or all (every model that reads the "
                        "survey)")
    p.add_argument("--convention", default=None,
                   help="comma list of ORACLE conventions, or all (default: the package "
                        "default)")
    p.add_argument("--variant", default=None,
                   help="the deployed variant compared with float (default: dynamic-int8 "
                        "with LiteRT, else numpy-int8)")
    p.add_argument("--days", default=None,
                   help="comma list of phases in days since first detection (default "
                        "1,2,4,...,1024)")
    p.add_argument("--ebv", type=float, default=None,
                   help="E(B-V) for alerts that carry none (default: the shipped dust map; "
                        "only the 'derived' static source reads it)")
    p.add_argument("--out", default="oracle_evaluation", help="output folder")
    p.add_argument("--quiet", action="store_true", help="no progress bar, no table")


def _sets(args) -> list:
    if args.inputs:
        if len(args.labels) not in (1, len(args.inputs)):
            raise ValueError("give one --labels for all inputs, or one per input")
        if len(args.labels) == 1:
            return [(Path(args.labels[0]).stem, list(args.inputs), args.labels[0])]
        return [(Path(i).name.split(".")[0], [i], lab) for i, lab in zip(args.inputs,
                                                                         args.labels)]
    if args.labels:
        raise ValueError("--labels without INPUT: name the light-curve files too")
    if not SHIPPED_DIR.is_dir():
        raise ValueError(f"no INPUT given and no shipped labelled sets at {SHIPPED_DIR} (they "
                         "live in a source checkout); pass INPUT and --labels")
    return [(packets.split(".")[0], [str(SHIPPED_DIR / packets)], str(SHIPPED_DIR / labels))
            for packets, labels in SHIPPED]


def _read(paths, fmt: str) -> tuple:
    from ..readers import Skip, iter_read
    from .oracle_snana import is_snana, read_snana

    items, skips = [], []
    for path in paths:
        stream = read_snana(path) if is_snana(path) else iter_read([path], fmt)
        for x in stream:
            (skips if isinstance(x, Skip) else items).append(x)
    return items, skips


def _models(spec: str, survey: str) -> list:
    from ..oracle.inputs import MODEL_SURVEYS
    from ..registry import oracle_model_for

    readers = [m for m, s in MODEL_SURVEYS.items() if survey in s]
    if spec == "auto":
        m = oracle_model_for(survey)
        return [m] if m else []
    if spec == "all":
        return readers
    wanted = [m.strip() for m in spec.split(",") if m.strip()]
    return [m for m in wanted if m in readers]


def _fallback(spec: str, survey: str):
    """The model ``--model auto`` runs instead on packets without the host description (the
    registry's ``oracle_without_metadata``), or None."""
    from ..registry import oracle_without_metadata

    return oracle_without_metadata().get(survey) if spec == "auto" else None


def _conventions(spec) -> list:
    from ..oracle.inputs import CONVENTIONS, convention

    if spec is None:
        return [convention().name]
    if spec == "all":
        return list(CONVENTIONS)
    return [convention(c.strip()).name for c in spec.split(",") if c.strip()]


def run(args) -> int:
    from ..oracle import Oracle, default_variant
    from ..readers import clean_text
    from . import oracle_run as R
    from .oracle_labels import LabelError, read_labels
    from .oracle_plot import plot_phases

    try:
        sets = _sets(args)
        conventions = _conventions(args.convention)
        days = (R.DAYS if args.days is None else
                tuple(float(x) for x in args.days.split(",") if x.strip()))
        if not days or min(days) <= 0:
            raise ValueError("--days: give positive numbers of days")
    except ValueError as exc:
        print(f"vra evaluate oracle: {exc}", file=sys.stderr)
        return 2
    variants = list(dict.fromkeys([FLOAT, args.variant or default_variant()]))
    report: dict = {"sets": [], "runs": [], "agreement": [], "days": list(days)}
    work = []
    for name, paths, labels_path in sets:
        try:
            labels = read_labels(labels_path, args.id_column, args.label_column)
        except LabelError as exc:
            print(f"vra evaluate oracle: {exc}", file=sys.stderr)
            return 2
        items, skips = _read(paths, args.format)
        targets, counts = R.collect(items, labels)
        R.fill_ebv(targets, args.ebv)
        surveys = sorted({t.survey for t in targets})
        report["sets"].append({"name": name, "inputs": [str(p) for p in paths],
                               "labels": str(labels_path), "n_labels": len(labels),
                               "n_objects": len(targets), "surveys": surveys, **counts,
                               "read_skips": [{"source": s.source, "reason": s.reason}
                                              for s in skips[:50]],
                               "n_read_skips": len(skips)})
        for survey in surveys:
            group = [t for t in targets if t.survey == survey]
            fallback = _fallback(args.model, survey)
            for model in _models(args.model, survey):
                for conv in conventions:
                    # as Scorer.load(oracle="auto") routes; never under upstream* conventions
                    fb = None if conv.startswith("upstream") else fallback
                    work += [(name, model, conv, v, group, fb) for v in variants]
        if not targets:
            print(f"vra evaluate oracle: {name}: no labelled light curve (ids in "
                  f"{Path(labels_path).name} match none of the inputs)", file=sys.stderr)
    if not work:
        print("vra evaluate oracle: nothing to evaluate (no labelled light curve an ORACLE "
              "model reads)", file=sys.stderr)
        return 1
    bar = _bar(len(work) * (len(days) + 1), args.quiet)
    preds: dict = {}
    for name, model, conv, variant, group, fb in work:
        try:
            oracle = Oracle.load(model, variant, conv)
            fb_oracle = None if fb is None else Oracle.load(fb, variant, conv)
        except (ImportError, RuntimeError, ValueError) as exc:
            print(f"vra evaluate oracle: {model} {variant}: {clean_text(str(exc))}",
                  file=sys.stderr)
            bar.update(len(days) + 1)
            continue
        pred = R.predict(oracle, group, days, progress=bar, fallback=fb_oracle)
        preds[(name, model, conv, variant)] = pred
        run = {"set": name, "model": model, "convention": conv, "variant": variant,
               "oracle": oracle.info(), "scores": R.score_run(oracle.taxonomy, pred)}
        if fb_oracle is not None:
            run.update(fallback=fb_oracle.info(), routed=pred["routed"])
        report["runs"].append(run)
    bar.close()
    for (name, model, conv, variant), pred in preds.items():
        if variant != FLOAT and (name, model, conv, FLOAT) in preds:
            from ..oracle.taxonomy import for_model
            report["agreement"].append({
                "set": name, "model": model, "convention": conv, "float": FLOAT,
                "deployed": variant, "same_top_class": R.agreement(
                    preds[(name, model, conv, FLOAT)], pred, for_model(model).levels)})
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "oracle_evaluation.json", "w") as fh:
        json.dump(report, fh, indent=1)
    plot_phases(report, out / "oracle_phases.png")
    if not args.quiet:
        print(summary(report))
    print(f"wrote {out / 'oracle_evaluation.json'} and {out / 'oracle_phases.png'}")
    return 0 if report["runs"] else 1


def _bar(total: int, quiet: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc="ORACLE phases", unit=" phase", file=sys.stderr,
                disable=True if quiet else None, leave=False)


def _fmt(x) -> str:
    return " -  " if x is None else f"{x:.3f}"


def summary(report: dict) -> str:
    """The report as text: macro recall / precision / F1 per level and phase, per run; the
    domain warnings; the deployed-vs-float agreement."""
    lines = []
    for run in report["runs"]:
        sc = run["scores"]
        lines.append(f"\n{run['set']} | {run['model']} | {run['convention']} | "
                     f"{run['variant']} ({sc['n_objects']} objects, "
                     f"{len(sc['skipped'])} left out)")
        if run.get("fallback"):
            lines.append(f"routed to {run['fallback']['model']} where the packet lacks the "
                         f"host galaxy's magnitudes: {run['routed'].get('all', 0)} objects "
                         "(whole curve)")
        lines.append(f"{'phase':<9}{'level 1 R/P/F1':<20}{'level 2 R/P/F1':<20}"
                     f"{'leaf R/P/F1':<20}warnings")
        for ph in sc["phases"]:
            cells = ["/".join(_fmt(ph["levels"][lvl][k]) for k in
                              ("recall_macro", "precision_macro", "f1_macro"))
                     for lvl in ("level1", "level2", "leaf")]
            warn = ", ".join(f"{k} {v}" for k, v in ph["warnings"].items() if v)
            lines.append(f"{ph['phase']:<9}" + "".join(f"{c:<20}" for c in cells) + warn)
    for ag in report["agreement"]:
        a = ag["same_top_class"]["all_phases"]
        lines.append(f"\n{ag['set']} | {ag['model']} | {ag['convention']}: {ag['deployed']} "
                     f"vs {ag['float']}, same top class (all phases): "
                     + " / ".join(f"{lvl} {_fmt(v)}" for lvl, v in a.items()))
    return "\n".join(lines)
