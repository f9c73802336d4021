"""The weekly report: what the VRA did with a period's alerts (ATLAS el01z's weekly report and
purgatory sentinel, on annotations).

* alerts scored and objects seen; objects auto-garbaged (garbage sticks to an object);
* objects eyeballed per tier (objects that reached the fast-track, extragalactic or galactic
  tier in the period);
* outcomes: each object's last tier in the period (the chart);
* stuck in purgatory: objects whose last tier is purgatory because they stayed undecided
  longer than ``purgatory_days`` (since first seen, or by phase);
* potential misses: objects with a TNS name whose model score (``vra_score``; the rank is
  raised to 10 by the TNS match itself) never reached the eyeball threshold and that were
  never galactic candidates;
* found first: TNS-matched objects whose rank reached the threshold on an alert before the
  first one carrying the TNS name.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Dict, Iterable, List, Mapping, Optional

from .config import SlackConfig

TIERS = ("fast_track", "extragalactic", "galactic", "purgatory", "garbage")
EYEBALL = ("fast_track", "extragalactic", "galactic")


def _num(v: Any, default: float = float("nan")) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return default


def window(annotations: List[Mapping[str, Any]], days: float,
           until: Optional[float] = None) -> Dict[str, float]:
    """The report period (MJD): ``days`` ending at ``until`` (default: the latest alert);
    ``days <= 0`` means every alert given."""
    mjds = [m for m in (_num(a.get("mjd")) for a in annotations) if m == m]
    if not mjds:
        raise ValueError("no annotation with an MJD: nothing to report")
    end = float(until) if until is not None else max(mjds)
    start = end - days if days > 0 else min(mjds)
    return {"mjd_start": start, "mjd_end": end}


def weekly_report(annotations: Iterable[Mapping[str, Any]], config: SlackConfig,
                  days: float = 7.0, until: Optional[float] = None) -> Dict[str, Any]:
    """The report dict (JSON-safe; :func:`messages.weekly_text` formats it)."""
    anns = list(annotations)
    span = window(anns, days, until)
    start, end = span["mjd_start"], span["mjd_end"]
    period = [a for a in anns if start - 1e-9 <= _num(a.get("mjd")) <= end + 1e-9]
    by_object: Dict[tuple, List[Mapping[str, Any]]] = defaultdict(list)
    for a in anns:  # the whole history given, for first-seen times and TNS names
        if _num(a.get("mjd")) <= end + 1e-9:
            by_object[(a["survey"], str(a["object_id"]))].append(a)
    in_period = {(a["survey"], str(a["object_id"])) for a in period}

    alerts_per_tier = {t: 0 for t in TIERS}
    for a in period:
        alerts_per_tier[a["tier"]] = alerts_per_tier.get(a["tier"], 0) + 1
    outcome = {t: 0 for t in TIERS}
    eyeballed = {t: 0 for t in EYEBALL}
    stuck, misses = [], []
    found_first = found_by_others = 0
    for key in sorted(in_period):
        history = sorted(by_object[key], key=lambda a: _num(a.get("mjd")))
        last = history[-1]
        outcome[last["tier"]] = outcome.get(last["tier"], 0) + 1
        tiers_in_period = {a["tier"] for a in history if _num(a.get("mjd")) >= start - 1e-9}
        for t in EYEBALL:
            eyeballed[t] += t in tiers_in_period
        first = _num(history[0].get("mjd"))
        days_undecided = max(end - first, _num(last.get("phase"), 0.0))
        best_rank = max(_num(a.get("rank"), -1.0) for a in history)
        summary = {"survey": key[0], "object_id": key[1], "tns_name": last.get("tns_name"),
                   "best_rank": best_rank, "days": days_undecided,
                   "best_score": max(_num(a.get("vra_score"), -1.0) for a in history)}
        if last["tier"] == "purgatory" and days_undecided > config.purgatory_days:
            stuck.append(summary)
        named = [a for a in history if a.get("tns_name")]
        if named:
            if (summary["best_score"] < config.eyeball_threshold
                    and not any(a.get("galactic") for a in history)):
                misses.append(summary)
            before = [a for a in history if _num(a.get("mjd")) < _num(named[0].get("mjd"))]
            if any(_num(a.get("rank"), -1.0) >= config.eyeball_threshold for a in before):
                found_first += 1
            else:
                found_by_others += 1
    stuck.sort(key=lambda r: (-r["best_rank"], r["object_id"]))
    misses.sort(key=lambda r: (-r["best_score"], r["object_id"]))
    return {
        **span,
        "n_alerts": len(period),
        "n_objects": len(in_period),
        "alerts": alerts_per_tier,
        "outcome": outcome,
        "eyeballed": eyeballed,
        "garbaged_objects": outcome.get("garbage", 0),
        "garbaged_alerts": alerts_per_tier.get("garbage", 0),
        "stuck": stuck,
        "misses": misses,
        "found_first": found_first,
        "found_by_others": found_by_others,
    }
