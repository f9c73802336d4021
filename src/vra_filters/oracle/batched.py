"""Model rows and domain flags for many light curves at once (the pipeline's hot path).

:func:`rows_many` gives, for a batch of core light curves, what
:func:`~vra_filters.oracle.inputs.rows_from_lightcurve` and
:func:`~vra_filters.oracle.inputs.domain` give one by one -- the same values, bit for bit --
but with the photometry of the whole batch concatenated, so the band lookup, the row filters,
the feature encoding, the static vectors and the domain flags (detections, median flux error,
dropped bands, span) are a fixed number of numpy calls per batch instead of per alert. The
per-alert functions stay the reference; tests compare the two.

Numpy only, Python 3.9.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from . import inputs as inp

#: Warning lists by bit pattern (bit k = ``inp.WARNINGS[k]``), built once.
_WARNING_SETS = tuple(tuple(w for k, w in enumerate(inp.WARNINGS) if code >> k & 1)
                      for code in range(1 << len(inp.WARNINGS)))
_SENTINELS = np.asarray(inp.SENTINELS, dtype=np.float64)


def rows_many(lightcurves: Sequence, model: str, conv=None) -> tuple:
    """``(rows, domains)`` for each light curve: its
    :class:`~vra_filters.oracle.inputs.ModelRows` and :func:`~vra_filters.oracle.inputs.domain`
    dict, or -- when the model cannot read it (wrong survey) -- the ValueError's message and
    None."""
    c = inp.convention(conv)
    rows: list = [None] * len(lightcurves)
    domains: list = [None] * len(lightcurves)
    readable = []
    for i, lc in enumerate(lightcurves):
        survey = getattr(lc, "survey", "")
        if survey not in inp.MODEL_SURVEYS[model]:
            rows[i] = (f"ORACLE model {model!r} reads {'/'.join(inp.MODEL_SURVEYS[model])} "
                       f"light curves, not {survey!r}")
        else:
            readable.append(i)
    if not readable:
        return rows, domains
    if model == "bts":  # ZTF: per alert (not the LSST hot path)
        built = [inp.bts_rows_from_lightcurve(lightcurves[i], c.static) for i in readable]
    else:
        built = _lsst_rows([lightcurves[i] for i in readable], c,
                           18 if model == "elasticc" else 0, model)
    for i, r in zip(readable, built):
        rows[i] = r
    for i, d in zip(readable, domains_many(built)):
        domains[i] = d
    return rows, domains


def _lsst_rows(lcs: list, c, static_size: int, model: str) -> list:
    """SPEC §8 then §6.2 (``table_from_lightcurve`` + ``rows_from_table``) over a batch."""
    f64 = np.float64
    counts = np.fromiter((len(lc.mjd) for lc in lcs), np.int64, len(lcs))
    # LightCurve columns are 1-D arrays of these types already: no conversion per alert
    mjd = np.concatenate([lc.mjd for lc in lcs]).astype(f64, copy=False)
    flux = np.concatenate([lc.flux for lc in lcs]).astype(f64, copy=False)
    err = np.concatenate([lc.fluxerr for lc in lcs]).astype(f64, copy=False)
    band = np.asarray(np.concatenate([lc.band for lc in lcs]), dtype=str)
    det = np.concatenate([lc.is_det for lc in lcs]).astype(bool, copy=False)
    sat = np.concatenate([lc.saturated for lc in lcs]).astype(bool, copy=False)
    wl = inp.band_wavelengths(band)
    ok = np.isfinite(flux) & np.isfinite(err)
    usable = ok & ~sat
    known = np.isfinite(wl)
    keep = usable & known
    dropped = usable & ~known
    feats = np.empty((int(keep.sum()), 4), dtype=np.float32)
    feats[:, 0] = flux[keep] * inp.FLUXCAL_PER_NJY
    feats[:, 1] = err[keep] * inp.FLUXCAL_PER_NJY
    feats[:, 2] = wl[keep]
    feats[:, 3] = det[keep]
    kmjd, dmjd = mjd[keep], mjd[dropped]
    starts = np.concatenate([[0], np.cumsum(counts)])
    k_at = _cumsum0(keep)[starts].tolist()
    d_at = _cumsum0(dropped)[starts].tolist()
    n_raw = np.diff(_cumsum0(ok)[starts]).tolist()
    static = _static_many(lcs, c, static_size)
    missing = _all_missing(static).tolist()
    out = []
    for j, lc in enumerate(lcs):
        a, b = k_at[j], k_at[j + 1]
        out.append(inp.ModelRows(kmjd[a:b], feats[a:b], static[j], n_raw=n_raw[j],
                                 object_id=str(lc.object_id), model=model,
                                 dropped_mjd=dmjd[d_at[j]:d_at[j + 1]],
                                 missing_metadata=bool(static_size) and missing[j]))
    return out


#: The host-galaxy description only ELAsTiCC-like packets give (magnitudes, shape): without it
#: the full model does worse than elasticc-lite however much else is there -- E(B-V) alone, or
#: with a host redshift and separation as Lasair's Sherlock gives (models/oracle/README.md).
_HOST = np.array([n.startswith("HOSTGAL_MAG_") or n == "HOSTGAL_ELLIPTICITY"
                  for n in inp.ELASTICC_STATIC_NAMES])


def host_missing_many(lightcurves: Sequence, model: str, conv=None) -> np.ndarray:
    """(N,) bool: whether the packet behind each light curve lacks the host-galaxy description
    ``model`` was trained with -- no host magnitude (``HOSTGAL_MAG_*``) and no ellipticity, or
    only null / NaN ones; the Milky Way E(B-V), a host redshift and a separation may be there
    or not (Lasair's Sherlock gives those). A sentinel such as ELAsTiCC's -9 / -999 / 999 for
    a hostless object *is* a value: the survey says there is no host, as in the packets the
    model was trained on. Made from the static part alone (no light-curve rows). Only
    the ELAsTiCC model reads host values: False for any other model, and for a light curve
    the model cannot read."""
    out = np.zeros(len(lightcurves), bool)
    readable = [i for i, lc in enumerate(lightcurves)
                if getattr(lc, "survey", "") in inp.MODEL_SURVEYS[model]]
    if readable and model == "elasticc":
        heads, vals = _head_values([lightcurves[i] for i in readable], inp.convention(conv))
        if vals is None:  # a value float() cannot read: one by one
            host = [n for n, h in zip(inp.ELASTICC_STATIC_NAMES, _HOST) if h]
            out[readable] = [not any(_given(h.get(n)) for n in host) for h in heads]
        else:
            out[readable] = ~np.isfinite(vals[:, _HOST]).any(axis=1)
    return out


def _given(v) -> bool:
    try:
        return math.isfinite(float(v))
    except (TypeError, ValueError, OverflowError):
        return False


def _all_missing(static: np.ndarray) -> np.ndarray:
    """Rows of a (N, S) static matrix that are -9 throughout (none when S is 0)."""
    if not static.shape[1]:
        return np.zeros(len(static), bool)
    return np.all(static == inp.MISSING, axis=1)


def _head_values(lcs: list, c) -> tuple:
    """``(heads, values)``: each light curve's ELAsTiCC HEAD dict (by static source) and the
    (N, 18) float64 matrix of them (NaN where absent or null), or None for the matrix when a
    value is not a number."""
    names = inp.ELASTICC_STATIC_NAMES
    heads = [inp.elasticc_static_from_context(lc.context, c.static) for lc in lcs]
    try:
        # None -> NaN; numbers and numeric strings as float() reads them
        vals = np.array([[h.get(n) for n in names] for h in heads], dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        return heads, None
    return heads, vals.reshape(len(lcs), len(names))


def _static_many(lcs: list, c, static_size: int) -> np.ndarray:
    """(N, static_size) float32: ``static_elasticc`` of each light curve's HEAD values."""
    if not static_size:
        return np.zeros((len(lcs), 0), dtype=np.float32)
    heads, vals = _head_values(lcs, c)
    if vals is None:
        return np.stack([inp.static_elasticc(h, c.raw_sentinels) for h in heads])
    vals[~np.isfinite(vals)] = inp.MISSING
    if not c.raw_sentinels:
        vals[np.isin(vals, _SENTINELS)] = inp.MISSING
    return vals.astype(np.float32)


def _cumsum0(mask: np.ndarray) -> np.ndarray:
    out = np.zeros(len(mask) + 1, dtype=np.int64)
    np.cumsum(mask, out=out[1:])
    return out


def domains_many(rows: Sequence[inp.ModelRows]) -> list:
    """:func:`~vra_filters.oracle.inputs.domain` of each of ``rows`` (all rows), vectorised
    over the batch."""
    n = len(rows)
    if n == 0:
        return []
    models = {r.model for r in rows}
    if len(models) != 1:  # mixed models: no shared limits; one by one
        return [inp.domain(r) for r in rows]
    model = models.pop()
    lens = np.fromiter((len(r) for r in rows), np.int64, n)
    at = np.concatenate([[0], np.cumsum(lens)])
    mjd = np.concatenate([r.mjd for r in rows])
    feats = np.concatenate([r.feats for r in rows]) if at[-1] else np.zeros((0, 4), np.float32)
    seg = np.repeat(np.arange(n), lens)
    det = feats[:, 3] > 0
    n_det = np.diff(_cumsum0(det)[at])
    has = lens > 0
    last = np.full(n, math.inf)
    last[has] = mjd[at[1:][has] - 1]
    bits = (n_det < inp.MIN_DETECTIONS).astype(np.int64)
    bits |= np.fromiter((r.missing_metadata for r in rows), bool, n) << 1
    d_lens = np.fromiter((len(r.dropped_mjd) for r in rows), np.int64, n)
    if d_lens.any():
        dmjd = np.concatenate([r.dropped_mjd for r in rows])
        dseg = np.repeat(np.arange(n), d_lens)
        hit = np.zeros(n, bool)
        hit[dseg[dmjd <= last[dseg]]] = True
        bits |= hit << 2
    limit = inp.MAX_DAYS_AFTER_DETECTION.get(model)
    if limit is not None and det.any():
        det_idx = np.flatnonzero(det)
        dseg = seg[det_idx]
        starts = np.r_[True, dseg[1:] != dseg[:-1]]  # first detection of each object
        span = np.zeros(n, bool)
        span[dseg[starts]] = last[dseg[starts]] - mjd[det_idx[starts]] > limit
        bits |= span << 3
    floor = inp.MIN_MEDIAN_FLUXERR.get(model)
    if floor is not None and has.any():
        bits |= (_medians(feats[:, 1], seg, at, lens) < floor) << 4
    return [{"n_detections": k, "warnings": list(_WARNING_SETS[b])}
            for k, b in zip(n_det.tolist(), bits.tolist())]


def _medians(values: np.ndarray, seg: np.ndarray, at: np.ndarray, lens: np.ndarray) -> np.ndarray:
    """Per-segment ``np.median`` of float32 ``values`` (NaN for an empty segment), computed as
    numpy does: the middle value, or the float32 mean of the two middle values."""
    srt = values[np.lexsort((values, seg))]
    out = np.full(len(lens), np.nan, dtype=np.float32)
    has = lens > 0
    lo = at[:-1][has] + (lens[has] - 1) // 2
    hi = at[:-1][has] + lens[has] // 2
    a, b = srt[lo], srt[hi]
    with np.errstate(over="ignore", invalid="ignore"):
        out[has] = np.where(lo == hi, a, (a + b) / np.float32(2))
    nan = np.isnan(values)
    if nan.any():  # np.median is NaN for any NaN
        out[seg[nan]] = np.nan
    return out
