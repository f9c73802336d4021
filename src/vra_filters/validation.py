"""Whether alerts can be scored at all: the checks every light curve passes before the
features, for a batch (:func:`validate`) and for the prefixes a packet replays
(:func:`validate_prefixes`, from running counts), with one reason text for both."""

from __future__ import annotations

import math
from typing import List, Optional, Sequence

import numpy as np

from .lightcurve import LightCurve, LightCurveBatch


def validate(batch: LightCurveBatch) -> List[Optional[str]]:
    """Why each light curve of a batch cannot be scored (None where it can), in one pass."""
    n = len(batch)
    lengths = np.diff(batch.offsets)
    obj = np.repeat(np.arange(n), lengths)
    p = batch.points
    bad_time = np.bincount(obj[~np.isfinite(p["mjd"])], minlength=n) > 0
    n_det = np.bincount(obj[p["is_det"]], minlength=n)
    n_mag = np.bincount(obj[p["is_det"] & np.isfinite(p["mag"])], minlength=n)
    no_t0 = ~np.isfinite(batch.object_column(lambda lc: lc.t0))
    return _reasons(lengths, bad_time, n_det, n_mag, no_t0)


def validate_prefixes(lc: LightCurve, lengths: Sequence[int]) -> List[Optional[str]]:
    """:func:`validate` of the light curves made of ``lc``'s first k points, for each k of
    ``lengths`` (the alerts a packet replays), from running counts over ``lc`` once."""
    if len(lengths) == 1:  # an alert without replays: the same checks, without the counts
        return [_reason_one(lc, int(lengths[0]))]
    k = np.asarray(lengths, dtype=np.int64)
    at = np.maximum(k - 1, 0)
    some = k > 0

    def running(mask: np.ndarray) -> np.ndarray:
        return np.where(some, np.cumsum(mask)[at], 0) if len(mask) else np.zeros(len(k), int)

    bad_time = running(~np.isfinite(lc.mjd)) > 0
    n_det = running(lc.is_det)
    n_mag = running(lc.is_det & np.isfinite(lc.mag))
    no_t0 = np.full(len(k), not math.isfinite(lc.t0))
    return _reasons(k, bad_time, n_det, n_mag, no_t0)


def _reason_one(lc: LightCurve, n: int) -> Optional[str]:
    """:func:`_reasons` of the light curve made of ``lc``'s first ``n`` points (no running
    counts: a quarter of their cost for an alert without replays)."""
    det = lc.is_det[:n]
    return _why(n, not np.isfinite(lc.mjd[:n]).all(), int(det.sum()),
                int(np.isfinite(lc.mag[:n][det]).sum()), math.isfinite(lc.t0))


def _reasons(lengths, bad_time, n_det, n_mag, no_t0) -> List[Optional[str]]:
    reasons: List[Optional[str]] = [None] * len(lengths)
    for i in np.flatnonzero((lengths == 0) | bad_time | (n_det == 0) | (n_mag == 0) | no_t0):
        reasons[i] = _why(lengths[i], bad_time[i], n_det[i], n_mag[i], not no_t0[i])
    return reasons


def _why(n: int, bad_time: bool, n_det: int, n_mag: int, t0_ok: bool) -> Optional[str]:
    """The first check a light curve of ``n`` points fails, in plain words (None: none)."""
    if n == 0:
        return "empty history: no detection or non-detection"
    if bad_time:
        return "non-finite observation time (mjd)"
    if n_det == 0:
        return "no detection in the history"
    if n_mag == 0:
        return "no finite magnitude among the detections (NaN everywhere)"
    return None if t0_ok else "no phase zero (t0)"
