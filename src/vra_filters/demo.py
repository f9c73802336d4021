"""``vra demo``: the whole job on real LSST alerts shipped with the package.

Scores the embedded Lasair sample, prints the ranked eyeball list and the counts per tier,
and writes ``annotations.jsonl`` and ``score_space.png`` to the output folder.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np

from .policies import TIERS, Policy

SAMPLE = Path(__file__).resolve().parent / "data" / "demo" / "lasair_lsst_sample.jsonl.gz"
EYEBALL_TIERS = ("fast_track", "extragalactic", "galactic")
#: ORACLE domain warnings as the eyeball list shows them next to the class.
CAVEATS = {"too_few_points": "few points", "missing_metadata": "no context",
           "bands_outside_training": "odd bands", "length_outside_training": "too long",
           "noise_outside_training": "odd noise"}
TIER_COLOURS = {"fast_track": "tab:red", "extragalactic": "tab:blue", "galactic": "tab:green",
                "purgatory": "tab:orange", "garbage": "0.6"}


def eyeball_table(records: Sequence[Dict]) -> str:
    """The ranked eyeball list as aligned text: fast track, then extragalactic, then galactic,
    each by rank (highest first)."""
    rows = [r for r in records if r["tier"] in EYEBALL_TIERS]
    rows.sort(key=lambda r: (EYEBALL_TIERS.index(r["tier"]), -r["rank"]))
    has_oracle = any("oracle" in r for r in rows)
    head = f"{'tier':<14}{'rank':>6}  {'object':<20}{'p_real':>7}{'p_gal':>7}  "
    head += f"{'ORACLE':<30}" if has_oracle else ""
    head += "why"
    lines = [head, "-" * len(head)]
    for r in rows:
        line = (f"{r['tier']:<14}{r['rank']:>6.2f}  {r['object_id']:<20}{r['p_real']:>7.3f}"
                f"{r['p_gal']:>7.3f}  ")
        if has_oracle:
            top = (r.get("oracle") or {}).get("most_specific") or {}
            label = f"{top.get('class', '-')} {top.get('p', 0):.2f}" if top else "-"
            caveat = [CAVEATS.get(w, w) for w in (r.get("oracle") or {}).get("warnings") or []]
            label += f" ({', '.join(caveat)})" if top and caveat else ""
            line += f"{label:<30}"
        lines.append(line + r["explanation"].replace("score pushed by ", ""))
    if not rows:
        lines.append("(nothing to eyeball)")
    return "\n".join(lines)


def plot_score_space(records: Sequence[Dict], path: Path, policy: Policy) -> None:
    """p_real vs p_gal, one dot per alert coloured by tier, over the VRA score contours, the
    eyeball threshold and the galactic-candidate region."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .score import vra_score

    grid = np.linspace(0, 1, 201)
    pr, pg = np.meshgrid(grid, grid)
    fig, ax = plt.subplots(figsize=(8.0, 5.6), dpi=120)
    levels = np.arange(0, 10.5, 1.0)
    cs = ax.contour(pr, pg, vra_score(pr, pg, policy.vra_f), levels=levels, colors="0.85",
                    linewidths=0.8)
    ax.clabel(cs, fmt="%d", fontsize=7)
    ax.contour(pr, pg, vra_score(pr, pg, policy.vra_f), levels=[policy.eyeball_threshold],
               colors="tab:blue", linewidths=1.5, linestyles="--")
    gal_distance = np.sqrt((1 - pr) ** 2 + (policy.gal_f * (1 - pg)) ** 2)
    ax.contourf(pr, pg, gal_distance, levels=[0, policy.gal_radius], colors=["tab:green"],
                alpha=0.12)
    counts = Counter(r["tier"] for r in records)
    for t in TIERS:
        sel = [r for r in records if r["tier"] == t]
        if sel:
            ax.scatter([r["p_real"] for r in sel], [r["p_gal"] for r in sel], s=22,
                       color=TIER_COLOURS[t], label=f"{t} ({counts[t]})", edgecolor="k",
                       linewidth=0.3, zorder=3)
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("p_real (real scorer)")
    ax.set_ylabel("p_gal (galactic scorer)")
    ax.set_title(f"VRA score space: {len(records)} alerts\n"
                 f"dashed: eyeball threshold {policy.eyeball_threshold:g}; "
                 f"shaded: galactic candidates", fontsize=9)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, title="tier",
              title_fontsize=8)
    ax.set_aspect("equal")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def run_demo(args) -> int:
    from .annotations import Annotation, JsonLinesSink
    from .options import progress, scorer_from_args
    from .readers import Duplicate, Skip, iter_read
    from .stream import Stream

    scorer = scorer_from_args(args)
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    records: List[Dict] = []
    skips: List[Skip] = []
    # The sample is a night of Lasair messages: the objects' past is in memory, as a stream's.
    from .state import MemoryStore
    with open(out_dir / "annotations.jsonl", "w") as fh:
        stream = Stream(scorer, MemoryStore(), JsonLinesSink(fh, owned=False))
        for result in stream.run(progress(iter_read([str(SAMPLE)], "lasair"), "demo")):
            if isinstance(result, Annotation):
                records.append(result.to_dict())
            else:
                skips.append(result)
    plot_score_space(records, out_dir / "score_space.png", scorer.policy)

    print(f"vra demo: {len(records)} real LSST alerts from Lasair "
          f"({SAMPLE.name}), policy {scorer.policy.name}\n")
    print(eyeball_table(records))
    counts = Counter(r["tier"] for r in records)
    print("\nalerts per tier: " + ", ".join(f"{t} {counts.get(t, 0)}" for t in TIERS))
    for s in skips:
        if not isinstance(s, Duplicate):
            print(f"skipped {s.source}: {s.reason}", file=sys.stderr)
    dups = sum(isinstance(s, Duplicate) for s in skips)
    if dups:
        print(f"{dups} records of the sample left out as duplicates (Lasair delivers each "
              "object twice, with and without its alert)", file=sys.stderr)
    print(f"\nwrote {out_dir / 'annotations.jsonl'} and {out_dir / 'score_space.png'}")
    return 0 if records else 1
