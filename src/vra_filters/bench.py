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


def _packet_lightcurve(n_det: int, seed: int = 0) -> LightCurve:
    """A synthetic LSST alert whose packet carries ``n_det`` earlier detections (and as many
    forced-photometry upper limits) over 60 days."""
    rng = np.random.default_rng(seed)
    n = 2 * n_det + 1
    mjd = 61000.0 + np.sort(rng.uniform(0.0, 60.0, n))
    is_det = np.zeros(n, bool)
    is_det[rng.choice(n - 1, n_det, replace=False)] = True
    is_det[-1] = True
    mag = np.where(is_det, rng.normal(20.5, 0.4, n), 23.5)
    from .lightcurve import Context
    return LightCurve(object_id=f"packet{n_det}", survey="lsst", mjd=mjd, mag=mag,
                      magerr=np.where(is_det, 0.05, np.nan),
                      band=rng.choice(list("ugrizy"), n), is_det=is_det,
                      context=Context(ra=150.0, dec=2.0, ebv=0.02, rb=0.9),
                      alert_id=f"a{n_det}")


def run_bench(n_alerts: int = 10000, quiet: bool = False, oracle: bool = True) -> Dict:
    """Alerts/s for readers, features, scorers, policies and the whole pipeline."""
    from . import features as F
    from .readers import lasair
    from .scorer import Scorer
    from .state import SQLiteStore
    from .stream import Stream

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

    scorer = Scorer.load(oracle="none")
    models = scorer.models

    t = time.perf_counter()
    batch = LightCurveBatch.from_lightcurves(lcs)
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
    fresh = _replicate(lcs[: len(records)], n_alerts)
    stream = Stream(scorer, SQLiteStore(":memory:"))
    scorer.timings.clear()
    t = time.perf_counter()
    results = list(stream.run(fresh))
    total = time.perf_counter() - t
    n_ok = stream.counts["new"] + stream.counts["out_of_order"]
    stages = {k: _rate(len(fresh), v) for k, v in scorer.timings.items() if v > 0}
    state_s = total - sum(scorer.timings.values())
    report["policies"] = {"alerts_per_s": stages.get("policies", float("inf")),
                          "note": "policy walk + annotation records"}
    report["state"] = {"alerts_per_s": _rate(len(fresh), state_s), "store": "sqlite",
                       "note": "everything outside the scorer: lookup, load, commit"}
    report["pipeline"] = {"alerts_per_s": _rate(len(fresh), total), "scored": n_ok,
                          "stage_alerts_per_s": stages}
    assert len(results) == len(fresh)
    say(f"policies     {report['policies']['alerts_per_s']:>12,.0f} alerts/s  "
        "(policy walk + annotations)")
    say(f"state        {report['state']['alerts_per_s']:>12,.0f} alerts/s  (SQLite store)")
    say(f"pipeline     {report['pipeline']['alerts_per_s']:>12,.0f} alerts/s  "
        f"(end to end, {n_ok} scored)")

    # Packet mode: a stateless host replays each alert's own history through the policies.
    report["packet"] = {}
    for n_det in (10, 100, 1000):
        lc = _packet_lightcurve(n_det)
        reps = max(1, 2000 // n_det)
        t = time.perf_counter()
        for _ in range(reps):
            scorer.score([lc], history="packet")
        rate = _rate(reps, time.perf_counter() - t)
        report["packet"][f"{n_det}_earlier_detections"] = {"alerts_per_s": rate}
        say(f"packet       {rate:>12,.0f} alerts/s  ({n_det} earlier detections replayed)")

    if oracle:
        from vra_dev.oracle.bench import bench as oracle_bench
        # The whole pipeline as `vra score` runs it on LSST: with ORACLE's deployed variant,
        # incremental (each object's GRU state kept in the store).
        with_oracle = Scorer.load(oracle={"lsst": "elasticc"})
        deployed = with_oracle.oracles["lsst"]
        fresh = _replicate(lcs[: len(records)], n_alerts)
        stream = Stream(with_oracle, SQLiteStore(":memory:"))
        t = time.perf_counter()
        done = list(stream.run(fresh))
        n_ok = stream.counts["new"] + stream.counts["out_of_order"]
        report["pipeline_with_oracle"] = {
            "alerts_per_s": _rate(len(done), time.perf_counter() - t), "scored": n_ok,
            "oracle_variant": deployed.variant}
        say(f"+ ORACLE     {report['pipeline_with_oracle']['alerts_per_s']:>12,.0f} alerts/s  "
            f"(end to end with ORACLE elasticc {deployed.variant}, new objects)")
        report["oracle"] = oracle_bench(lcs[: len(records)], quiet=quiet)
    return report
