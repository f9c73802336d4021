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
    """:func:`_reasons` of the light curve made of ``lc``'s first ``n`` points."""
    if n == 0:
        return EMPTY
    det = lc.is_det[:n]
    if not np.isfinite(lc.mjd[:n]).all():
        return BAD_TIME
    if not det.any():
        return NO_DETECTION
    if not np.isfinite(lc.mag[:n][det]).any():
        return NO_MAGNITUDE
    return None if math.isfinite(lc.t0) else NO_T0


EMPTY = "empty history: no detection or non-detection"
BAD_TIME = "non-finite observation time (mjd)"
NO_DETECTION = "no detection in the history"
NO_MAGNITUDE = "no finite magnitude among the detections (NaN everywhere)"
NO_T0 = "no phase zero (t0)"


def _reasons(lengths, bad_time, n_det, n_mag, no_t0) -> List[Optional[str]]:
    reasons: List[Optional[str]] = [None] * len(lengths)
    for i in np.flatnonzero((lengths == 0) | bad_time | (n_det == 0) | (n_mag == 0) | no_t0):
        if lengths[i] == 0:
            reasons[i] = EMPTY
        elif bad_time[i]:
            reasons[i] = BAD_TIME
        elif n_det[i] == 0:
            reasons[i] = NO_DETECTION
        elif n_mag[i] == 0:
            reasons[i] = NO_MAGNITUDE
        else:
            reasons[i] = NO_T0
    return reasons
