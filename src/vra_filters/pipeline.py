"""From light curves to annotations: features -> scorers -> policies -> one record per alert.

The pipeline works on batches (one alert is a batch of one): features and scorers run
vectorised over the whole batch, the policies then walk the alerts in delivery order because
each visit of an object depends on the ones before it. A bad alert becomes a
:class:`~vra_filters.readers.Skip` with its reason; the rest of the batch goes on.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import features as F
from .annotations import annotation, explanations, provenance
from .lightcurve import LightCurve, LightCurveBatch
from .policies import ObjectHistory, Policy, is_garbage, tier
from .readers import Skip
from .registry import load_trees
from .score import galactic_candidate, vra_score
from .state import MemoryStore, StateStore
from .trees import TreeEnsemble

Item = Union[LightCurve, Skip]
Result = Union[Dict[str, Any], Skip]


@dataclass
class VRAModels:
    """The four scorers of one model family: (day1, dayN) x (real, gal)."""

    day1_real: TreeEnsemble
    day1_gal: TreeEnsemble
    dayN_real: TreeEnsemble
    dayN_gal: TreeEnsemble

    @classmethod
    def load(cls, family: str = "duck") -> VRAModels:
        return cls(*(load_trees(f"vra/{family}/{stage}/{kind}")
                     for stage in ("day1", "dayN") for kind in ("real", "gal")))

    def pair(self, stage: str) -> Tuple[TreeEnsemble, TreeEnsemble]:
        return (self.day1_real, self.day1_gal) if stage == "day1" else (self.dayN_real,
                                                                        self.dayN_gal)


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
    reasons: List[Optional[str]] = [None] * n
    for i in np.flatnonzero((lengths == 0) | bad_time | (n_det == 0) | (n_mag == 0) | no_t0):
        if lengths[i] == 0:
            reasons[i] = "empty history: no detection or non-detection"
        elif bad_time[i]:
            reasons[i] = "non-finite observation time (mjd)"
        elif n_det[i] == 0:
            reasons[i] = "no detection in the history"
        elif n_mag[i] == 0:
            reasons[i] = "no finite magnitude among the detections (NaN everywhere)"
        else:
            reasons[i] = "no phase zero (t0)"
    return reasons


class Pipeline:
    """Scores alerts with the VRA models and policies, remembering objects in ``state``.

    ``ebv``: E(B-V) to use where an alert has none (else the SFD map is looked up);
    ``ebv_map``: a :class:`~vra_filters.dust.EbvMap` to look it up in (default: the shipped
    low-resolution SFD map, or ``$VRA_EBV_MAP``); ``oracle``: an ORACLE classifier, or a dict
    of them by survey, whose block is added to the annotations.
    """

    def __init__(self, policy: Optional[Policy] = None,
                 state: Union[StateStore, MemoryStore, None] = None,
                 models: Optional[VRAModels] = None, ebv: Optional[float] = None,
                 ebv_map: Any = None, with_features: bool = False, oracle: Any = None,
                 batch_size: int = 4096) -> None:
        self.policy = policy or Policy()
        self.state = state if state is not None else MemoryStore()
        self.models = models or VRAModels.load()
        self.ebv = ebv
        self._ebv_map = ebv_map
        self.with_features = with_features
        self.oracle = oracle
        self.batch_size = batch_size
        self._provenance = {stage: {"real": provenance(r), "gal": provenance(g)}
                            for stage in ("day1", "dayN")
                            for r, g in [self.models.pair(stage)]}
        #: Seconds spent per stage since construction (read by ``vra bench``).
        self.timings: Counter = Counter()

    @property
    def ebv_map(self):
        if self._ebv_map is None:
            from .dust import EbvMap
            self._ebv_map = EbvMap.load()
        return self._ebv_map

    def run(self, items: Iterable[Item]) -> Iterator[Result]:
        """Annotations (or skips) for a stream of light curves, in input order."""
        batch: List[Item] = []
        for item in items:
            batch.append(item)
            if len(batch) >= self.batch_size:
                yield from self.score_batch(batch)
                batch = []
        if batch:
            yield from self.score_batch(batch)

    # ------------------------------------------------------------------ one batch

    def score_batch(self, items: Sequence[Item]) -> List[Result]:
        results: List[Optional[Result]] = [None] * len(items)
        todo: List[int] = []
        for i, item in enumerate(items):
            if isinstance(item, Skip):
                results[i] = item
            else:
                todo.append(i)
        lcs: List[LightCurve] = [items[i] for i in todo]  # type: ignore[misc]
        # One batch for validation and features; row j of it is lcs[j].
        batch = LightCurveBatch.from_lightcurves(lcs)
        reasons = validate(batch)
        for j, reason in enumerate(reasons):
            if reason is not None:
                results[todo[j]] = Skip(_source(lcs[j]), reason)

        # Alerts already scored: re-emit the stored record, no new visit.
        keys = [(lc.survey, lc.object_id, lc.alert_id) for lc in lcs]
        histories = self.state.histories([(lc.survey, lc.object_id) for lc in lcs])
        # Only objects with a history can have alerts scored before.
        stored = self.state.annotations([k for k in keys if k[:2] in histories])
        seen: Dict[Tuple[str, str, str], int] = {}
        fresh: List[int] = []
        for j, key in enumerate(keys):
            if reasons[j] is not None:
                continue
            if key in stored:
                results[todo[j]] = dict(stored[key], status="duplicate")
            elif key in seen:
                continue  # filled in after the first copy is scored
            else:
                seen[key] = j
                fresh.append(j)

        new_visits, stages = self._plan(lcs, fresh, histories)
        clock = time.perf_counter()
        self._fill_ebv([lcs[j] for j in fresh])
        clock = self._tick("ebv", clock)
        feats = F.compute(batch)
        clock = self._tick("features", clock)
        oracle_blocks = self._oracle([lcs[j] for j in fresh])
        clock = self._tick("oracle", clock)

        new_alerts = []
        touched: Dict[Tuple[str, str], ObjectHistory] = {}
        # Scores per fresh alert k (row fresh[k] of the feature matrices).
        p_real = np.full(len(fresh), np.nan)
        p_gal = np.full(len(fresh), np.nan)
        why: List[str] = [""] * len(fresh)
        for stage in ("day1", "dayN"):
            rows = [k for k, st in enumerate(stages) if st == stage]
            if not rows:
                continue
            X = self._matrix(feats, stage)[[fresh[k] for k in rows]]
            real, gal = self.models.pair(stage)
            p_real[rows] = real.predict_proba(X)[:, 1]
            p_gal[rows] = gal.predict_proba(X)[:, 1]
            effect = real.contributions(X) - gal.contributions(X)
            for k, line in zip(rows, explanations(real.feature_names, X, effect)):
                why[k] = line

        clock = self._tick("scorers", clock)
        scores = vra_score(p_real, p_gal, self.policy.vra_f)
        gal_cand = galactic_candidate(p_real, p_gal, self.policy.gal_f, self.policy.gal_radius)
        pol = self.policy
        for k, j in enumerate(fresh):
            lc = lcs[j]
            new_visit, stage = new_visits[k], stages[k]
            if stage == "dayN" and feats.dayN_empty[j]:
                results[todo[j]] = Skip(_source(lc), "no point in the day-N window "
                                        "[-5, 15) days around phase zero")
                continue
            key = (lc.survey, lc.object_id)
            hist = touched.get(key) or histories.get(key) or ObjectHistory()
            score = float(scores[k])
            rank = pol.tns_rank if lc.context.tns_name else score
            gal_flag = bool(gal_cand[k]) and (rank < pol.eyeball_threshold
                                              or not pol.gal_below_threshold_only)
            if new_visit:
                hist.add_visit(rank, lc.alert_mjd)
                hist.garbage = hist.garbage or is_garbage(hist, pol)
                touched[key] = hist
            the_tier = tier(rank, gal_flag, lc.context.distance_mpc, hist, lc.alert_mjd, pol,
                            phase=lc.alert_mjd - lc.t0) if hist.n_visits else "purgatory"
            features = None
            if self.with_features:
                names = self.models.pair(stage)[0].feature_names
                features = dict(zip(names, self._matrix(feats, stage)[j].tolist()))
            record = annotation(
                lc, stage=stage, visit=hist.n_visits, p_real=p_real[k], p_gal=p_gal[k],
                vra_score=score, rank=rank, galactic=gal_flag, tier=the_tier,
                status="new" if new_visit else "out_of_order",
                models=self._provenance[stage], explanation=why[k], policy=pol.name,
                features=features,
                oracle=oracle_blocks[k] if oracle_blocks is not None else None)
            results[todo[j]] = record
            new_alerts.append((lc.survey, lc.object_id, lc.alert_id, lc.alert_mjd,
                               hist.n_visits if new_visit else None, record))

        for j, key in enumerate(keys):  # in-batch duplicates copy their first twin
            if results[todo[j]] is None and key in seen:
                first = results[todo[seen[key]]]
                results[todo[j]] = (dict(first, status="duplicate") if isinstance(first, dict)
                                    else first)
        clock = self._tick("policies", clock)
        self.state.commit(touched, new_alerts, self._oracle_states)
        self._tick("state", clock)
        return results  # type: ignore[return-value]

    @staticmethod
    def _matrix(feats: F.VRAFeatures, stage: str) -> np.ndarray:
        return feats.day1 if stage == "day1" else feats.dayN

    def _tick(self, stage: str, since: float) -> float:
        now = time.perf_counter()
        self.timings[stage] += now - since
        return now

    def _plan(self, lcs: List[LightCurve], fresh: List[int],
              histories: Dict[Tuple[str, str], ObjectHistory]) -> Tuple[List[bool], List[str]]:
        """Whether each fresh alert is a new visit, and its stage, walking the alerts in
        delivery order: the first visit of an object (on its first night) uses day 1."""
        n_visits = {k: h.n_visits for k, h in histories.items()}
        last = {k: h.last_mjd for k, h in histories.items()}
        new_visits: List[bool] = []
        stages: List[str] = []
        for j in fresh:
            lc = lcs[j]
            key = (lc.survey, lc.object_id)
            visits = n_visits.get(key, 0)
            new = lc.alert_mjd > last.get(key, -math.inf)
            first_night = lc.alert_mjd - lc.t0 < 1.0
            stage = "day1" if visits == 0 and first_night else "dayN"
            if new:
                n_visits[key] = visits + 1
                last[key] = lc.alert_mjd
            new_visits.append(new)
            stages.append(stage)
        return new_visits, stages

    def _fill_ebv(self, lcs: List[LightCurve]) -> None:
        missing = [lc for lc in lcs if math.isnan(lc.context.ebv)]
        if not missing:
            return
        if self.ebv is not None:
            for lc in missing:
                lc.context.ebv = float(self.ebv)
                lc.context.ebv_source = "--ebv"
            return
        m = self.ebv_map
        values = m(np.array([lc.context.ra for lc in missing]),
                   np.array([lc.context.dec for lc in missing]))
        for lc, v in zip(missing, values):
            lc.context.ebv = float(v)
            lc.context.ebv_source = m.name

    def _oracle(self, lcs: List[LightCurve]) -> Optional[List[Optional[dict]]]:
        """ORACLE blocks, by survey when ``oracle`` maps surveys to classifiers. The new
        per-object GRU states wait in ``_oracle_states`` for the batch's transaction."""
        self._oracle_states: List[tuple] = []
        if not self.oracle:
            return None
        route = self.oracle if isinstance(self.oracle, dict) else None
        by_survey: Dict[str, List[int]] = {}
        for i, lc in enumerate(lcs):
            by_survey.setdefault(lc.survey, []).append(i)
        blocks: List[Optional[dict]] = [None] * len(lcs)
        for survey, idx in by_survey.items():
            oracle = route.get(survey) if route is not None else self.oracle
            if oracle is None:
                continue
            found = oracle.annotate([lcs[i] for i in idx], self.state, commit=False)
            self._oracle_states.extend(oracle.pending_states)
            for i, block in zip(idx, found):
                blocks[i] = block
        return blocks


def _source(lc: LightCurve) -> str:
    return f"{lc.survey}:{lc.object_id}:{lc.alert_id}"
