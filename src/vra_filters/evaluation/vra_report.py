"""Figures and the HTML page of ``vra evaluate vra`` (matplotlib, Agg backend, no display)."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any, Dict, List

import numpy as np

from ..train_data import LabelledSet

LABEL_COLOURS = {"good": "#1b9e77", "galactic": "#7570b3", "pm": "#e7298a",
                 "garbage": "#666666", "auto-garbage": "#a6761d", "agn": "#e6ab02"}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _rak_figure(report: Dict[str, Any], stage: str, path: Path) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4.2))
    curves = report["curves"][stage]
    rank = report["ranking"][stage]
    for name, curve in curves.items():
        c = np.asarray(curve)
        x = np.arange(1, len(c) + 1) / len(c)
        style = "--" if name.startswith("real/bogus") else "-"
        ax.plot(x, c, style, label=f"{name}: AuRaK {rank['models'][name]['aurak']:.3f}")
    n, m = rank["rows"], rank["good"]
    k = np.arange(1, n + 1)
    ax.plot(k / n, np.minimum(k / m, 1.0), ":", color="k",
            label=f"ideal: {rank['ideal']:.3f}")
    ax.set_xlabel("K / N (fraction of the ranked list eyeballed)")
    ax.set_ylabel("R@K (fraction of good alerts found)")
    ax.set_title(f"Recall at rank K, {stage} ({n} rows, {m} good)")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _score_space_figure(data: LabelledSet, scored: Any, path: Path) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    g = np.linspace(0, 1, 101)
    pr, pg = np.meshgrid(g, g)
    from ..score import vra_score

    cs = ax.contour(pr, pg, vra_score(pr, pg), levels=[1, 3, 5, 7, 9], colors="#bbbbbb",
                    linewidths=0.8)
    ax.clabel(cs, fontsize=7, fmt="%g")
    markers = "osD^vx"
    for k, lab in enumerate(sorted(set(data.labels.tolist()))):
        sel = data.labels == lab  # shrinking markers: a label under another still shows
        ax.scatter(scored.p_real[sel], scored.p_gal[sel], s=40 / (k + 1), alpha=0.6,
                   marker=markers[k % len(markers)], color=LABEL_COLOURS.get(lab, "#000000"),
                   label=f"{lab} ({sel.sum()})")
    ax.set_xlabel("p_real")
    ax.set_ylabel("p_gal")
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"score space, {scored.label} {data.stage} (contours: VRA score)", fontsize=9)
    ax.legend(fontsize=7, loc="center left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _importance_figure(imp: Dict[str, Any], stage: str, path: Path) -> None:
    plt = _plt()
    feats = imp["features"]
    names = sorted(feats, key=lambda k: feats[k]["mean"])
    fig, ax = plt.subplots(figsize=(5.5, 0.22 * len(names) + 1.2))
    ax.barh(names, [feats[k]["mean"] for k in names], xerr=[feats[k]["std"] for k in names],
            color="#4c72b0")
    ax.set_xlabel("drop of AuRaK when the feature is shuffled")
    ax.set_title(f"permutation importance, {imp['model']} {stage}", fontsize=9)
    ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _policy_figure(outcomes: Dict[str, Any], path: Path) -> None:
    plt = _plt()
    rows = [(model, lab, v) for model, per in outcomes.items() for lab, v in sorted(per.items())]
    rows = rows[::-1]  # barh draws bottom up: keep the table's order top down
    fig, ax = plt.subplots(figsize=(6.5, 0.3 * len(rows) + 1.2))
    left = np.zeros(len(rows))
    names = [f"{m}: {lab} ({v['objects']})" for m, lab, v in rows]
    for outcome, colour in (("eyeballed", "#1b9e77"), ("purgatory", "#e6ab02"),
                            ("garbage", "#666666")):
        width = np.array([v[outcome] for _, _, v in rows])
        ax.barh(names, width, left=left, color=colour, label=outcome)
        left += width
    ax.set_xlim(0, 1)
    ax.set_xlabel("fraction of objects")
    ax.tick_params(axis="y", labelsize=7)
    ax.legend(fontsize=7, ncol=3, loc="lower center", bbox_to_anchor=(0.5, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _table(header: List[str], rows: List[List[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>"
                   for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _f(x: Any) -> str:
    return "–" if x is None or (isinstance(x, float) and not np.isfinite(x)) else f"{x:.3f}"


def write_report(report: Dict[str, Any], sets: Dict[str, LabelledSet], out: Path) -> List[str]:
    """Write the PNGs and ``report.html`` into ``out``; returns the figure file names."""
    figures: List[str] = []
    parts = ["<h1>VRA scorers: ranking and policies</h1>",
             f"<p>Policy: {html.escape(report['policy'])}. Target of R@K: alerts labelled "
             "<i>good</i>. AuRaK = mean of R@K over K = 1..N (ideal value given: it depends "
             "on the label mix). Models rank by the VRA score after the context rules (a "
             "known solar-system object gets the policy's solar_system.rank, a TNS match "
             "score.tns_rank) where the alerts carry that context. Intervals: 95 % "
             "bootstrap over objects.</p>"]
    for stage, data in sets.items():
        d = report["data"][stage]
        parts.append(f"<h2>{stage}</h2><p>{d['rows']} rows, {d['objects']} objects; labels "
                     + html.escape(", ".join(f"{k} {v}" for k, v in d["labels"].items()))
                     + "</p>")
        for note in d["notes"]:
            parts.append(f"<p><i>{html.escape(note)}</i></p>")
        rank = report["ranking"][stage]
        rows = [[name, _f(m["aurak"]), f"{_f(m['interval']['low'])} – "
                 f"{_f(m['interval']['high'])}", _f(m["recall_top15"]), _f(m["recall_top25"])]
                for name, m in rank["models"].items()]
        rows.append(["ideal ranking", _f(rank["ideal"]), "", "", ""])
        parts.append(_table(["ranking", "AuRaK", "95 % interval", "R@15 %", "R@25 %"], rows))
        name = f"rak_{stage}.png"
        _rak_figure(report, stage, out / name)
        figures.append(name)
        parts.append(f'<p><img src="{name}" alt="R@K {stage}"></p>')
        for i, per in enumerate(report["scored"].values()):
            if stage in per:
                name = f"score_space_{stage}_{i}.png"
                _score_space_figure(data, per[stage], out / name)
                figures.append(name)
                parts.append(f'<img src="{name}" alt="score space">')
        name = f"importance_{stage}.png"
        _importance_figure(report["importance"][stage], stage, out / name)
        figures.append(name)
        parts.append(f'<p><img src="{name}" alt="importance {stage}"></p>')
    parts.append("<h2>Policies over the first visits</h2><p>Each object's day-1 row, then its "
                 "day-N rows, through the auto-garbage rules and tiers: eyeballed = reached a "
                 "candidate tier (extragalactic, fast track, galactic) before any garbage.</p>")
    rows = [[model, lab, v["objects"], _f(v["eyeballed"]), _f(v["purgatory"]),
             _f(v["garbage"])] for model, per in report["policy_outcomes"].items()
            for lab, v in sorted(per.items())]
    parts.append(_table(["model", "label", "objects", "eyeballed", "purgatory", "garbage"],
                        rows))
    name = "policy.png"
    _policy_figure(report["policy_outcomes"], out / name)
    figures.append(name)
    parts.append(f'<p><img src="{name}" alt="policy outcomes"></p>')
    parts.append("<h2>Key transients</h2>")
    keys = report["key_transients"]
    parts.append(_table(["model", "object", "label", "ranks per visit", "tiers", "outcome",
                         "why listed"],
                        [[k["model"], k["object_id"], k["label"], k["ranks"],
                          " ".join(k["tiers"]), k["outcome"], k["why"]] for k in keys])
                 if keys else "<p>None requested, and no good object was auto-garbaged.</p>")
    style = ("<style>body{font-family:sans-serif;max-width:1000px;margin:auto}"
             "table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;"
             "padding:2px 6px;font-size:13px}</style>")
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>VRA evaluation</title>"
            f"{style}</head><body>{''.join(parts)}</body></html>\n")
    (out / "report.html").write_text(page, encoding="utf-8")
    return figures
