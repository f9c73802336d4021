"""An object's earlier alerts, rebuilt from the history one alert carries.

A stateless caller (Fink scores one alert at a time) still knows the object's past: every
Rubin, ZTF and Lasair alert carries the earlier detections. :func:`visits` turns one light
curve into the alerts that history holds, oldest first, so the policies can replay them as a
stateful caller would have seen them (``Scorer.score(..., history="packet")``):

* Rubin / ZTF / Lasair: one alert per detection. The earlier alert at detection k holds the
  detections up to and including k and the non-detections / forced photometry with time <=
  that detection's time; its real/bogus score is detection k's own (the alert-level ``rb``
  is the triggering source's), the rest of the context is the alert's. The last one is the
  alert itself.
* ATLAS (the transient server gives the whole object): the ATLAS VRA's visits -- the end of
  the flag night (day-1 scoring), then the last exposure of each later night with data, up to
  +15 days after phase zero, where the day-N window closes and the VRA stops updating.
"""

from __future__ import annotations

import math
from typing import Any, Dict, Hashable, List, Optional, Sequence, Tuple

import numpy as np

from .lightcurve import LightCurve, replay_alert_ids

#: Days after phase zero past which ATLAS visits are not replayed (the day-N window's end).
ATLAS_LAST_PHASE = 15.0


def atlas_visit_times(lc: LightCurve, last_phase: float = ATLAS_LAST_PHASE) -> List[float]:
    """The ATLAS visits of a light curve (see the module docstring), as MJDs."""
    phase = lc.mjd - lc.t0
    night = np.floor(phase)
    later = (phase >= 1.0) & (phase < last_phase)
    times = [float(lc.mjd[phase < 1.0].max())] if (phase < 1.0).any() else []
    for n in np.unique(night[later]):
        times.append(float(lc.mjd[later & (night == n)].max()))
    return times


def visits(lc: LightCurve, keep: Optional[Tuple[int, int]] = None) -> List[LightCurve]:
    """The alerts ``lc``'s history holds, oldest first (see the module docstring).

    Earlier alerts get ids derived from their content (``LightCurve.until``); for Rubin, ZTF
    and Lasair the last element is ``lc`` itself. Empty when there is no detection.
    ``keep=(start, stop)``: the earlier alerts carry only those of their points (see
    ``LightCurve.until``; the packet replay keeps what the features read).
    """
    if lc.survey == "atlas":
        return [lc.until(mjd, alert_id=f"{lc.object_id}@{mjd:.5f}", keep=keep)
                for mjd in atlas_visit_times(lc)]
    det = np.flatnonzero(lc.is_det & (lc.mjd < lc.alert_mjd))
    if not len(det):
        return [lc]
    # points are time-sorted: the last detection of each distinct earlier detection time
    t_det = lc.mjd[det]
    at = det[np.flatnonzero(np.r_[t_det[1:] != t_det[:-1], True])]
    times = lc.mjd[at]
    ids = replay_alert_ids(lc, times, at)
    rbs = lc.rb[at].astype(float).tolist()
    ks = np.searchsorted(lc.mjd, times, side="right").tolist()
    out = []
    for k, t, alert_id, rb in zip(ks, times.tolist(), ids, rbs):
        earlier = lc.prefix(k, t, alert_id, keep)  # = lc.until(t, alert_id, keep)
        if math.isfinite(rb):
            earlier.context.rb = rb
        out.append(earlier)
    return out + [lc]


def object_rounds(keys: Sequence[Hashable]) -> List[List[int]]:
    """Positions of ``keys`` (one per alert, e.g. ``(survey, object_id)``) in rounds: round r
    holds the r-th alert of every object, so no round has two alerts of one object and each
    object's alerts keep their order across rounds."""
    seen: Dict[Any, int] = {}
    rounds: List[List[int]] = []
    for i, key in enumerate(keys):
        r = seen.get(key, 0)
        seen[key] = r + 1
        if r == len(rounds):
            rounds.append([])
        rounds[r].append(i)
    return rounds
