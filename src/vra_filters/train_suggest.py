"""Active learning: which unlabelled alerts to eyeball next (``vra suggest``).

The scorers learn most from the alerts they are least sure of. In the VRA score space an alert
is uncertain on the real axis when p_real is near 0.5, and on the galactic axis when p_gal is
near 0.5 *and* it is probably real (the galactic scorer never saw garbage):

    uncertainty = max(1 - |2 p_real - 1|,  p_real * (1 - |2 p_gal - 1|))

(1 = a coin toss, 0 = certain). One suggestion per object (its most uncertain alert), most
uncertain first; objects already labelled, known solar-system objects and TNS matches (whose
answer is known) are left out.
"""

from __future__ import annotations

import csv
import sys
from typing import Any, Dict, Iterable, List, Optional, Sequence

import numpy as np

COLUMNS = ("object_id", "alert_id", "survey", "p_real", "p_gal", "vra_score", "uncertainty",
           "axis")


def uncertainty(p_real: np.ndarray, p_gal: np.ndarray) -> np.ndarray:
    """Score-space uncertainty of each alert (see the module docstring)."""
    p_real = np.asarray(p_real, dtype=float)
    p_gal = np.asarray(p_gal, dtype=float)
    u_real = 1.0 - np.abs(2.0 * p_real - 1.0)
    u_gal = p_real * (1.0 - np.abs(2.0 * p_gal - 1.0))
    return np.maximum(u_real, u_gal)


def rank_suggestions(rows: Sequence[Dict[str, Any]], n: int,
                     labelled: Iterable[str] = ()) -> List[Dict[str, Any]]:
    """The ``n`` most uncertain objects of ``rows`` (dicts with object_id, p_real, p_gal...),
    one row per object, labelled objects left out."""
    skip = set(labelled)
    rows = [r for r in rows if r["object_id"] not in skip]
    if not rows:
        return []
    u = uncertainty([r["p_real"] for r in rows], [r["p_gal"] for r in rows])
    best: Dict[str, int] = {}
    for i, r in enumerate(rows):
        j = best.get(r["object_id"])
        if j is None or u[i] > u[j]:
            best[r["object_id"]] = i
    picked = sorted(best.values(), key=lambda i: (-u[i], str(rows[i]["object_id"])))[:n]
    out = []
    for i in picked:
        r = dict(rows[i])
        u_real = 1.0 - abs(2.0 * r["p_real"] - 1.0)
        r["uncertainty"] = float(u[i])
        r["axis"] = "real" if u_real >= u[i] else "galactic"
        out.append(r)
    return out


def from_alerts(sources: Sequence[str], fmt: str, models: str,
                ebv: Optional[float] = None, quiet: bool = False) -> List[Dict[str, Any]]:
    """Score alerts (each with its packet history) and return one row per annotation, known
    solar-system objects and TNS matches left out."""
    from .options import progress
    from .readers import iter_read
    from .scorer import Scorer

    scorer = Scorer.load(oracle="none", models=models, ebv=ebv)
    lcs = [lc for lc in progress(iter_read(list(sources), fmt), "reading", quiet=quiet)
           if not hasattr(lc, "reason")]
    lcs = [lc for lc in lcs if not lc.context.solar_system and not lc.context.tns_name]
    out = scorer.score(lcs, history="packet")
    return [{"object_id": a.object_id, "alert_id": a.alert_id, "survey": a.survey,
             "p_real": a.p_real, "p_gal": a.p_gal, "vra_score": a.vra_score}
            for a in out.annotations]


def from_features(features: str, stage: str, models: str) -> List[Dict[str, Any]]:
    """Rows of a feature table (an id column + the stage's features) scored by ``models``."""
    from .evaluation.vra_models import load_pair
    from .score import vra_score
    from .train_data import feature_names, id_column, parse_cell, read_csv

    names = feature_names(stage)
    header, rows = read_csv(features)
    missing = [f for f in names if f not in header]
    if missing:
        raise ValueError(f"{features}: missing {stage} feature column(s): {', '.join(missing)}")
    idc = id_column(header, features, names)
    X = np.array([[parse_cell(r[header.index(f)], f"{features}, line {i}") for f in names]
                  for i, r in enumerate(rows, start=2)], dtype=float).reshape(len(rows),
                                                                              len(names))
    real, gal = load_pair("duck" if models == "auto" else models, stage)
    pr, pg = real.predict_proba(X)[:, 1], gal.predict_proba(X)[:, 1]
    return [{"object_id": r[idc].strip(), "alert_id": "", "survey": "", "p_real": float(a),
             "p_gal": float(b), "vra_score": float(vra_score(a, b))}
            for r, a, b in zip(rows, pr, pg)]


def write(rows: List[Dict[str, Any]], out: Any = None) -> None:
    fh = out or sys.stdout
    w = csv.writer(fh, lineterminator="\n")
    w.writerow(COLUMNS)
    for r in rows:
        w.writerow([r[c] if not isinstance(r[c], float) else f"{r[c]:.6g}" for c in COLUMNS])
