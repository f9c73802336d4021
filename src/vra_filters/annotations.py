"""Annotations: one JSON-able record per scored alert, with the provenance of every number.

Fields: object/alert ids, survey, MJD, visit number, phase, stage (day1/dayN), p_real, p_gal,
``vra_score`` (eq. 2 of the model's probabilities), ``rank`` (after policies, e.g. 10 for a
TNS match), the galactic flag, the tier, the host distance the fast track used (Mpc), the
feature set (values with ``with_features``), a
one-line explanation, the E(B-V) used and where it came from, and name/version/sha256 of each
model, the policy name and ``settings``: the fingerprint of every model file and setting that
made the numbers (:attr:`vra_filters.Scorer.fingerprint`; ``Scorer.settings`` spells it out).
Values are plain Python types; NaN becomes ``null`` and infinities the strings ``"inf"``/``"-inf"``
so every line is valid JSON.

A :class:`Sink` receives annotations (``write``/``flush``/``close``): :class:`JsonLinesSink`
writes JSON lines; the broker adapters implement their own.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields
from typing import IO, Any, Dict, List, Optional, Protocol, Sequence

import numpy as np

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


STATUSES = ("new", "out_of_order", "duplicate", "rescored")


@dataclass
class Annotation:
    """The record of one scored alert (see the module docstring).

    ``status``: ``new`` (a new visit), ``out_of_order`` (not newer than the object's last
    visit: scored, no visit counted), ``duplicate`` (re-delivered: the stored record of the
    same alert, made by the same models and settings) or ``rescored`` (re-delivered, but made
    with other settings before: scored again, no visit counted).
    """

    object_id: str
    alert_id: str
    survey: str
    mjd: Optional[float]
    visit: int
    phase: Optional[float]
    stage: str
    p_real: float
    p_gal: float
    vra_score: float
    rank: float
    galactic: bool
    tier: str
    status: str
    tns_name: Optional[str]
    distance_mpc: Optional[float]
    ebv: Optional[float]
    ebv_source: str
    explanation: str
    models: Dict[str, Dict[str, str]]
    policy: str
    settings: str
    features: Optional[Dict[str, Any]] = None
    oracle: Optional[Dict[str, Any]] = None
    _json: Optional[str] = field(default=None, repr=False, compare=False)

    @property
    def key(self):
        return (self.survey, self.object_id, self.alert_id)

    def to_dict(self) -> Dict[str, Any]:
        """A JSON-safe dict (``feature_set`` repeats ``stage`` for readers of older output)."""
        d = self.__dict__
        out = {name: d[name] for name in _FIELDS}
        for name in ("features", "oracle"):
            if d[name] is not None:
                out[name] = d[name]
        out["feature_set"] = self.stage
        return out

    def to_json(self) -> str:
        """One JSON line (no NaN), computed once per annotation (orjson when installed: it is
        ~8x faster than the standard library, and the output parses the same)."""
        if self._json is None:
            self._json = _dumps(self.to_dict())
        return self._json

    @classmethod
    def from_dict(cls, data: Dict[str, Any], **changes: Any) -> Annotation:
        """An annotation from :meth:`to_dict` output (e.g. a stored record), with changes."""
        names = set(_FIELDS) | {"features", "oracle"}
        values = {k: v for k, v in data.items() if k in names}
        values.update(changes)
        values.setdefault("settings", "")
        values.setdefault("distance_mpc", None)
        return cls(**values)

    def replace(self, **changes: Any) -> Annotation:
        return Annotation.from_dict(self.to_dict(), **changes)


def _dumps(record: Dict[str, Any]) -> str:
    try:
        import orjson
    except ImportError:  # optional: the ANTARES package has numpy and the stdlib only
        return json.dumps(record, allow_nan=False)
    return orjson.dumps(record, option=orjson.OPT_SERIALIZE_NUMPY).decode("utf-8")


#: Fields every annotation dict has, in order (``features``/``oracle`` only when present).
_FIELDS = tuple(f.name for f in fields(Annotation) if f.name not in ("_json", "features",
                                                                       "oracle"))


def make_annotation(*, object_id: str, alert_id: str, survey: str, mjd: float, t0: float,
                    visit: int, stage: str, p_real: float, p_gal: float, vra_score: float,
                    rank: float, galactic: bool, tier: str, status: str, tns_name: str,
                    distance_mpc: float, ebv: float, ebv_source: str, explanation: str,
                    models: Dict[str, Dict[str, str]], policy: str, settings: str,
                    features: Optional[Dict[str, float]] = None,
                    oracle: Optional[dict] = None) -> Annotation:
    """An :class:`Annotation` with every number made JSON-safe."""
    ebv_value = _num(ebv)
    return Annotation(
        object_id=object_id, alert_id=alert_id, survey=survey, mjd=_num(mjd),
        visit=int(visit), phase=_num(mjd - t0), stage=stage, p_real=float(p_real),
        p_gal=float(p_gal), vra_score=float(vra_score), rank=float(rank),
        galactic=bool(galactic), tier=tier, status=status, tns_name=tns_name or None,
        distance_mpc=_num(distance_mpc),
        ebv=ebv_value, ebv_source=ebv_source or ("alert" if ebv_value is not None else "none"),
        explanation=explanation, models=models, policy=policy, settings=settings,
        features=None if features is None else {k: _num(v) for k, v in features.items()},
        oracle=oracle)


class Sink(Protocol):  # pragma: no cover - a protocol
    """Where annotations go: a file, a broker's annotation API, a chat channel."""

    def write(self, annotation: Annotation) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


class JsonLinesSink:
    """Annotations as JSON lines on a text stream (``close`` closes it unless it is
    stdout/stderr or ``owned=False``)."""

    def __init__(self, out: IO[str], owned: bool = True) -> None:
        self.out = out
        self.owned = owned
        self.count = 0

    def write(self, annotation: Annotation) -> None:
        self.out.write(annotation.to_json() + "\n")
        self.count += 1

    def flush(self) -> None:
        self.out.flush()

    def close(self) -> None:
        import sys
        self.flush()
        if self.owned and self.out not in (sys.stdout, sys.stderr):
            self.out.close()
