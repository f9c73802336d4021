"""The model card ``vra train`` writes next to the scorers it trains (Markdown): what data,
which settings, how good on held-out objects, and the sha256 of every file."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional

_LABEL_ORDER = ("good", "galactic", "pm", "garbage", "auto-garbage", "agn")


def _fmt(value: Optional[float], digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _counts(counts: Dict[str, int]) -> str:
    parts = [f"{k} {counts[k]:,}" for k in _LABEL_ORDER if k in counts]
    return ", ".join(parts) or "none"


def card_text(records: List[Dict[str, Any]], title: Optional[str] = None) -> str:
    """The card for one stage's record or a family's (both stages)."""
    first = records[0]
    name = first["name"]
    lines = [f"# Model card — {title or name} (version `{first['version']}`)", ""]
    lines += ["Binary gradient-boosted tree scorers of the VRA (p_real, p_gal), trained with "
              "`vra train` and stored in the pickle-free `vra_filters.trees` format. Score "
              "with `vra score --models DIR` (a folder with day1/ and dayN/) or "
              "`vra model predict DIR/<stage>/<kind> features.csv`.", ""]
    notes = list(dict.fromkeys(n for r in records for n in r.get("notes", [])))
    if notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    lines += ["## Files", "", "| model | trees.npz sha256 | boosting iterations | "
              "training rows |", "|---|---|---|---|"]
    for r in records:
        for kind, m in r["models"].items():
            lines.append(f"| `{r['name']}/{r['stage']}/{kind}` | `{m['sha256']}` | "
                         f"{m['n_iter']} | {m['training_rows']:,} |")
    lines += ["", "Each `model.json` records the same sha256 (checked on load), the "
              "hyper-parameters, the targets and the training data's sha256.", ""]
    lines += ["## Data", ""]
    for r in records:
        lines.append(f"**{r['stage']}** — {r['objects']['all']:,} objects "
                     f"({r['objects']['training']:,} for training, "
                     f"{r['objects']['held_out']:,} held out, split by object with seed "
                     f"{r['seed']}, {r['validation_fraction']:.0%} of each label's objects); "
                     f"rows by label: {_counts(r['rows']['all'])}.")
        balanced = ("balanced by subsampling every label to the smallest"
                    if r["balanced"] else "not balanced")
        lines.append(f"Training rows ({balanced}): {_counts(r['rows']['training'])}. "
                     f"Held-out rows: {_counts(r['rows']['held_out'])}.")
        flat = sorted({f for fs in (r.get("uninformative") or {}).values() for f in fs})
        if flat:
            lines.append(f"Constant or missing in the training rows of a scorer, so not used "
                         f"by it: {', '.join(flat)}.")
        if r.get("ignored"):
            lines.append(f"Withheld from training (the trees never split on them, so an "
                         f"alert's values are ignored): {', '.join(r['ignored'])}.")
        lines.append("")
        for path, sha in sorted(r["sources"].items()):
            lines.append(f"- `{Path(path).name}` sha256 `{sha}`")
        lines.append("")
    lines += ["Targets: **real** 1 = good or galactic, 0 = pm, garbage, auto-garbage; **gal** "
              "1 = galactic or pm, 0 = good (garbage rows not used). AGN rows are not used.", ""]
    s = first["settings"]
    lines += ["## Settings (scikit-learn `HistGradientBoostingClassifier`)", "",
              "ATLAS VRA paper: " + ", ".join(
                  f"{k} {v}" for k, v in sorted(s["real"].items()) if k != "learning_rate")
              + f"; learning rate {s['real']['learning_rate']} (real), "
                f"{s['gal']['learning_rate']} (gal).", ""]
    lines += ["## Metrics on held-out objects", "",
              "AuRaK = area under recall-at-rank-K of *good* alerts ranked by the VRA score "
              "(mean of R@K over K = 1..N; the ideal value depends on the label mix and is "
              "given). Baseline = the same list ranked by the real/bogus score alone "
              "(`rb_pix`).", "",
              "| stage | rows | good | AuRaK | AuRaK real/bogus only | ideal | R@15 % | "
              "R@25 % | ROC AUC real | ROC AUC gal |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in records:
        m = (r.get("metrics") or {}).get("held_out") or {}
        if "aurak" not in m:
            lines.append(f"| {r['stage']} | {m.get('rows', 0)} | {m.get('good', 0)} | "
                         f"{m.get('note', 'no held-out rows')} | | | | | | |")
            continue
        lines.append(f"| {r['stage']} | {m['rows']:,} | {m['good']:,} | {_fmt(m['aurak'])} | "
                     f"{_fmt(m['aurak_rb_baseline'])} | {_fmt(m['aurak_ideal'])} | "
                     f"{_fmt(m['recall_top15'])} | {_fmt(m['recall_top25'])} | "
                     f"{_fmt(m.get('roc_auc_real'))} | {_fmt(m.get('roc_auc_gal'))} |")
    worst = max(m["max_abs_diff_vs_sklearn"] for r in records for m in r["models"].values())
    lines += ["", f"The exported trees reproduce scikit-learn's `predict_proba` on every "
              f"labelled row to {worst:.1e} (checked at training time).", ""]
    lines += ["## Limitations", "",
              "- Only as good as its labels and as close to your stream as its training data; "
              "check `vra evaluate vra` on alerts it has not seen before relying on it.",
              "- The day-N scorers cover visits on days 2–15 after phase zero only.", ""]
    return "\n".join(lines)


def write_card(path: Path, records: List[Dict[str, Any]], title: Optional[str] = None) -> Path:
    path.write_text(card_text(records, title), encoding="utf-8")
    return path
