"""Annotations: one JSON-able record per scored alert, with the provenance of every number.

Fields: object/alert ids, survey, MJD, visit number, phase, stage (day1/dayN), p_real, p_gal,
``vra_score`` (eq. 2 of the model's probabilities), ``rank`` (after policies, e.g. 10 for a
TNS match), the galactic flag, the tier, the feature set (values with ``with_features``), a
one-line explanation, the E(B-V) used and where it came from, and name/version/sha256 of each
model. Values are plain Python types; NaN becomes ``null`` and infinities the strings
``"inf"``/``"-inf"`` so every line is valid JSON.
"""

from __future__ import annotations

import json
import math
from typing import Any, Dict, List, Optional, Sequence, TextIO

import numpy as np

from .lightcurve import LightCurve

#: How many features the explanation names.
EXPLAIN_TOP = 3


def _num(v: float) -> Any:
    """A float field for JSON: NaN -> None, infinities -> "inf"/"-inf"."""
    v = float(v)
    if v != v:
        return None
    if v in (math.inf, -math.inf):
        return "inf" if v > 0 else "-inf"
    return v


def provenance(model: Any) -> Dict[str, str]:
    """Name, version and sha256 of a model, for the annotation."""
    return {"name": model.name, "version": model.version, "sha256": model.sha256}


def explanations(names: Sequence[str], X: np.ndarray, effect: np.ndarray,
                 top: int = EXPLAIN_TOP) -> List[str]:
    """One line per row naming the features that pushed the VRA score most.

    ``effect`` is the real scorer's per-feature contribution to its raw score minus the
    galactic scorer's (:meth:`TreeEnsemble.contributions`, split along the decision paths): a
    push toward "real" raises the VRA score, a push toward "galactic" lowers it. The eq. 2
    weights are left out, so this ranks the features rather than measuring them.
    """
    if len(X) == 0:
        return []
    order = np.argsort(-np.abs(effect), axis=1, kind="stable")[:, :top]
    rows = np.arange(len(X))[:, None]
    values = X[rows, order].tolist()
    pushes = effect[rows, order].tolist()
    lines = []
    for idx, vals, eff in zip(order.tolist(), values, pushes):
        parts = []
        for i, v, e in zip(idx, vals, eff):
            if e == 0:
                break
            shown = "nan" if v != v else f"{v:.4g}"
            parts.append(f"{names[i]}={shown} ({'+' if e > 0 else '-'}{abs(e):.2f})")
        lines.append(("score pushed by " + ", ".join(parts)) if parts
                     else "no feature moved the score")
    return lines


def annotation(lc: LightCurve, *, stage: str, visit: int, p_real: float, p_gal: float,
               vra_score: float, rank: float, galactic: bool, tier: str, status: str,
               models: Dict[str, Dict[str, str]], explanation: str, policy: str,
               features: Optional[Dict[str, float]] = None,
               oracle: Optional[dict] = None) -> Dict[str, Any]:
    """The record of one scored alert (see the module docstring); every value JSON-safe."""
    ctx = lc.context
    ebv = _num(ctx.ebv)
    record: Dict[str, Any] = {
        "object_id": lc.object_id,
        "alert_id": lc.alert_id,
        "survey": lc.survey,
        "mjd": _num(lc.alert_mjd),
        "visit": int(visit),
        "phase": _num(lc.alert_mjd - lc.t0),
        "stage": stage,
        "p_real": float(p_real),
        "p_gal": float(p_gal),
        "vra_score": float(vra_score),
        "rank": float(rank),
        "galactic": bool(galactic),
        "tier": tier,
        "status": status,
        "tns_name": ctx.tns_name or None,
        "ebv": ebv,
        "ebv_source": ctx.ebv_source or ("alert" if ebv is not None else "none"),
        "feature_set": stage,
        "explanation": explanation,
        "models": models,
        "policy": policy,
    }
    if features is not None:
        record["features"] = {k: _num(v) for k, v in features.items()}
    if oracle is not None:
        record["oracle"] = oracle  # already plain JSON (oracle.annotation_fields)
    return record


def write_jsonl(records, out: TextIO) -> int:
    """Write annotation records as JSON lines; returns how many were written."""
    n = 0
    for record in records:
        out.write(json.dumps(record, allow_nan=False) + "\n")
        n += 1
    return n
