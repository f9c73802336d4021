"""``vra evaluate vra``: how well VRA scorers rank eyeballed alerts (ATLAS VRA paper, section 4).

Labelled rows come from feature tables (``--day1 FEATURES LABELS``, ``--dayN FEATURES
LABELS``) or from alerts in any format the readers take (``--alerts FILE... --labels CSV``,
replayed visit by visit). For every model compared (``--models``, repeatable) the report gives:

* the R@K curves of *good* alerts and the AuRaK, against the real/bogus-only ranking
  (``rb_pix`` alone) and the ideal ranking, with bootstrap intervals that resample objects;
* the score space (p_real, p_gal) coloured by label;
* the permutation importance of each feature (drop of AuRaK when it is shuffled);
* the policies replayed over each object's first 4 visits: the fraction of each label
  auto-garbaged, eyeballed or left in purgatory;
* a table of key transients (``--key ID``, and every *good* object the policies garbaged).

Writes ``OUT/report.html`` (with PNGs) and ``OUT/report.json``. Exit code 0, or 2 with a
plain-words error when the inputs cannot be evaluated.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Dict, List

import numpy as np

from ..train_data import STAGES, LabelledSet, from_alerts, read_feature_table
from .vra_metrics import (
    aurak,
    aurak_ideal,
    bootstrap,
    permutation_importance,
    policy_table,
    recall_at_fraction,
    recall_at_k,
    replay_policy,
    safe,
)
from .vra_models import held_out_ids, predictor, score_set, visit_sequences


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--day1", nargs=2, metavar=("FEATURES", "LABELS"),
                   help="day-1 feature table and its labels (CSV)")
    p.add_argument("--dayN", nargs=2, metavar=("FEATURES", "LABELS"),
                   help="day-N feature table and its labels (CSV)")
    p.add_argument("--alerts", nargs="+", metavar="FILE",
                   help="labelled alerts (any reader format); needs --labels")
    p.add_argument("--labels", help="labels CSV for --alerts (id column + type)")
    p.add_argument("--format", default="auto", help="input format of --alerts")
    p.add_argument("--models", action="append", metavar="SPEC",
                   help="models to compare (repeatable): a registry family (duck), a "
                        "`vra train` directory, or a stage directory with real/ and gal/ "
                        "(default: duck)")
    p.add_argument("--held-out", action="store_true",
                   help="keep only the objects the first --models directory made by `vra "
                        "train` held out from its training (its training.json)")
    p.add_argument("--policy", default=None, help="policy preset or TOML file")
    p.add_argument("--ebv", type=float, default=None,
                   help="E(B-V) for alerts that carry none (default: the dust map)")
    p.add_argument("--bootstrap", type=int, default=200, help="bootstrap resamples (200)")
    p.add_argument("--repeats", type=int, default=5,
                   help="shuffles per feature for the permutation importance (5)")
    p.add_argument("--visits", type=int, default=4, help="visits the policies replay (4)")
    p.add_argument("--key", action="append", default=[], metavar="ID",
                   help="an object to list among the key transients (repeatable)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--out-dir", default="vra-evaluation",
                   help="where report.html, report.json and the PNGs go")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def load_sets(args: argparse.Namespace) -> Dict[str, LabelledSet]:
    sets: Dict[str, LabelledSet] = {}
    for stage in STAGES:
        pair = getattr(args, stage)
        if pair:
            sets[stage] = read_feature_table(pair[0], pair[1], stage)
    if args.alerts:
        if not args.labels:
            raise ValueError("--alerts needs --labels (an id column and a type column)")
        for stage, data in from_alerts(args.alerts, args.labels, args.format, args.ebv,
                                       quiet=args.quiet).items():
            if len(data) and stage not in sets:
                sets[stage] = data
    if not sets:
        raise ValueError("nothing to evaluate: give --day1 / --dayN feature tables or "
                         "--alerts with --labels")
    return sets


def _ranking(data: LabelledSet, scores: Dict[str, np.ndarray], args) -> Dict[str, Any]:
    good = data.labels == "good"
    out: Dict[str, Any] = {"rows": len(data), "good": int(good.sum()),
                           "ideal": aurak_ideal(good), "models": {}}
    for name, score in scores.items():
        def stat(rows, score=score):
            return aurak(score[rows], good[rows])

        out["models"][name] = {
            "aurak": aurak(score, good),
            "interval": bootstrap(stat, data.ids, args.bootstrap, args.seed),
            "recall_top15": recall_at_fraction(score, good, 0.15),
            "recall_top25": recall_at_fraction(score, good, 0.25),
        }
    return out


def evaluate(sets: Dict[str, LabelledSet], specs: List[str], args) -> Dict[str, Any]:
    """Every number of the report (also what ``report.json`` holds)."""
    from ..options import progress
    from ..policies import load_policy

    policy = load_policy(args.policy)
    report: Dict[str, Any] = {"policy": policy.name, "data": {}, "ranking": {},
                              "importance": {}, "policy_outcomes": {}, "models": {},
                              "curves": {}}
    scored: Dict[str, Dict[str, Any]] = {spec: {} for spec in specs}
    for stage, data in sets.items():
        if not (data.labels == "good").any():
            raise ValueError(f"{stage}: no row is labelled good, so R@K is undefined")
        report["data"][stage] = {"rows": len(data), "objects": len(set(data.ids.tolist())),
                                 "labels": data.counts(), "sources": data.sources,
                                 "notes": data.notes}
        scores = {"real/bogus only (rb_pix)": data.column("rb_pix")}
        for spec in specs:
            s = score_set(spec, data, policy)
            if any(o.label == s.label for o in (scored[x].get(stage) for x in specs)
                   if o is not None):
                s.label = f"{s.label} ({spec})"  # two specs with one short name
            scored[spec][stage] = s
            scores[s.label] = s.rank
            report["models"].setdefault(s.label, {})[stage] = s.models
        report["ranking"][stage] = _ranking(data, scores, args)
        good = data.labels == "good"
        report["curves"][stage] = {name: recall_at_k(sc, good).tolist()
                                   for name, sc in scores.items()}
        first = scored[specs[0]][stage]
        metric_of = predictor(specs[0], stage, policy.vra_f)

        def metric(X, f=metric_of, good=good):
            return aurak(f(X), good)

        names = list(data.names)
        imp = {}
        for j in progress(range(len(names)), f"importance {stage}", total=len(names),
                          quiet=args.quiet):
            one = permutation_importance(metric, data.X, [names[j]], data.ids, args.repeats,
                                         args.seed + j, columns=[j])
            imp.update(one)
        report["importance"][stage] = {"model": first.label, "features": imp}
    key_rows = []
    for spec in specs:
        seqs, labels = visit_sequences(sets, scored[spec])
        label = scored[spec][next(iter(sets))].label
        report["policy_outcomes"][label] = policy_table(seqs, labels, policy, args.visits)
        for oid, seq in seqs.items():
            outcome, tiers = replay_policy(seq[: args.visits], policy)
            missed = labels[oid] == "good" and outcome == "garbage"
            if oid in set(args.key) or missed:
                key_rows.append({"model": label, "object_id": oid, "label": labels[oid],
                                 "ranks": [round(v[0], 3) for v in seq[: args.visits]],
                                 "tiers": tiers, "outcome": outcome,
                                 "why": "requested" if oid in set(args.key) else
                                 "good, but auto-garbaged"})
    report["key_transients"] = key_rows
    report["scored"] = scored  # for the figures; dropped before JSON
    return report


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items() if k != "scored"}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return safe(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def run(args: argparse.Namespace) -> int:
    from .vra_report import write_report

    try:
        sets = load_sets(args)
        specs = args.models or ["duck"]
        if args.held_out:
            for stage in list(sets):
                found = [(s, held_out_ids(s, stage)) for s in specs]
                found = [(s, ids) for s, ids in found if ids is not None]
                if not found:
                    raise ValueError(f"--held-out: no --models directory has a "
                                     f"training.json for {stage} (made by `vra train`)")
                spec, ids = found[0]
                rows = np.array([str(i) in ids for i in sets[stage].ids], dtype=bool)
                if not rows.any():
                    raise ValueError(f"--held-out: none of the {stage} rows is among the "
                                     f"objects {spec} held out")
                sets[stage] = sets[stage].subset(np.flatnonzero(rows))
                sets[stage].notes.append(f"only objects {spec} held out from training "
                                         f"({len(set(sets[stage].ids.tolist()))} here)")
        report = evaluate(sets, specs, args)
    except (ValueError, FileNotFoundError, KeyError) as exc:
        print(f"vra evaluate vra: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report["figures"] = write_report(report, sets, out)
    (out / "report.json").write_text(json.dumps(_clean(report), indent=1) + "\n",
                                     encoding="utf-8")
    for stage, r in report["ranking"].items():
        line = ", ".join(f"{k} {v['aurak']:.3f}" for k, v in r["models"].items())
        print(f"{stage}: AuRaK {line} (ideal {r['ideal']:.3f}; {r['rows']} rows, "
              f"{r['good']} good)", file=sys.stderr)
    print(f"wrote {out / 'report.html'} and {out / 'report.json'}", file=sys.stderr)
    return 0
