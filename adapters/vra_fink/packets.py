"""Spark's pandas-UDF inputs (one Arrow batch) as the alert packets the core readers take.

In a scalar pandas UDF a struct column arrives as a ``pd.DataFrame`` (one column per field), an
array-of-struct column as a ``pd.Series`` of numpy arrays of dicts, a scalar as a ``pd.Series``.
This module turns row ``i`` of those back into the dict a Rubin / ZTF packet is
(``vra_filters.readers.rubin.from_record`` / ``...ztf.from_record``), and nothing more.

One trap of the conversion: a 64-bit integer field of a struct with a null anywhere in the
batch arrives as float64, which cannot hold a 19-digit Rubin id exactly. Such ids (above 2**53)
are never used: the row gets a reason instead (:func:`inexact_ids`). The job's column selection
(:mod:`vra_fink.columns`) replaces null ids by 0 (the readers' "no id") so it never happens.
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

#: Largest integer a float64 holds exactly.
EXACT_FLOAT_INT = 2 ** 53
#: Integer id fields of the Rubin and ZTF records the readers use.
ID_FIELDS = ("diaSourceId", "diaObjectId", "ssObjectId", "visit", "candid")


def records(frame: Any, n: int) -> List[Optional[Dict[str, Any]]]:
    """Row dicts of a struct column (``pd.DataFrame``); None for a null struct: every field
    null, an id of 0 counting as null (the column selection writes 0 for a null id, and a null
    struct arrives as a row of nulls). ``frame`` None (the column was not passed) gives ``n``
    Nones."""
    if frame is None:
        return [None] * n
    if len(frame.columns) == 0:
        return [None] * len(frame)
    missing = frame.isna().to_numpy()
    for j, name in enumerate(frame.columns):
        if name in ID_FIELDS and frame[name].dtype.kind in "iuf":
            missing[:, j] |= frame[name].to_numpy() == 0
    empty = missing.all(axis=1)
    rows = frame.to_dict("records")
    return [None if e else r for r, e in zip(rows, empty)]


def lists(series: Any, n: int) -> List[Optional[list]]:
    """Python lists of dicts from an array-of-struct column (None stays None)."""
    if series is None:
        return [None] * n
    out: List[Optional[list]] = []
    for value in series:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            out.append(None)
        elif isinstance(value, (list, tuple, np.ndarray)):
            out.append(list(value))
        else:
            out.append(value)  # the reader says what is wrong with it
    return out


def scalars(series: Any, n: int) -> List[Any]:
    """Plain Python values of a scalar column (None for nulls); ``series`` None gives Nones."""
    if series is None:
        return [None] * n
    values = series.tolist()
    return [None if isinstance(v, float) and math.isnan(v) else v for v in values]


def inexact_ids(frame: Any, where: str) -> List[Optional[str]]:
    """Per row, why an integer id field of ``frame`` cannot be trusted (None where it can)."""
    n = 0 if frame is None else len(frame)
    reasons: List[Optional[str]] = [None] * n
    if frame is None:
        return reasons
    for name in ID_FIELDS:
        if name not in frame.columns or frame[name].dtype.kind != "f":
            continue
        values = frame[name].to_numpy()
        with np.errstate(invalid="ignore"):
            bad = np.isfinite(values) & (np.abs(values) > EXACT_FLOAT_INT)
        field = f"{where}.{name}" if where else name
        for i in np.flatnonzero(bad):
            reasons[i] = reasons[i] or (
                f"{field} arrived as a float (a null {name} elsewhere in the batch), "
                "so the id is not exact; select the inputs with vra_fink.columns")
    return reasons


def rubin_packets(diaSource: Any, prvDiaSources: Any, prvDiaForcedSources: Any,
                  diaObject: Any, xm: Any = None, pred: Any = None) -> List[Dict[str, Any]]:
    """The Rubin packet of every row of a batch; Fink's ``xm`` / ``pred`` structs go where
    the reader (and Fink's own files) have them."""
    n = len(diaSource)
    rows = zip(records(diaSource, n), lists(prvDiaSources, n), lists(prvDiaForcedSources, n),
               records(diaObject, n), records(xm, n), records(pred, n))
    return [{"diaSource": s, "prvDiaSources": p, "prvDiaForcedSources": f, "diaObject": o,
             "xm": x or {}, "pred": q or {}} for s, p, f, o, x, q in rows]


#: Fink ZTF's cross-match columns (top level in its files); ``lum_dist`` is Mangrove's.
ZTF_XMATCH = ("tns", "cdsxmatch", "roid", "gcvs", "vsx", "lum_dist")


def ztf_packets(objectId: Any, candid: Any, candidate: Any, prv_candidates: Any,
                xm: Any = None) -> List[Dict[str, Any]]:
    """The ZTF packet of every row of a batch; Fink's cross-matches (the ``xm`` struct the
    column selection builds) go back to the top level, Mangrove's distance to ``mangrove``."""
    n = len(candidate)
    out = []
    for o, c, cand, p, x in zip(scalars(objectId, n), scalars(candid, n), records(candidate, n),
                                lists(prv_candidates, n), records(xm, n)):
        packet = {"objectId": o, "candid": c, "candidate": cand, "prv_candidates": p}
        x = x or {}
        packet.update({k: x.get(k) for k in ZTF_XMATCH if k != "lum_dist"})
        packet["mangrove"] = {"lum_dist": x.get("lum_dist")}
        out.append(packet)
    return out


def column_of(frame: Any, name: str, n: int) -> Sequence[Any]:
    """One field of a struct column (``pd.DataFrame``) or of a map column (``pd.Series`` of
    dicts or key/value pairs) as plain values; Nones when absent."""
    if frame is None:
        return [None] * n
    if hasattr(frame, "columns"):
        return scalars(frame[name], n) if name in frame.columns else [None] * n
    out = []
    for value in frame:
        if isinstance(value, (list, tuple, np.ndarray)):
            try:
                value = dict(value)
            except (TypeError, ValueError):
                value = None
        out.append(value.get(name) if isinstance(value, dict) else None)
    return out
