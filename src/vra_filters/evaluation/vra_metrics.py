"""The VRA paper's metrics, numpy only: recall at rank K, AuRaK, object bootstrap, permutation
importance, and the policies replayed over an object's first visits.

* **R@K** (recall at rank K): rank the alerts by score, highest first; R@K is the fraction of
  all target alerts (eyeball label *good*) among the first K. Equal scores share their places:
  R@K inside a run of ties is the expectation over every order of the run (linear between the
  run's ends), so the metric does not depend on input order.
* **AuRaK**: the area under R@K against K/N, i.e. the mean of R@K over K = 1..N. A random
  ranking gives about 0.5; a perfect one ``1 - (n_target - 1) / (2 N)``
  (:func:`aurak_ideal`), so it is comparable only on the same label mix.
* Intervals resample **objects** with replacement (all rows of an object together), never rows.
"""

from __future__ import annotations

import math
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..policies import ObjectHistory, Policy, is_garbage, tier
from ..score import galactic_candidate

OUTCOMES = ("eyeballed", "garbage", "purgatory")


def recall_at_k(score: np.ndarray, target: np.ndarray) -> np.ndarray:
    """R@K for K = 1..N (array of N values); ties share their places (see module doc)."""
    score = np.asarray(score, dtype=float)
    target = np.asarray(target, dtype=bool)
    n = len(score)
    total = int(target.sum())
    if n == 0 or total == 0:
        raise ValueError("R@K needs at least one target row")
    key = np.where(np.isnan(score), -np.inf, score)  # a missing score ranks last
    order = np.argsort(-key, kind="stable")
    s, t = key[order], target[order].astype(float)
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    ends = np.r_[starts[1:], n]
    per_run = np.add.reduceat(t, starts)
    before = np.r_[0.0, np.cumsum(per_run)[:-1]]
    run = np.repeat(np.arange(len(starts)), ends - starts)
    k = np.arange(1, n + 1)
    found = before[run] + (k - starts[run]) * per_run[run] / (ends - starts)[run]
    return found / total


def aurak(score: np.ndarray, target: np.ndarray) -> float:
    """Area under the R@K curve (mean of R@K over K = 1..N)."""
    return float(recall_at_k(score, target).mean())


def aurak_ideal(target: np.ndarray) -> float:
    """AuRaK of a perfect ranking of ``target``: ``1 - (n_target - 1) / (2 N)``."""
    n, m = len(target), int(np.asarray(target, dtype=bool).sum())
    return 1.0 - (m - 1) / (2.0 * n)


def recall_at_fraction(score: np.ndarray, target: np.ndarray, fraction: float) -> float:
    """R@K at K = ``fraction`` of the list (rounded up)."""
    curve = recall_at_k(score, target)
    k = max(1, int(math.ceil(fraction * len(curve))))
    return float(curve[k - 1])


def object_rows(ids: np.ndarray) -> List[np.ndarray]:
    """Row indices of each object (first-appearance order)."""
    _, inverse = np.unique(np.asarray(ids).astype(str), return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.flatnonzero(np.r_[True, np.diff(inverse[order]) != 0, True])
    return [order[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def bootstrap(stat: Callable[[np.ndarray], float], ids: np.ndarray, n: int = 200,
              seed: int = 42, level: float = 0.95) -> Dict[str, float]:
    """Percentile interval of ``stat(rows)`` over ``n`` resamples of the objects (with
    replacement; every row of a drawn object comes along). Resamples where ``stat`` is
    undefined (e.g. no target drawn) are dropped and counted."""
    groups = object_rows(ids)
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n):
        pick = rng.integers(0, len(groups), size=len(groups))
        rows = np.concatenate([groups[i] for i in pick])
        try:
            values.append(stat(rows))
        except ValueError:
            continue
    if not values:
        return {"low": math.nan, "high": math.nan, "n": 0}
    lo, hi = np.quantile(values, [(1 - level) / 2, 1 - (1 - level) / 2])
    return {"low": float(lo), "high": float(hi), "n": len(values)}


def permutation_importance(metric: Callable[[np.ndarray], float], X: np.ndarray,
                           names: Sequence[str], ids: np.ndarray, repeats: int = 5,
                           seed: int = 42, columns: Optional[Sequence[int]] = None
                           ) -> Dict[str, Dict[str, float]]:
    """Drop of ``metric(X)`` when one feature column is shuffled across objects (an object's
    rows keep one shared donor, so day-N rows stay consistent), ``repeats`` times each.
    ``names[i]`` is column ``columns[i]`` of X (default: column i)."""
    base = metric(X)
    groups = object_rows(ids)
    owner = np.empty(len(X), dtype=np.int64)
    for g, rows in enumerate(groups):
        owner[rows] = g
    first = np.array([rows[0] for rows in groups])
    rng = np.random.default_rng(seed)
    out: Dict[str, Dict[str, float]] = {}
    for j, name in zip(columns if columns is not None else range(len(names)), names):
        drops = []
        for _ in range(repeats):
            donor = first[rng.permutation(len(groups))]
            Xp = X.copy()
            Xp[:, j] = X[donor[owner], j]
            drops.append(base - metric(Xp))
        out[name] = {"mean": float(np.mean(drops)), "std": float(np.std(drops))}
    return out


def replay_policy(visit_ranks: Sequence[Tuple[float, ...]],
                  policy: Policy) -> Tuple[str, List[str]]:
    """An object's outcome over its visits ``[(rank, p_real, p_gal[, solar_system]), ...]``
    (oldest first): ``eyeballed`` if a visit reached a candidate tier before any garbage, else
    ``garbage`` if the auto-garbage rules fired, else ``purgatory``; and each visit's tier. A
    known solar-system object is never a galactic candidate."""
    h = ObjectHistory()
    tiers: List[str] = []
    outcome = "purgatory"
    for v, visit in enumerate(visit_ranks):
        rank, p_real, p_gal = visit[:3]
        sso = bool(visit[3]) if len(visit) > 3 else False
        gal = not sso and bool(galactic_candidate(p_real, p_gal, policy.gal_f,
                                                  policy.gal_radius))
        gal = gal and (rank < policy.eyeball_threshold or not policy.gal_below_threshold_only)
        h.add_visit(rank, 60000.0 + v)
        h.garbage = h.garbage or is_garbage(h, policy)
        t = tier(rank, gal, math.nan, h, 60000.0 + v, policy)
        tiers.append(t)
        if outcome == "purgatory" and t in ("fast_track", "extragalactic", "galactic"):
            outcome = "eyeballed"
        if t == "garbage" and outcome == "purgatory":
            outcome = "garbage"
    return outcome, tiers


def policy_table(objects: Dict[str, List[Tuple[float, ...]]],
                 labels: Dict[str, str], policy: Policy,
                 max_visits: int = 4) -> Dict[str, Dict[str, float]]:
    """Per label (and ``all``): fraction of objects eyeballed / garbaged / left in purgatory
    over their first ``max_visits`` visits, and the object count."""
    per: Dict[str, Dict[str, int]] = {}
    for oid, seq in objects.items():
        outcome, _ = replay_policy(seq[:max_visits], policy)
        for key in (labels[oid], "all"):
            c = per.setdefault(key, {o: 0 for o in OUTCOMES})
            c[outcome] += 1
    out = {}
    for key, c in per.items():
        n = sum(c.values())
        out[key] = {**{o: c[o] / n for o in OUTCOMES}, "objects": n}
    return out


def safe(value: Optional[float]) -> Optional[float]:
    """JSON-safe float: NaN / inf become None."""
    if value is None:
        return None
    v = float(value)
    return v if math.isfinite(v) else None
