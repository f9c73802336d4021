"""The ORACLE evaluation itself: labelled objects -> per-phase predictions -> scores.

An object's state at phase +d days is its light curve cut to the points before
``t_first + d`` (``t_first`` = its first detection the model sees; upstream's ELAsTiCC test
cut is the same strict ``<``), classified with the static context of its latest alert issued
before the cut (else its first alert). The phases of one object are fed, in order, through
:meth:`Oracle.update_many` -- the incremental path a broker runs -- so each phase costs only
its new points; the result equals :meth:`Oracle.classify` on the cut light curve (to ~1e-6).
``"all"`` is the whole light curve.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Dict, List, Optional, Sequence, Union

import numpy as np

from ..lightcurve import LightCurve
from ..oracle import inputs as inp
from ..oracle import taxonomy as tx
from .oracle_metrics import confusion, scores

#: Days since the first detection the paper reports (2**0 ... 2**10), then the whole curve.
DAYS: tuple = tuple(float(2 ** k) for k in range(11))
ALL = "all"


@dataclass
class Target:
    """One labelled object: its alerts (time order) and the longest one's photometry."""

    object_id: str
    survey: str
    label: str
    alerts: List[LightCurve] = field(default_factory=list)

    @property
    def base(self) -> LightCurve:
        return max(self.alerts, key=len)

    def context_before(self, cut: float):
        """Context of the latest alert issued before ``cut`` (MJD), else of the first."""
        chosen = self.alerts[0]
        for lc in self.alerts:
            if lc.alert_mjd < cut:
                chosen = lc
        return chosen.context


def collect(items, labels: Dict[str, str]) -> tuple:
    """``(targets, counts)``: the labelled light curves grouped by (survey, object), and how
    many light curves were unlabelled and how many labels found no light curve."""
    by_key: Dict[tuple, Target] = {}
    unlabelled = 0
    for lc in items:
        if not isinstance(lc, LightCurve):
            continue
        label = labels.get(str(lc.object_id))
        if label is None:
            unlabelled += 1
            continue
        key = (lc.survey, str(lc.object_id))
        if key not in by_key:
            by_key[key] = Target(str(lc.object_id), lc.survey, label)
        by_key[key].alerts.append(lc)
    for t in by_key.values():
        t.alerts.sort(key=lambda lc: lc.alert_mjd)
    found = {t.object_id for t in by_key.values()}
    return list(by_key.values()), {"lightcurves_unlabelled": unlabelled,
                                   "labels_without_lightcurve": len(set(labels) - found)}


def fill_ebv(targets: Sequence[Target], ebv: Optional[float] = None, ebv_map=None) -> None:
    """E(B-V) for alerts that carry none, as the Scorer does (a fixed value or the dust map);
    only the ``derived`` static source reads it."""
    todo = [(t, i) for t in targets for i, lc in enumerate(t.alerts)
            if math.isnan(lc.context.ebv)]
    if not todo:
        return
    if ebv is not None:
        values, source = np.full(len(todo), float(ebv)), "--ebv"
    else:
        if ebv_map is None:
            from ..dust import default_map
            ebv_map = default_map()
        ra = np.array([t.alerts[i].context.ra for t, i in todo])
        dec = np.array([t.alerts[i].context.dec for t, i in todo])
        values, source = ebv_map(ra, dec), ebv_map.name
    for (t, i), v in zip(todo, values):
        lc = t.alerts[i]
        if math.isfinite(float(v)):
            t.alerts[i] = replace(lc, context=replace(lc.context, ebv=float(v),
                                                      ebv_source=source))


def phase_label(d: Union[float, str]) -> str:
    return d if isinstance(d, str) else f"+{d:g} d"


def predict(oracle, targets: Sequence[Target], days: Sequence[float] = DAYS,
            progress=None, fallback=None) -> dict:
    """Top class per level, ``n_detections`` and ``warnings`` of every target at every phase.

    ``fallback``: the ORACLE that ``Scorer.load(oracle="auto")`` runs instead of ``oracle`` on
    packets lacking the host description it needs (:meth:`~vra_filters.oracle.Oracle.
    host_missing`, decided per object and phase, as the scorer does per alert); each model
    keeps its own state.

    Returns ``{"phases": [...], "objects": [...], "skipped": {object: reason},
    "pred": {phase: {level: [class or None per object]}}, "domain": {phase: [dict]},
    "routed": {phase: objects given to the fallback}}``.
    """
    tax = oracle.taxonomy
    usable, first, skipped = [], [], {}
    for t in targets:
        try:
            node = tx.label_node(t.label, tax)
        except KeyError as exc:
            skipped[t.object_id] = str(exc.args[0])
            continue
        if node is None:
            skipped[t.object_id] = f"label {t.label!r} has no {tax.name} taxonomy node"
            continue
        try:
            rows = inp.rows_from_lightcurve(t.base, oracle.model, oracle.convention)
        except ValueError as exc:
            skipped[t.object_id] = str(exc)
            continue
        det = np.flatnonzero(rows.feats[:, 3] > 0)
        if not det.size:
            skipped[t.object_id] = "no detection the model can read"
            continue
        usable.append((t, node))
        first.append(float(rows.mjd[det[0]]))
    phases = list(days) + [ALL]
    states: list = [None] * len(usable)
    fb_states: list = [None] * len(usable)
    pred: dict = {}
    dom: dict = {}
    routed: dict = {}
    for d in phases:
        cuts = [math.inf if d == ALL else f + d for f in first]
        lcs = []
        for (t, _), cut in zip(usable, cuts):
            base = t.base
            lc = base if math.isinf(cut) else base.until(float(np.nextafter(cut, -np.inf)))
            ctx = t.context_before(cut)
            if ctx is not lc.context:
                lc = replace(lc, context=ctx)
            lcs.append(lc)
        key = phase_label(d)
        moved = (oracle.host_missing(lcs) if fallback is not None
                 else np.zeros(len(lcs), bool))
        results: list = [None] * len(lcs)
        for model, kept, which in ((oracle, states, ~moved), (fallback, fb_states, moved)):
            ix = np.flatnonzero(which).tolist()
            if ix:  # each object by the model that classifies it now, continuing its state
                res, new = model.update_many([kept[i] for i in ix], [lcs[i] for i in ix])
                for i, r, st in zip(ix, res, new):
                    results[i], kept[i] = r, st
        if fallback is not None:
            routed[key] = int(moved.sum())
        pred[key] = {lvl: [r["top"][lvl]["class"] if r["status"] == "ok" else None
                           for r in results] for lvl in tax.levels}
        dom[key] = [{"n_detections": r.get("n_detections"), "warnings": r.get("warnings", [])}
                    for r in results]
        if progress is not None:
            progress.update(1)
    return {"phases": [phase_label(d) for d in phases], "skipped": skipped,
            "objects": [t.object_id for t, _ in usable], "labels": [t.label for t, _ in usable],
            "nodes": [node for _, node in usable], "pred": pred, "domain": dom,
            "routed": routed}


def score_run(tax: tx.Taxonomy, run: dict) -> dict:
    """Scores per phase and level (see :mod:`.oracle_metrics`), confusion matrices (rows:
    true classes present; columns: every class of the level), domain-flag counts."""
    out = []
    for key in run["phases"]:
        levels = {}
        for lvl in tax.levels:
            classes = [tax.names[k] for k in tax.level_indices(lvl)]
            truth, got = [], []
            for node, p in zip(run["nodes"], run["pred"][key][lvl]):
                anc = tx.ancestor_at(tax, node, lvl)
                if anc is None or p is None:
                    continue
                truth.append(tax.names[anc])
                got.append(p)
            m = confusion(truth, got, classes)
            rec = scores(m, classes)
            present = [k for k in range(len(classes)) if m[k].sum()]
            rec["confusion"] = {"true": [classes[k] for k in present], "pred": classes,
                                "matrix": m[present].tolist()}
            levels[lvl] = rec
        dom = run["domain"][key]
        warn = Counter(w for x in dom for w in x["warnings"])
        ndet = [x["n_detections"] for x in dom if x["n_detections"] is not None]
        out.append({"phase": key, "n": len(dom), "levels": levels,
                    "warnings": {w: int(warn.get(w, 0)) for w in inp.WARNINGS},
                    "median_n_detections": float(np.median(ndet)) if ndet else None})
    return {"phases": out, "skipped": run["skipped"], "n_objects": len(run["objects"])}


def agreement(a: dict, b: dict, levels: Sequence[str]) -> dict:
    """Fraction of objects with the same top class in two runs over the same objects, per
    phase and level, and over all phases."""
    out: dict = {}
    pool: dict = {lvl: [] for lvl in levels}
    for key in a["phases"]:
        out[key] = {}
        for lvl in levels:
            same = [x == y for x, y in zip(a["pred"][key][lvl], b["pred"][key][lvl])
                    if x is not None and y is not None]
            pool[lvl] += same
            out[key][lvl] = float(np.mean(same)) if same else None
    out["all_phases"] = {lvl: float(np.mean(v)) if v else None for lvl, v in pool.items()}
    return out
