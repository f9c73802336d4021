"""One call of :meth:`vra_filters.Scorer.score`: the work list and the stages over it.

The stages run vectorised over the batch -- validation, E(B-V), features, ORACLE, the trees --
then the policies walk each object's alerts in time order. Each stage runs behind one guard:
if it raises, the alerts that make it raise are found and skipped with the reason, and the
stage runs again on the rest. Nothing here does I/O.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Dict,
    Iterable,
    List,
    Optional,
    Tuple,
    Union,
)

import numpy as np

from . import features as F
from .annotations import Annotation, explanations, make_annotation
from .history import visits
from .lightcurve import LightCurve, LightCurveBatch
from .policies import ObjectHistory, context_rules, is_garbage, tier
from .readers import Skip
from .score import galactic_candidate, vra_score
from .state import Key, ObjectState
from .validation import validate, validate_prefixes

if TYPE_CHECKING:  # pragma: no cover
    from .scorer import Scorer


@dataclass
class ScoreResult:
    """What :meth:`Scorer.score` returns.

    ``results``: one :class:`Annotation` or :class:`Skip` per input, in input order;
    ``states``: the new :class:`ObjectState` of every object the batch changed."""

    results: List[Union[Annotation, Skip]]
    states: Dict[Key, ObjectState]

    @property
    def annotations(self) -> List[Annotation]:
        return [r for r in self.results if isinstance(r, Annotation)]

    @property
    def skips(self) -> List[Skip]:
        return [r for r in self.results if isinstance(r, Skip)]


def _source(lc: LightCurve) -> str:
    return f"{lc.survey}:{lc.object_id}:{lc.alert_id}"


def _why(stage: str, exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
    return f"{stage} failed: {type(exc).__name__}" + (f": {text}" if text else "")


class Batch:
    """One call of :meth:`Scorer.score`: the work list and the stages over it.

    Work item j is one alert to score: an input (``emit[j]`` = its input index) or, in packet
    mode, an earlier alert replayed from an input's history (``emit[j]`` None: it updates the
    object's history but is not annotated)."""

    def __init__(self, scorer: Scorer, items: List[Any], prior: Dict[Key, ObjectState],
                 history: str) -> None:
        self.s = scorer
        self.items = items
        self.prior = prior
        self.packet = history == "packet"
        self.results: List[Any] = [None] * len(items)
        self.lcs: List[LightCurve] = []
        self.emit: List[Optional[int]] = []
        self.dead: Dict[int, str] = {}  # work index -> why it cannot be scored
        # packet replays (validated in _collect) -> (input, start, stop) of the points they carry
        self.points_key: Dict[int, Tuple[int, int, int]] = {}

    # -- helpers
    def _fail(self, j: int, reason: str) -> None:
        self.dead.setdefault(j, reason)

    def _alive(self, idx: Iterable[int]) -> List[int]:
        return [j for j in idx if j not in self.dead]

    def _guard(self, stage: str, idx: List[int], fn: Callable[[List[int]], Any]):
        """``fn`` over work items ``idx``; if it raises, find the items that make it raise
        (each then fails with the reason) and run it again on the rest."""
        try:
            return idx, fn(idx)
        except Exception:  # noqa: BLE001 - the boundary: isolate the culprit below
            pass
        ok = []
        for j in idx:
            try:
                fn([j])
                ok.append(j)
            except Exception as exc:  # noqa: BLE001
                self._fail(j, _why(stage, exc))
        try:
            return ok, fn(ok)
        except Exception as exc:  # noqa: BLE001 - fails only together: fail them all
            for j in ok:
                self._fail(j, _why(stage, exc))
            return [], None

    # -- the stages
    def run(self) -> ScoreResult:
        s = self.s
        clock = time.perf_counter()
        self._collect()
        if self.packet:  # replaying the packets' histories (visits), its own line
            clock = s._tick("history", clock)
        first = self._dedupe()
        idx = self._alive(first)
        self._fill_ebv(idx)
        clock = s._tick("ebv", clock)
        # One concatenated batch serves validation and the features (rebuilt only when
        # validation drops an alert).
        batches: Dict[Tuple[int, ...], LightCurveBatch] = {}

        def batch_of(ix: List[int]) -> LightCurveBatch:
            key = tuple(ix)
            if key not in batches:
                batches.clear()
                batches[key] = LightCurveBatch.from_lightcurves([self.lcs[j] for j in ix])
            return batches[key]

        unchecked = [j for j in idx if j not in self.points_key]  # replays: done in _collect
        unchecked, reasons = self._guard("validation", unchecked,
                                         lambda ix: validate(batch_of(ix)))
        for j, why in zip(unchecked, reasons or []):
            if why is not None:
                self._fail(j, why)
        idx = self._alive(idx)
        idx, feats, row = self._features(idx, batch_of)
        clock = s._tick("features", clock)
        order = self._time_order(idx)
        blocks, oracle_states = self._oracle(order)
        clock = s._tick("oracle", clock)
        for _attempt in range(3):
            plan = self._plan(order, feats, row)
            probs = self._trees(plan, feats, row)
            if all(j not in self.dead for j in plan):
                break
            order = self._alive(order)
        clock = s._tick("scorers", clock)
        states = self._policies(plan, probs, feats, row, blocks, oracle_states)
        self._finish(first)
        s._tick("policies", clock)
        return ScoreResult(self.results, states)

    def _features(self, idx: List[int], batch_of):
        """``(idx, features, row)``: the features of the alive work items (``row[j]``: item
        j's row). Packet replays with the same points share their light-curve features."""
        def compute(ix: List[int]):
            keys = [self.points_key.get(j) for j in ix]
            if all(k is None for k in keys):
                return F.compute(batch_of(ix))
            return F.compute_shared([self.lcs[j] for j in ix], _twins(keys))

        idx, feats = self._guard("features", idx, compute)
        return idx, feats, {j: r for r, j in enumerate(idx)}

    def _collect(self) -> None:
        for i, item in enumerate(self.items):
            if isinstance(item, Skip):
                self.results[i] = item
                continue
            if not isinstance(item, LightCurve):
                self.results[i] = Skip(f"item {i}", f"not a light curve: {type(item).__name__}")
                continue
            if not self.packet:
                self._add(item, i)
                continue
            try:
                # A replayed alert only updates the history through its features, which read
                # the points inside FEATURE_PHASES: replays carry those alone (validated on
                # all their points below), and the ones past the windows carry the same
                # points and share one feature row (run): linear in the packet's length.
                keep = tuple(int(k) for k in np.searchsorted(
                    item.mjd - item.t0, F.FEATURE_PHASES, side="left"))
                if math.isnan(item.context.ebv):  # once, not once per replay
                    (item,) = self._with_ebv([item])
                earlier = visits(item, keep)
            except Exception as exc:  # noqa: BLE001
                self.results[i] = Skip(_source(item), _why("replaying the packet history", exc))
                continue
            if not earlier:
                self._add(item, i)  # validation says why
                continue
            p = self.prior.get((item.survey, item.object_id))
            last = p.last_mjd if p is not None else -math.inf
            replays = [lc for lc in earlier[:-1] if lc.alert_mjd > last]
            lengths = np.searchsorted(item.mjd, [r.alert_mjd for r in replays], side="right")
            for lc, k, why in zip(replays, lengths.tolist(),
                                  validate_prefixes(item, lengths)):
                self._add(lc, None)
                j = len(self.lcs) - 1
                if why is not None:
                    self._fail(j, why)
                self.points_key[j] = (i, keep[0], min(k, keep[1]))
            self._add(earlier[-1], i)

    def _add(self, lc: LightCurve, emit: Optional[int]) -> None:
        self.lcs.append(lc)
        self.emit.append(emit)

    def _dedupe(self) -> List[int]:
        """Work items to score: the first copy of each alert; later copies of an annotated
        alert are filled in from it (``_finish``), replayed ones are dropped."""
        self.twin: Dict[int, int] = {}
        emitted: Dict[Tuple[str, str, str], int] = {}
        for j, (lc, e) in enumerate(zip(self.lcs, self.emit)):
            if e is not None:
                key = (lc.survey, lc.object_id, lc.alert_id)
                if key in emitted:
                    self.twin[j] = emitted[key]
                else:
                    emitted[key] = j
        seen = set(emitted)
        first = []
        for j, (lc, e) in enumerate(zip(self.lcs, self.emit)):
            key = (lc.survey, lc.object_id, lc.alert_id)
            if e is not None:
                if j not in self.twin:
                    first.append(j)
            elif key not in seen:
                seen.add(key)
                first.append(j)
        return first

    def _time_order(self, idx: List[int]) -> List[int]:
        """Work items grouped by object (first appearance), each object's in time order."""
        groups: Dict[Key, List[int]] = {}
        for j in idx:
            lc = self.lcs[j]
            groups.setdefault((lc.survey, lc.object_id), []).append(j)
        out: List[int] = []
        for members in groups.values():
            out.extend(sorted(members, key=lambda j: self.lcs[j].alert_mjd))
        return out

    def _fill_ebv(self, idx: List[int]) -> None:
        """Alerts without E(B-V) get a copy of their light curve with it filled in (the
        caller's objects are not touched)."""
        missing = [j for j in idx if math.isnan(self.lcs[j].context.ebv)]
        for j, lc in zip(missing, self._with_ebv([self.lcs[j] for j in missing])):
            self.lcs[j] = lc

    def _with_ebv(self, lcs: List[LightCurve]) -> List[LightCurve]:
        """Copies of ``lcs`` with E(B-V) filled in (from ``--ebv`` or the dust map)."""
        if not lcs:
            return []
        s = self.s
        if s.ebv is not None:
            values = np.full(len(lcs), s.ebv)
            source = "--ebv"
        else:
            values = s.ebv_map(np.array([lc.context.ra for lc in lcs]),
                               np.array([lc.context.dec for lc in lcs]))
            source = s.ebv_map.name
        return [_with_context(lc, replace(lc.context, ebv=float(v), ebv_source=source))
                for lc, v in zip(lcs, values)]

    def _oracle(self, order: List[int]):
        """ORACLE blocks for the annotated alerts, by survey, and the new GRU states. Where
        the survey has a fallback (``Scorer.oracle_fallbacks``), the alerts whose packet lacks
        the host galaxy magnitudes its model needs go to that one, ``routed`` saying why; each
        model continues its own state (``state_name``): objects may switch."""
        s = self.s
        blocks: Dict[int, dict] = {}
        new_states: Dict[Key, Dict[str, bytes]] = {}
        by_survey: Dict[str, List[int]] = {}
        for j in order:
            if self.emit[j] is not None or not self.packet:
                by_survey.setdefault(self.lcs[j].survey, []).append(j)
        for survey, idx in by_survey.items():
            oracle, fallback = s.oracles.get(survey), s.oracle_fallbacks.get(survey)
            runs = [(oracle, idx, None)] if oracle is not None else []
            if oracle is not None and fallback is not None:
                idx, missing = self._guard("ORACLE", idx, lambda ix, o=oracle: o.host_missing(
                    [self.lcs[j] for j in ix]))
                missing = [] if missing is None else missing  # None: no alert left
                runs = [(oracle, [j for j, m in zip(idx, missing) if not m], None),
                        (fallback, [j for j, m in zip(idx, missing) if m],
                         f"no host galaxy magnitudes: {fallback.model}")]
            for model, ix, routed in runs:
                name = model.state_name
                keys = {(self.lcs[j].survey, self.lcs[j].object_id) for j in ix}
                states = {k: _oracle_state(self.prior.get(k), name) for k in keys}
                ix, out = self._guard("ORACLE", ix, lambda i, o=model, st=states: o.annotate(
                    [self.lcs[j] for j in i], st))
                for j, block in zip(ix, out[0] if out is not None else []):
                    blocks[j] = block if routed is None else dict(block, routed=routed)
                for k, st in (out[1] if out is not None else {}).items():
                    new_states.setdefault(k, {})[name] = st.to_bytes()
        return blocks, new_states

    def _plan(self, order: List[int], feats: F.VRAFeatures, row: Dict[int, int]):
        """Each alert's stage and whether it is a new visit, walking objects in time order:
        the first visit of an object on its first night uses day 1."""
        plan: Dict[int, Tuple[str, bool]] = {}
        n_visits: Dict[Key, int] = {}
        last: Dict[Key, float] = {}
        for j in order:
            if j in self.dead:
                continue
            lc = self.lcs[j]
            key = (lc.survey, lc.object_id)
            if key not in n_visits:
                p = self.prior.get(key)
                n_visits[key] = p.n_visits if p is not None else 0
                last[key] = p.last_mjd if p is not None else -math.inf
            stage = "day1" if n_visits[key] == 0 and lc.alert_mjd - lc.t0 < 1.0 else "dayN"
            if stage == "dayN" and feats.dayN_empty[row[j]]:
                self._fail(j, "no point in the day-N window [-5, 15) days around phase zero")
                continue
            new = lc.alert_mjd > last[key]
            if new:
                n_visits[key] += 1
                last[key] = lc.alert_mjd
            plan[j] = (stage, new)
        return plan

    def _trees(self, plan, feats: F.VRAFeatures, row: Dict[int, int]):
        """p_real, p_gal and (for annotated alerts) the explanation of each planned alert."""
        s = self.s
        probs: Dict[int, Tuple[float, float, str]] = {}
        for stage, models in [(st, m) for st in ("day1", "dayN") for m in s._families()]:
            idx = [j for j, (st, _) in plan.items()
                   if st == stage and s.models_for(self.lcs[j].survey) is models]
            if not idx:
                continue
            matrix = feats.day1 if stage == "day1" else feats.dayN
            real, gal = models.pair(stage)

            def run(ix, matrix=matrix, real=real, gal=gal):
                X = matrix[[row[j] for j in ix]]
                shown = [k for k, j in enumerate(ix) if self.emit[j] is not None]
                # each tree's exit leaf found once, for the score and for the explanation
                pr, real_effect = real.predict_explain(X, shown)
                pg, gal_effect = gal.predict_explain(X, shown)
                why = [""] * len(ix)
                if shown:
                    lines = explanations(real.feature_names, X[shown], real_effect - gal_effect)
                    for k, line in zip(shown, lines):
                        why[k] = line
                return pr[:, 1], pg[:, 1], why

            idx, out = self._guard("scorers", idx, run)
            if out is not None:
                for j, pr, pg, why in zip(idx, out[0], out[1], out[2]):
                    probs[j] = (float(pr), float(pg), why)
        return probs

    def _policies(self, plan, probs, feats, row, blocks, oracle_states) -> Dict[Key, ObjectState]:
        s = self.s
        pol = s.policy
        hist: Dict[Key, ObjectHistory] = {}
        touched = set()
        # eq. 2 and the galactic circle for the whole batch at once
        scored = [j for j in plan if j not in self.dead]
        pr_all = np.array([probs[j][0] for j in scored])
        pg_all = np.array([probs[j][1] for j in scored])
        score_of = dict(zip(scored, vra_score(pr_all, pg_all, pol.vra_f).tolist()))
        gal_of = dict(zip(scored, galactic_candidate(pr_all, pg_all, pol.gal_f,
                                                     pol.gal_radius).tolist()))
        for j, (stage, new) in plan.items():  # plan is in per-object time order
            if j in self.dead:
                continue
            lc = self.lcs[j]
            key = (lc.survey, lc.object_id)
            if key not in hist:
                p = self.prior.get(key)
                hist[key] = p.history() if p is not None else ObjectHistory()
            h = hist[key]
            p_real, p_gal, why = probs[j]
            score = score_of[j]
            gal_cand = gal_of[j]
            rank, gal_flag, catalogued, reason = context_rules(score, gal_cand, lc.context, pol)
            if reason:
                why = f"{reason}; {why}" if why else reason
            if new:
                h.add_visit(rank, lc.alert_mjd)
                h.garbage = h.garbage or is_garbage(h, pol)
                touched.add(key)
            if self.emit[j] is None:
                continue
            the_tier = (tier(rank, gal_flag, lc.context.distance_mpc, h, lc.alert_mjd, pol,
                             phase=lc.alert_mjd - lc.t0, catalogued=catalogued)
                        if h.n_visits else "purgatory")
            features = None
            if s.with_features:
                names = s.models.pair(stage)[0].feature_names
                matrix = feats.day1 if stage == "day1" else feats.dayN
                features = dict(zip(names, matrix[row[j]].tolist()))
            ctx = lc.context
            self.results[self.emit[j]] = make_annotation(
                object_id=lc.object_id, alert_id=lc.alert_id, survey=lc.survey,
                mjd=lc.alert_mjd, t0=lc.t0, visit=h.n_visits, stage=stage, p_real=p_real,
                p_gal=p_gal, vra_score=score, rank=rank, galactic=gal_flag, tier=the_tier,
                status="new" if new else "out_of_order", tns_name=ctx.tns_name,
                distance_mpc=ctx.distance_mpc, ebv=ctx.ebv,
                ebv_source=ctx.ebv_source, explanation=why,
                models=s._survey_provenance.get(lc.survey, s._provenance)[stage],
                policy=pol.name, settings=s.fingerprint, features=features,
                oracle=blocks.get(j))
            touched.add(key)
        states: Dict[Key, ObjectState] = {}
        for key in touched:
            p = self.prior.get(key)
            models = dict(p.oracle) if p is not None else {}
            models.update(oracle_states.get(key, {}))
            states[key] = ObjectState.from_history(key[0], key[1], hist[key], models)
        return states

    def _finish(self, first: List[int]) -> None:
        """Skips for annotated alerts that failed; later copies of an alert take the first."""
        for j, why in self.dead.items():
            i = self.emit[j]
            if i is not None and self.results[i] is None:
                self.results[i] = Skip(_source(self.lcs[j]), why)
        for j, k in self.twin.items():
            i, done = self.emit[j], self.results[self.emit[k]]
            self.results[i] = (done.replace(status="duplicate")
                               if isinstance(done, Annotation) else done)
        for i, r in enumerate(self.results):
            if r is None:  # cannot happen; never lose an alert silently
                self.results[i] = Skip(f"item {i}", "internal error: alert was not scored")


def _twins(keys: List[Optional[Tuple[int, int, int]]]) -> List[int]:
    """Position of the first item with the same points key (None: the item itself)."""
    first: Dict[Tuple[int, int, int], int] = {}
    return [r if k is None else first.setdefault(k, r) for r, k in enumerate(keys)]


def _with_context(lc: LightCurve, context) -> LightCurve:
    """A shallow copy of ``lc`` with another context (arrays shared, never written)."""
    out = object.__new__(LightCurve)
    out.__dict__.update(lc.__dict__)
    out.context = context
    return out


def _oracle_state(prior: Optional[ObjectState], name: str):
    """The prior's ORACLE state of that name, decoded (None if absent or unreadable: the
    state is then rebuilt from the light curve)."""
    if prior is None or name not in prior.oracle:
        return None
    from .oracle import OracleState
    try:
        return OracleState.from_bytes(prior.oracle[name])
    except (ValueError, KeyError, TypeError):
        return None
