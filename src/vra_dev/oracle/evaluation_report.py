"""ORACLE accuracy on the labelled sets: the figures behind the default convention (maintainers).

    python -m vra_dev.oracle.evaluation_report [--shared /path/to/shared/data]

Runs ``vra evaluate oracle``'s engine on the shipped labelled sets (tests/data/oracle_labelled)
for every model that reads them, every convention, float and the deployed variant, then writes

* ``docs/oracle_evaluation.json``: macro recall / precision / F1 and accuracy per set, model,
  convention, variant, phase and level; domain-flag counts; deployed-vs-float agreement; the
  convention ranking; with ``--shared``, the extra checks below;
* ``docs/oracle_phases.png``: metric against days since first detection, the default
  convention and ``upstream``, deployed variant;
* the tables between ``<!-- oracle-evaluation:* -->`` markers in models/oracle/README.md,
  README.md (section ORACLE) and the three model cards.

Default convention rule: the highest mean macro recall over the LSST labelled sets, the two
ELAsTiCC models, every phase and the three levels (float variant); the ZTF set does not vote
(the BTS model's rows are detections only, so the time origins coincide, and every static
choice but ``none`` gives it the same input).

``--shared`` adds: PLAsTiCC SNANA SNe Ia (out-of-domain check), BTS negative-difference
detections fed as -magpsf (before) vs magpsf (after) on ZTF alerts, the ALeRCE SNe without
their candidate fields, and the dust-map E(B-V) the package used to feed Fink/Rubin packets vs
upstream's -9 on the shipped LSST alerts.
"""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]
MODELS_DIR = ROOT / "models" / "oracle"
SHOWN_PHASES = ("+1 d", "+2 d", "+8 d", "+64 d", "+1024 d", "all")
LEVELS = ("level1", "level2", "leaf")
#: What each level's list holds in docs/oracle_evaluation.json.
METRICS = ("recall_macro", "precision_macro", "f1_macro", "accuracy")


def run_sets(conventions, variants, days=None) -> dict:
    """The evaluation report (as ``vra evaluate oracle`` writes it) plus per-run predictions."""
    from vra_filters.evaluation import oracle as EV
    from vra_filters.evaluation import oracle_run as R
    from vra_filters.evaluation.oracle_labels import read_labels
    from vra_filters.oracle import Oracle
    from vra_filters.oracle.taxonomy import for_model

    days = days or R.DAYS
    report = {"runs": [], "agreement": [], "sets": []}
    for packets, labels in EV.SHIPPED:
        name = packets.split(".")[0]
        items, _ = EV._read([str(EV.SHIPPED_DIR / packets)], "auto")
        targets, counts = R.collect(items, read_labels(EV.SHIPPED_DIR / labels))
        R.fill_ebv(targets)
        survey = targets[0].survey
        report["sets"].append({"name": name, "n_objects": len(targets), "survey": survey,
                               **counts})
        for model in EV._models("all", survey):
            for conv in conventions:
                preds = {}
                for variant in variants:
                    o = Oracle.load(model, variant, conv)
                    preds[variant] = R.predict(o, targets, days)
                    report["runs"].append({"set": name, "model": model, "convention": conv,
                                           "variant": variant, "oracle": o.info(),
                                           "scores": R.score_run(o.taxonomy, preds[variant])})
                if len(variants) > 1:
                    report["agreement"].append({
                        "set": name, "model": model, "convention": conv,
                        "float": variants[0], "deployed": variants[1],
                        "same_top_class": R.agreement(preds[variants[0]], preds[variants[1]],
                                                      for_model(model).levels)})
                print(f"  {name} {model} {conv}", flush=True)
    return report


def compact(report: dict) -> dict:
    """The report without confusion matrices and per-class detail; each level's figures as
    a list in :data:`METRICS` order, only the warnings that occurred."""
    out = {k: v for k, v in report.items() if k != "runs"}
    out["level_values"] = list(METRICS)
    out["runs"] = []
    for run in report["runs"]:
        phases = [{"phase": p["phase"], "n": p["n"],
                   "warnings": {k: v for k, v in p["warnings"].items() if v},
                   "median_n_detections": p["median_n_detections"],
                   "levels": {lvl: [p["levels"][lvl][k] for k in METRICS] for lvl in LEVELS}}
                  for p in run["scores"]["phases"]]
        out["runs"].append({k: run[k] for k in ("set", "model", "convention", "variant")}
                           | {"n_objects": run["scores"]["n_objects"], "phases": phases})
    return out


def ranking(report: dict, float_variant: str) -> list:
    """(convention, overall mean macro recall, {set/model: mean}) best first (module doc)."""
    per: dict = {}
    for run in report["runs"]:
        if run["variant"] != float_variant:
            continue
        vals = [ph["levels"][lvl]["recall_macro"] for ph in run["scores"]["phases"]
                for lvl in LEVELS if ph["levels"][lvl]["recall_macro"] is not None]
        per.setdefault(run["convention"], {})[f"{run['set']}/{run['model']}"] = \
            float(np.mean(vals))
    rows = []
    for conv, d in per.items():
        voters = [v for k, v in d.items() if not k.startswith("alerce_sne/")]
        rows.append((conv, float(np.mean(voters)), d))
    return sorted(rows, key=lambda r: -r[1])


def _find(report, **key):
    for run in report["runs"]:
        if all(run[k] == v for k, v in key.items()):
            return run
    raise KeyError(key)


def _r(run, phase, lvl, metric="recall_macro"):
    ph = next(p for p in run["scores"]["phases"] if p["phase"] == phase)
    v = ph["levels"][lvl][metric]
    return "–" if v is None else f"{v:.3f}"


def table_conventions(report: dict, rank: list, float_variant: str) -> str:
    keys = list(rank[0][2])
    head = "| convention | " + " | ".join(f"`{k}`" for k in keys) + " | LSST mean |"
    lines = [head, "|" + "---|" * (len(keys) + 2)]
    for conv, mean, d in rank:
        cells = " | ".join(f"{d[k]:.3f}" for k in keys)
        lines.append(f"| `{conv}` | {cells} | **{mean:.3f}** |")
    lines.append("")
    lines.append("Recall per level (level 1 / level 2 / leaf) on the 318 ELAsTiCC SNe Ia, float:")
    lines.append("")
    lines.append("| convention | full +2 d | full whole curve | lite +2 d | lite whole curve |")
    lines.append("|---|---|---|---|---|")
    for conv, _, _ in rank:
        cells = []
        for model in ("elasticc", "elasticc-lite"):
            run = _find(report, set="elasticc_earlysnia", model=model, convention=conv,
                        variant=float_variant)
            for phase in ("+2 d", "all"):
                cells.append(" / ".join(_r(run, phase, lvl) for lvl in LEVELS))
        lines.append(f"| `{conv}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def table_default(report: dict, conv: str, variants) -> str:
    """Per set and model: macro recall per level at each shown phase, float | deployed."""
    lines = []
    for s in report["sets"]:
        for run in [r for r in report["runs"] if r["set"] == s["name"]
                    and r["convention"] == conv and r["variant"] == variants[0]]:
            dep = _find(report, set=s["name"], model=run["model"], convention=conv,
                        variant=variants[-1])
            routed = ""
            if run.get("fallback") and run["routed"].get("all"):
                routed = (f" (`{run['fallback']['model']}` for the {run['routed']['all']} "
                          "without host galaxy magnitudes)")
            lines.append(f"**{s['name']}** ({s['n_objects']} objects), `{run['model']}`"
                         f"{routed}: macro recall, {variants[0]} | {variants[-1]}")
            lines.append("")
            lines.append("| phase | level 1 | level 2 | leaf | leaf F1 | warnings |")
            lines.append("|---|---|---|---|---|---|")
            for phase in SHOWN_PHASES:
                ph = next(p for p in run["scores"]["phases"] if p["phase"] == phase)
                warn = ", ".join(f"{k} {v}" for k, v in ph["warnings"].items() if v) or "–"
                cells = [f"{_r(run, phase, lvl)} \\| {_r(dep, phase, lvl)}" for lvl in LEVELS]
                lines.append(f"| {phase} | " + " | ".join(cells)
                             + f" | {_r(run, phase, 'leaf', 'f1_macro')} | {warn} |")
            lines.append("")
    agree = [a for a in report["agreement"] if a["convention"] == conv]
    if agree:
        lines.append(f"{variants[-1]} vs {variants[0]}, same top class over all phases "
                     "(level 1 / level 2 / leaf): " + "; ".join(
                         f"{a['set']}/{a['model']} " + " / ".join(
                             f"{100 * a['same_top_class']['all_phases'][lvl]:.1f} %"
                             for lvl in LEVELS) for a in agree) + ".")
    return "\n".join(lines)


def _rounded(x):
    if isinstance(x, float):
        return round(x, 4)
    if isinstance(x, dict):
        return {k: _rounded(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_rounded(v) for v in x]
    return x


def write_json(path: Path, summary: dict) -> None:
    """Figures to 4 decimals, one run per line (small, and diffs show what changed)."""
    data = _rounded(summary)
    runs = data.pop("runs")
    with open(path, "w") as fh:
        fh.write(json.dumps(data, sort_keys=True)[:-1] + ', "runs": [\n')
        fh.write(",\n".join(json.dumps(r, sort_keys=True) for r in runs))
        fh.write("\n]}\n")


def replace_marked(path: Path, name: str, text: str) -> None:
    """Put ``text`` between ``<!-- oracle-evaluation:NAME start/end -->`` in ``path`` (the
    markers must already be there)."""
    body = path.read_text()
    start, end = f"<!-- oracle-evaluation:{name} start -->", f"<!-- oracle-evaluation:{name} end -->"
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    if not pattern.search(body):
        print(f"  (no {name} markers in {path.relative_to(ROOT)}; left alone)")
        return
    path.write_text(pattern.sub(lambda _: f"{start}\n{text}\n{end}", body))


def main(argv=None) -> int:
    from vra_filters.evaluation.oracle_plot import plot_phases
    from vra_filters.oracle import default_variant
    from vra_filters.oracle.inputs import CONVENTIONS, DEFAULT_CONVENTION

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shared", type=Path, default=None, help="shared data folder (extras)")
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args(argv)
    variants = ["numpy-float32", default_variant()]
    report = run_sets(list(CONVENTIONS), variants)
    rank = ranking(report, variants[0])
    summary = compact(report)
    summary["ranking"] = [{"convention": c, "lsst_mean_recall": m, "per_set_model": d}
                          for c, m, d in rank]
    summary["default_convention"] = DEFAULT_CONVENTION
    if rank[0][0] != DEFAULT_CONVENTION:
        print(f"NOTE: the best convention is {rank[0][0]}, not DEFAULT_CONVENTION")
    if args.shared:
        from .evaluation_extras import extras
        summary["extras"] = extras(args.shared)
    conv_table = table_conventions(report, rank, variants[0])
    default_table = table_default(report, DEFAULT_CONVENTION, variants)
    print(conv_table, "\n\n", default_table)
    if args.no_write:
        return 0
    write_json(ROOT / "docs" / "oracle_evaluation.json", summary)
    shown = {"runs": [r for r in report["runs"] if r["convention"] in
                      (DEFAULT_CONVENTION, "upstream")], "agreement": []}
    plot_phases(shown, ROOT / "docs" / "oracle_phases.png",
                title=f"ORACLE on the shipped labelled sets ({variants[-1]}; solid: "
                      f"{DEFAULT_CONVENTION}, dashed: upstream)")
    replace_marked(MODELS_DIR / "README.md", "conventions", conv_table)
    replace_marked(MODELS_DIR / "README.md", "default", default_table)
    replace_marked(ROOT / "README.md", "default", readme_table(variants))
    for model in ("elasticc", "elasticc-lite", "bts"):
        rows = [r for r in report["runs"] if r["model"] == model]
        if rows:
            one = {"runs": rows, "sets": [s for s in report["sets"] if s["name"] in
                                          {r["set"] for r in rows}],
                   "agreement": [a for a in report["agreement"] if a["model"] == model]}
            replace_marked(MODELS_DIR / model / "MODEL_CARD.md", "default",
                           table_default(one, DEFAULT_CONVENTION, variants))
    return 0


def readme_table(variants) -> str:
    """The README's table: what ``vra evaluate oracle`` (``--model auto``, the routing
    ``vra score`` applies) measures on the shipped sets with the default convention."""
    import tempfile

    from vra_filters.evaluation import oracle as EV
    from vra_filters.oracle.inputs import DEFAULT_CONVENTION

    with tempfile.TemporaryDirectory() as tmp:
        p = argparse.ArgumentParser()
        EV.add_arguments(p)
        EV.run(p.parse_args(["--out", tmp, "--quiet", "--variant", variants[-1]]))
        auto = json.loads((Path(tmp) / "oracle_evaluation.json").read_text())
    return table_default(auto, DEFAULT_CONVENTION, variants)


def strip_metadata(targets) -> list:
    """Copies of ZTF targets whose alerts carry no candidate fields (position kept)."""
    out = []
    for t in targets:
        alerts = [replace(lc, context=replace(lc.context, extra={})) for lc in t.alerts]
        out.append(replace(t, alerts=alerts))
    return out


if __name__ == "__main__":
    raise SystemExit(main())
