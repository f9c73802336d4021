"""The PNGs the notifier uploads: a fast-track light curve and the weekly outcomes chart.

matplotlib with the Agg backend (no display), drawn into memory; the bytes are what Slack
gets, and what ``--dry-run`` writes to disk.
"""

from __future__ import annotations

import io
from typing import Any, Dict, List, Mapping, Optional, Sequence

#: Band colours (ATLAS c/o, LSST ugrizy, ZTF g/r/i share the letters).
BAND_COLOURS = {"u": "#6a3d9a", "g": "#1b9e4b", "r": "#e41a1c", "i": "#ff7f00",
                "z": "#8c2d04", "y": "#5a5a5a", "c": "#1f9bd6", "o": "#f28e2b",
                "t": "#17becf", "h": "#9467bd"}
BAND_ORDER = "ugcroizyth"
TIER_COLOURS = {"fast_track": "#d62728", "extragalactic": "#1f77b4", "galactic": "#9467bd",
                "purgatory": "#b8a400", "garbage": "#7f7f7f"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    _pyplot().close(fig)
    return buf.getvalue()


def lightcurve_png(points: Mapping[str, Any], title: str, subtitle: str = "") -> bytes:
    """Light curve in AB mag against days from the alert: detections with 1-sigma errors per
    band, non-detections (limiting mag) as open down-triangles, the alert as a dashed line, the
    latest detection as a star. Detections without a positive magnitude (negative difference
    flux) cannot be drawn on a magnitude axis and are counted in the legend instead."""
    plt = _pyplot()
    alert = float(points["alert_mjd"])
    mjd, mag, err = points["mjd"], points["mag"], points["magerr"]
    band, det = points["band"], points["is_det"]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    order = sorted(set(band), key=lambda b: (BAND_ORDER.find(b) % 100, b))
    mags: List[float] = []
    negative = 0
    latest = None  # (x, mag, colour) of the last detection up to the alert
    for b in order:
        colour = BAND_COLOURS.get(b, "#333333")
        dx, dy, de, ux, uy = [], [], [], [], []
        for t, m, e, bb, d in zip(mjd, mag, err, band, det):
            if bb != b or t is None:
                continue
            if d and (m is None or m <= 0):
                negative += 1
            elif d:
                dx.append(t - alert)
                dy.append(m)
                de.append(e if e is not None else 0.0)
            elif m is not None and m > 0:
                ux.append(t - alert)
                uy.append(m)
        if dx:
            ax.errorbar(dx, dy, yerr=de, fmt="o", ms=4, color=colour, ecolor=colour,
                        elinewidth=1, capsize=0, label=f"{b} ({len(dx)})")
            mags += dy
        if ux:
            ax.scatter(ux, uy, marker="v", s=22, facecolors="none", edgecolors=colour,
                       alpha=0.6, label=f"{b} limit ({len(ux)})")
        if dx and (latest is None or max(dx) > latest[0]):
            i = dx.index(max(dx))
            latest = (dx[i], dy[i], colour)
    if latest is not None:
        ax.scatter([latest[0]], [latest[1]], marker="*", s=240, color=latest[2],
                   edgecolors="black", zorder=5, label="latest detection")
    ax.axvline(0.0, color="black", ls="--", lw=1, label=f"alert (MJD {alert:.3f})")
    if mags:  # the limits can be much fainter than the object: keep the detections in view
        lo, hi = min(mags), max(mags)
        ax.set_ylim(max(hi + 1.5, lo + 2.0), lo - 0.8)
    else:
        ax.invert_yaxis()
    if negative:
        ax.plot([], [], " ", label=f"{negative} det. with negative flux not shown")
    ax.set_xlabel("days from the alert")
    ax.set_ylabel("AB magnitude")
    ax.set_title(title + (f"\n{subtitle}" if subtitle else ""), fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best", framealpha=0.8)
    fig.tight_layout()
    return _png(fig)


def outcomes_png(objects: Mapping[str, int], alerts: Mapping[str, int], title: str,
                 tiers: Optional[Sequence[str]] = None) -> bytes:
    """Horizontal bars: objects per outcome (their last tier of the week), alerts alongside."""
    plt = _pyplot()
    tiers = list(tiers or objects.keys())
    fig, ax = plt.subplots(figsize=(7, 3.6))
    y = list(range(len(tiers)))[::-1]
    values = [objects.get(t, 0) for t in tiers]
    ax.barh(y, values, color=[TIER_COLOURS.get(t, "#333333") for t in tiers])
    top = max(values + [1])
    for yy, t, v in zip(y, tiers, values):
        ax.text(v + top * 0.01, yy, f"{v} objects, {alerts.get(t, 0)} alerts", va="center",
                fontsize=9)
    ax.set_yticks(y)
    ax.set_yticklabels([t.replace("_", " ") for t in tiers])
    ax.set_xlim(0, top * 1.45)
    ax.set_xlabel("objects (by their last tier in the period)")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return _png(fig)


def describe_png(data: bytes) -> Dict[str, int]:
    """Width and height from a PNG header (for logs and tests)."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    return {"width": int.from_bytes(data[16:20], "big"),
            "height": int.from_bytes(data[20:24], "big"), "bytes": len(data)}
