"""VRA features (ATLAS VRA paper, Table 1), computed exactly as the ATLAS VRA does.

Two stages share one pass over a :class:`~vra_filters.lightcurve.LightCurveBatch`:

* **day 1** — the object's history *before* phase zero (16 values, "duck" column order);
* **day N** — the state of the light curve at its latest day in the window [-5, 15) days
  (7 light-curve values, then the 16 day-1 values; 23 in all, ``dayN`` first).

Phase is ``mjd - t0`` in days. The ATLAS quirks are reproduced on purpose, because the shipped
scorers were trained on them:

* windows are ``lo <= phase < hi``; the day label is ``trunc(phase) + 1`` for positive phase and
  ``trunc(phase)`` (toward zero) otherwise, so "dayN >= -5" means phase > -6;
* the day-1 history drops its first detection and everything before it;
* running detection / non-detection totals are NaN on a day without that kind of point;
* a scatter of exactly zero gives ``log10(0) = -inf`` (the trees put -inf in their lowest bin);
* negative magnitudes (negative-flux difference detections) are used as they are;
* E(B-V) is rounded to float32, as the SFD query that produced the training data returns it.

Everything is vectorised over all points of the batch: no per-object Python loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, Tuple

import numpy as np

from .lightcurve import LightCurve, LightCurveBatch

DAY1_LC_FEATURES: Tuple[str, ...] = (
    "Nnondet_std", "Nnondet_mean", "magdet_std", "DET_Nsince_min5d", "NON_Nsince_min5d",
    "log10_std_ra_min5d", "log10_std_dec_min5d", "DET_mag_median_min5d",
)
CONTEXT_FEATURES: Tuple[str, ...] = (
    "ra", "dec", "rb_pix", "z", "photoz", "ebv_sfd", "log10_sep_arcsec", "CV",
)
DAY1_FEATURES: Tuple[str, ...] = DAY1_LC_FEATURES + CONTEXT_FEATURES
DAYN_LC_FEATURES: Tuple[str, ...] = (
    "dayN", "DET_mag_median", "DET_N_total", "NON_mag_median", "NON_N_total", "max_mag",
    "max_mag_day",
)
DAYN_FEATURES: Tuple[str, ...] = DAYN_LC_FEATURES + DAY1_FEATURES

#: Phase windows (days, lower bound inclusive, upper exclusive).
DAY1_WINDOW = (-100.0, 0.0)
DAYN_WINDOW = (-5.0, 15.0)
#: Every light-curve feature reads only points inside one of the two windows, so points at
#: phases outside this range never change a feature (packet replays drop them).
FEATURE_PHASES = (min(DAY1_WINDOW[0], DAYN_WINDOW[0]), max(DAY1_WINDOW[1], DAYN_WINDOW[1]))
#: "dayN >= -5" of the day-1 features, i.e. phase > -6.
SINCE_MIN5D_PHASE = -6.0
#: Initial "brightest so far" value of the ATLAS max_mag walk.
_MAX_MAG_START = 99.0


@dataclass
class VRAFeatures:
    """Feature matrices of a batch: ``day1`` (n, 16) and ``dayN`` (n, 23), columns as in
    :data:`DAY1_FEATURES` / :data:`DAYN_FEATURES`. ``dayN_empty`` marks objects with no point in
    the day-N window, whose day-N row cannot be formed (the ATLAS code fails on them)."""

    day1: np.ndarray
    dayN: np.ndarray
    dayN_empty: np.ndarray


def day_label(phase: np.ndarray) -> np.ndarray:
    """ATLAS integer day label: (0,1) -> 1, [1,2) -> 2, ...; (-1,0] -> 0, (-2,-1] -> -1."""
    whole = np.trunc(phase)
    return np.where(phase > 0, whole + 1.0, whole) + 0.0  # + 0.0 folds -0.0 into 0.0


def compute(batch: LightCurveBatch) -> VRAFeatures:
    """Day-1 and day-N features for every light curve of ``batch`` in one pass."""
    day1_lc, dayN_lc, empty = _lightcurve_parts(batch)
    return _assemble(day1_lc, dayN_lc, empty, _context(batch.lightcurves))


def compute_shared(lcs: Sequence[LightCurve], twin: Sequence[int]) -> VRAFeatures:
    """:func:`compute` of ``lcs`` where ``twin[i]`` names an earlier light curve with the same
    points and t0 as ``lcs[i]`` (``i`` itself if none): the light-curve features are computed
    once per distinct set of points, the context features for each light curve."""
    twin = np.asarray(twin, dtype=np.intp)
    first = np.flatnonzero(twin == np.arange(len(twin)))
    at = np.empty(len(twin), dtype=np.intp)
    at[first] = np.arange(len(first))
    day1_lc, dayN_lc, empty = _lightcurve_parts(
        LightCurveBatch.from_lightcurves([lcs[i] for i in first]))
    where = at[twin]
    return _assemble(day1_lc[where], dayN_lc[where], empty[where], _context(lcs))


def _lightcurve_parts(batch: LightCurveBatch):
    n = len(batch)
    p = batch.points
    lengths = np.diff(batch.offsets)
    obj = np.repeat(np.arange(n), lengths)
    t0 = batch.object_column(lambda lc: lc.t0)
    phase = p["mjd"] - t0[obj]
    is_det = p["is_det"]
    day1_lc = _day1_lightcurve(n, obj, phase, is_det, p)
    dayN_lc, empty = _dayN_lightcurve(n, obj, phase, is_det, p["mag"])
    return day1_lc, dayN_lc, empty


def _assemble(day1_lc, dayN_lc, empty, context) -> VRAFeatures:
    n = len(empty)
    day1 = np.empty((n, len(DAY1_FEATURES)))
    day1[:, : len(DAY1_LC_FEATURES)] = day1_lc
    day1[:, len(DAY1_LC_FEATURES):] = context
    dayN = np.empty((n, len(DAYN_FEATURES)))
    dayN[:, : len(DAYN_LC_FEATURES)] = dayN_lc
    dayN[:, len(DAYN_LC_FEATURES):] = day1
    return VRAFeatures(day1=day1, dayN=dayN, dayN_empty=empty)


# --------------------------------------------------------------------------- segment helpers


def _count(seg: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(seg, minlength=n).astype(float)


def _std(seg: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Sample standard deviation (ddof=1) per segment, NaN-skipping, two-pass like pandas."""
    ok = ~np.isnan(values)
    seg, values = seg[ok], values[ok]
    count = _count(seg, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(seg, weights=values, minlength=n) / count
        sq = np.bincount(seg, weights=(mean[seg] - values) ** 2, minlength=n)
        var = sq / (count - 1.0)
    var[count < 2] = np.nan
    return np.sqrt(var)


def _median(seg: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Median per segment (NaN-skipping); NaN for empty segments."""
    ok = ~np.isnan(values)
    seg, values = seg[ok], values[ok]
    out = np.full(n, np.nan)
    if len(seg) == 0:
        return out
    order = np.lexsort((values, seg))
    seg, values = seg[order], values[order]
    count = np.bincount(seg, minlength=n)
    start = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(count, out=start[1:])
    has = count > 0
    lo = start[:-1][has] + (count[has] - 1) // 2
    hi = start[:-1][has] + count[has] // 2
    out[has] = (values[lo] + values[hi]) / 2.0
    return out


def _log10(x: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log10(x)


# --------------------------------------------------------------------------- day 1


def _day1_lightcurve(n, obj, phase, is_det, p) -> np.ndarray:
    out = np.full((n, len(DAY1_LC_FEATURES)), np.nan)
    lo, hi = DAY1_WINDOW
    win = (phase >= lo) & (phase < hi)
    # History: drop the first detection of the window and everything before it.
    mjd = p["mjd"]
    first_det = np.full(n, np.inf)
    np.minimum.at(first_det, obj[win & is_det], mjd[win & is_det])
    hist = win & (mjd > first_det[obj])

    h_obj = obj[hist]
    h_det = is_det[hist]
    # Non-detections grouped by the running detection count: a group starts at each detection
    # (and group 0 holds the non-detections before the first kept detection).
    new_group = h_det.copy()
    if len(h_obj):
        new_group[0] = True
        new_group[1:] |= h_obj[1:] != h_obj[:-1]
    group = np.cumsum(new_group) - 1
    n_groups_total = int(group[-1]) + 1 if len(group) else 0
    nondet_per_group = np.bincount(group[~h_det], minlength=n_groups_total).astype(float)
    group_obj = h_obj[new_group]
    n_groups = _count(group_obj, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(group_obj, weights=nondet_per_group, minlength=n) / n_groups
        sq = np.bincount(group_obj, weights=(mean[group_obj] - nondet_per_group) ** 2,
                         minlength=n)
        std = np.sqrt(sq / (n_groups - 1.0))
    std[n_groups < 2] = np.nan
    out[:, 0] = std
    out[:, 1] = mean

    mag = p["mag"]
    out[:, 2] = _std(h_obj[h_det], mag[hist][h_det], n)

    recent = hist & (phase > SINCE_MIN5D_PHASE)
    out[:, 3] = _count(obj[recent & is_det], n)
    out[:, 4] = _count(obj[recent & ~is_det], n)
    out[:, 5] = _log10(_std(obj[recent], p["ra"][recent], n))
    out[:, 6] = _log10(_std(obj[recent], p["dec"][recent], n))
    out[:, 7] = _median(obj[recent & is_det], mag[recent & is_det], n)
    return out


# --------------------------------------------------------------------------- day N


def _dayN_lightcurve(n, obj, phase, is_det, mag) -> Tuple[np.ndarray, np.ndarray]:
    out = np.full((n, len(DAYN_LC_FEATURES)), np.nan)
    lo, hi = DAYN_WINDOW
    win = (phase >= lo) & (phase < hi)
    w_obj = obj[win]
    w_det = is_det[win]
    w_mag = mag[win]
    day = day_label(phase[win])

    # One segment per (object, day); labels run from -5 to 15.
    n_days = 32
    day_idx = (day - (lo - 1)).astype(np.int64)
    key = w_obj * n_days + day_idx
    n_keys = n * n_days
    det_med = _median(key[w_det], w_mag[w_det], n_keys).reshape(n, n_days)
    non_med = _median(key[~w_det], w_mag[~w_det], n_keys).reshape(n, n_days)
    det_n = np.bincount(key[w_det], minlength=n_keys).reshape(n, n_days)
    non_n = np.bincount(key[~w_det], minlength=n_keys).reshape(n, n_days)

    has_any = (det_n + non_n) > 0
    empty = ~has_any.any(axis=1)
    rows = np.flatnonzero(~empty)
    last = n_days - 1 - np.argmax(has_any[rows, ::-1], axis=1)
    out[rows, 0] = last + (lo - 1)
    out[rows, 1] = det_med[rows, last]
    det_total = det_n[rows].sum(axis=1).astype(float)
    out[rows, 2] = np.where(det_n[rows, last] > 0, det_total, np.nan)
    out[rows, 3] = non_med[rows, last]
    non_total = non_n[rows].sum(axis=1).astype(float)
    out[rows, 4] = np.where(non_n[rows, last] > 0, non_total, np.nan)

    # Brightest daily median so far; ties keep the earlier day; the walk starts at 99.
    med = np.where(np.isnan(det_med[rows]), np.inf, det_med[rows])
    best_day = np.argmin(med, axis=1)
    best = med[np.arange(len(rows)), best_day]
    found = best < _MAX_MAG_START
    out[rows, 5] = np.where(found, best, np.nan)
    out[rows, 6] = np.where(found, best_day + (lo - 1), np.nan)
    return out, empty


# --------------------------------------------------------------------------- context


def _context(lcs: Sequence[LightCurve]) -> np.ndarray:
    def col(getter):
        return np.fromiter((getter(lc) for lc in lcs), dtype=float, count=len(lcs))

    ebv = col(lambda lc: lc.context.ebv).astype(np.float32).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_sep = np.log10(col(lambda lc: lc.context.host_sep_arcsec))
    return np.column_stack([
        col(lambda lc: lc.context.ra),
        col(lambda lc: lc.context.dec),
        col(lambda lc: lc.context.rb),
        col(lambda lc: lc.context.z),
        col(lambda lc: lc.context.photoz),
        ebv,
        log_sep,
        col(lambda lc: 1.0 if lc.context.catalogue_class == "CV" else 0.0),
    ])
