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
from typing import Any, Dict, Optional, Sequence, TextIO

import numpy as np

from .lightcurve import LightCurve

#: How many features the explanation names.
EXPLAIN_TOP = 3


def clean(value: Any) -> Any:
    """A JSON-safe copy: NaN -> None, +-inf -> "inf"/"-inf", numpy scalars -> Python."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if math.isnan(v):
            return None
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return v
    return value


def provenance(model: Any) -> Dict[str, str]:
    """Name, version and sha256 of a model, for the annotation."""
    return {"name": model.name, "version": model.version, "sha256": model.sha256}


def explain(names: Sequence[str], x: np.ndarray, effect: np.ndarray,
            top: int = EXPLAIN_TOP) -> str:
    """One line naming the features that pushed the VRA score most.

    ``effect`` is the real scorer's per-feature contribution to its raw score minus the
    galactic scorer's (:meth:`TreeEnsemble.contributions`, split along the decision paths): a
    push toward "real" raises the VRA score, a push toward "galactic" lowers it. The eq. 2
    weights are left out, so this ranks the features rather than measuring them.
    """
    order = np.argsort(-np.abs(effect), kind="stable")[:top]
    parts = []
    for i in order:
        if effect[i] == 0:
            break
        value = x[i]
        shown = "nan" if math.isnan(value) else f"{value:.4g}"
        parts.append(f"{names[i]}={shown} ({'+' if effect[i] > 0 else '-'}{abs(effect[i]):.2f})")
    return ("score pushed by " + ", ".join(parts)) if parts else "no feature moved the score"


def annotation(lc: LightCurve, *, stage: str, visit: int, p_real: float, p_gal: float,
               vra_score: float, rank: float, galactic: bool, tier: str, status: str,
               models: Sequence[Any], x: np.ndarray, effect: np.ndarray, with_features: bool, policy: Any,
               oracle: Optional[dict] = None) -> Dict[str, Any]:
    real, gal = models
    record: Dict[str, Any] = {
        "object_id": lc.object_id,
        "alert_id": lc.alert_id,
        "survey": lc.survey,
        "mjd": lc.alert_mjd,
        "visit": visit,
        "phase": lc.alert_mjd - lc.t0,
        "stage": stage,
        "p_real": p_real,
        "p_gal": p_gal,
        "vra_score": vra_score,
        "rank": rank,
        "galactic": galactic,
        "tier": tier,
        "status": status,
        "tns_name": lc.context.tns_name or None,
        "ebv": lc.context.ebv,
        "ebv_source": lc.context.ebv_source or ("alert" if math.isfinite(lc.context.ebv)
                                                else "none"),
        "feature_set": f"{stage}:{len(real.feature_names)}",
        "explanation": explain(real.feature_names, x, effect),
        "models": {"real": provenance(real), "gal": provenance(gal)},
        "policy": policy.name,
    }
    if with_features:
        record["features"] = dict(zip(real.feature_names, x.tolist()))
    if oracle is not None:
        record["oracle"] = oracle
    return clean(record)


def write_jsonl(records, out: TextIO) -> int:
    """Write annotation records as JSON lines; returns how many were written."""
    n = 0
    for record in records:
        out.write(json.dumps(record, allow_nan=False) + "\n")
        n += 1
    return n
