"""The metric-vs-phase figure of ``vra evaluate oracle`` (the ORACLE paper's "metric against
days since trigger" plot): one column per taxonomy level, one row per metric (macro recall,
precision, F1), one line per run of the deployed variant (colour: set and model; line style:
convention). Float runs are drawn only when no deployed one was made: the two agree on
>= 98 % of top classes, and the JSON and the text table hold both."""

from __future__ import annotations

from pathlib import Path

METRICS = (("recall_macro", "macro recall"), ("precision_macro", "macro precision"),
           ("f1_macro", "macro F1"))
LEVEL_TITLES = {"level1": "level 1", "level2": "level 2", "leaf": "leaf"}


def plot_phases(report: dict, path: Path, title: str = "") -> None:
    """Write the PNG for ``report`` (the evaluation JSON) to ``path``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = report["runs"]
    deployed = [r for r in runs if r["variant"] != "numpy-float32"]
    runs = deployed or runs  # float lines would hide under the deployed ones (see agreement)
    levels = ("level1", "level2", "leaf")
    fig, axes = plt.subplots(len(METRICS), len(levels), figsize=(12, 8.5), dpi=110,
                             sharex=True, sharey=True, squeeze=False)
    styles = ("-", "--", ":", "-.", (0, (5, 1)), (0, (1, 1)), (0, (3, 1, 1, 1)))
    groups = sorted({(r["set"], r["model"]) for r in runs})
    conventions = list(dict.fromkeys(r["convention"] for r in runs))
    cmap = plt.get_cmap("tab10")
    for run in runs:
        phases = [p for p in run["scores"]["phases"] if p["phase"] != "all"]
        x = [float(p["phase"].strip("+ d")) for p in phases]
        colour = cmap(groups.index((run["set"], run["model"])) % 10)
        style = styles[conventions.index(run["convention"]) % len(styles)]
        label = f"{run['set']} | {run['model']} | {run['convention']} | {run['variant']}"
        for i, (key, _) in enumerate(METRICS):
            for j, lvl in enumerate(levels):
                y = [p["levels"][lvl][key] for p in phases]
                if all(v is None for v in y):
                    continue
                axes[i][j].plot(x, [float("nan") if v is None else v for v in y],
                                linestyle=style, color=colour, marker="o", ms=3, lw=1.3,
                                label=label if (i, j) == (0, 0) else None)
    for i, (_, name) in enumerate(METRICS):
        axes[i][0].set_ylabel(name)
        for j, lvl in enumerate(levels):
            ax = axes[i][j]
            ax.set_xscale("log", base=2)
            ax.set_ylim(-0.02, 1.02)
            ax.grid(alpha=0.3)
            if i == 0:
                ax.set_title(LEVEL_TITLES[lvl])
            if i == len(METRICS) - 1:
                ax.set_xlabel("days since first detection")
    fig.legend(loc="lower center", ncol=2, fontsize=7, frameon=False)
    fig.suptitle(title or "ORACLE on labelled light curves (macro scores over the classes "
                 "present)", fontsize=11)
    n_lines = max(1, (len(runs) + 1) // 2)
    fig.tight_layout(rect=(0, 0.025 * n_lines + 0.02, 1, 0.97))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
