"""``vra bench``: throughput per stage, on one core, on real alerts.

The embedded LSST sample is replicated (each copy a distinct object, so every alert is a new
visit) to at least ``n_alerts`` alerts. Rates are alerts per second of wall time in this
process (numpy here runs single-threaded); ratios between stages and between runs on the same
machine are the meaningful figures, not the absolute numbers.
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import replace
from typing import Dict, List

import numpy as np

from .lightcurve import LightCurve, LightCurveBatch


def _sample_records():
    from .demo import SAMPLE
    from .readers import lasair
    return [r.data for r in lasair.iter_records(SAMPLE)]


def _replicate(lcs: List[LightCurve], n: int) -> List[LightCurve]:
    out: List[LightCurve] = []
    copy = 0
    while len(out) < n:
        for lc in lcs:
            out.append(replace(lc, object_id=f"{lc.object_id}-{copy}",
                               context=replace(lc.context)))
            if len(out) >= n:
                break
        copy += 1
    return out


def _rate(n: int, seconds: float) -> float:
    return float(n / seconds) if seconds > 0 else float("inf")


def run_bench(n_alerts: int = 10000, quiet: bool = False, oracle: bool = True) -> Dict:
    """Alerts/s for readers, features, scorers, policies and the whole pipeline."""
    from .pipeline import Pipeline, VRAModels
    from .readers import lasair
    from .state import StateStore

    def say(msg: str) -> None:
        if not quiet:
            print(msg, flush=True)

    records = _sample_records()
    report: Dict = {"alerts": 0, "machine": {"python": platform.python_version(),
                                             "numpy": np.__version__,
                                             "cpu": platform.processor() or platform.machine(),
                                             "cores_visible": os.cpu_count()}}

    # Readers: record dict -> LightCurve.
    reps = max(1, n_alerts // max(1, len(records)))
    t = time.perf_counter()
    base = [lasair.from_record(r) for _ in range(reps) for r in records]
    report["readers"] = {"alerts_per_s": _rate(len(base), time.perf_counter() - t),
                         "format": "lasair"}
    lcs = _replicate(base[: len(records)], n_alerts)
    report["alerts"] = len(lcs)
    say(f"readers      {report['readers']['alerts_per_s']:>12,.0f} alerts/s  (Lasair records)")

    models = VRAModels.load()
    ebv_pipeline = Pipeline(models=models)
    ebv_pipeline._fill_ebv(lcs)

    t = time.perf_counter()
    batch = LightCurveBatch.from_lightcurves(lcs)
    from . import features as F
    feats = F.compute(batch)
    report["features"] = {"alerts_per_s": _rate(len(lcs), time.perf_counter() - t)}
    say(f"features     {report['features']['alerts_per_s']:>12,.0f} alerts/s  (day-1 + day-N)")

    t = time.perf_counter()
    for stage, matrix in (("day1", feats.day1), ("dayN", feats.dayN)):
        for model in models.pair(stage):
            model.predict_proba(matrix)
    report["scorers"] = {"alerts_per_s": _rate(len(lcs), time.perf_counter() - t),
                         "models": 4, "trees_per_model": models.day1_real.n_trees}
    say(f"scorers      {report['scorers']['alerts_per_s']:>12,.0f} alerts/s  "
        f"(all 4 models on every alert)")

    # The whole pipeline: features, 2 scorers + explanations, policies, annotations, state.
    pipeline = Pipeline(models=models, state=StateStore(":memory:"))
    fresh = _replicate(lcs[: len(records)], n_alerts)
    t = time.perf_counter()
    results = list(pipeline.run(fresh))
    total = time.perf_counter() - t
    n_ok = sum(1 for r in results if isinstance(r, dict))
    stages = {k: _rate(len(fresh), v) for k, v in pipeline.timings.items() if v > 0}
    report["policies"] = {"alerts_per_s": stages.get("policies", float("inf")),
                          "note": "policy walk + annotation records"}
    report["state"] = {"alerts_per_s": stages.get("state", float("inf")), "store": "sqlite"}
    report["pipeline"] = {"alerts_per_s": _rate(len(fresh), total), "scored": n_ok,
                          "stage_alerts_per_s": stages}
    say(f"policies     {report['policies']['alerts_per_s']:>12,.0f} alerts/s  "
        "(policy walk + annotations)")
    say(f"state        {report['state']['alerts_per_s']:>12,.0f} alerts/s  (SQLite commit)")
    say(f"pipeline     {report['pipeline']['alerts_per_s']:>12,.0f} alerts/s  "
        f"(end to end, {n_ok} scored)")

    if oracle:
        from .oracle import Oracle
        from .oracle.bench import bench as oracle_bench
        # The whole pipeline as `vra score` runs it on LSST: with ORACLE's deployed variant,
        # incremental (each object's GRU state kept in the store).
        deployed = Oracle.load(model="elasticc")
        with_oracle = Pipeline(models=models, state=StateStore(":memory:"), oracle=deployed)
        fresh = _replicate(lcs[: len(records)], n_alerts)
        t = time.perf_counter()
        n_ok = sum(1 for r in with_oracle.run(fresh) if isinstance(r, dict))
        report["pipeline_with_oracle"] = {
            "alerts_per_s": _rate(len(fresh), time.perf_counter() - t), "scored": n_ok,
            "oracle_variant": deployed.variant}
        say(f"+ ORACLE     {report['pipeline_with_oracle']['alerts_per_s']:>12,.0f} alerts/s  "
            f"(end to end with ORACLE elasticc {deployed.variant}, new objects)")
        report["oracle"] = oracle_bench(lcs[: len(records)], quiet=quiet)
    return report
