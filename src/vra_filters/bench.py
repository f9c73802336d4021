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

    say("")
    report.update(_user_figures(records, n_alerts, oracle, say))

    if oracle:
        from vra_dev.oracle.bench import bench as oracle_bench
        # The whole pipeline as `vra score` runs it on LSST: with ORACLE's deployed variant,
        # incremental (each object's GRU state kept in the store).
        with_oracle = Scorer.load(oracle={"lsst": "elasticc"})
        deployed = with_oracle.oracles["lsst"]
        fresh = _replicate(lcs[: len(records)], n_alerts)
        stream = Stream(with_oracle, SQLiteStore(":memory:"))
        with_oracle.timings.clear()
        t = time.perf_counter()
        done = list(stream.run(fresh))
        total = time.perf_counter() - t
        n_ok = stream.counts["new"] + stream.counts["out_of_order"]
        report["pipeline_with_oracle"] = {
            "alerts_per_s": _rate(len(done), total), "scored": n_ok,
            "oracle_variant": deployed.variant,
            "stage_alerts_per_s": dict(
                {k: _rate(len(done), v) for k, v in with_oracle.timings.items() if v > 0},
                state=_rate(len(done), total - sum(with_oracle.timings.values())))}
        say(f"+ ORACLE     {report['pipeline_with_oracle']['alerts_per_s']:>12,.0f} alerts/s  "
            f"(end to end with ORACLE elasticc {deployed.variant}, new objects)")
        report["oracle"] = oracle_bench(lcs[: len(records)], quiet=quiet)
    return report


# ------------------------------------------------------------------------- what a user gets


def _write_lasair_file(records: List[dict], n: int, path: str) -> int:
    """The sample's Lasair messages as JSON lines, replicated to ``n`` distinct objects."""
    import json
    written = 0
    with open(path, "w") as fh:
        copy = 0
        while written < n:
            for rec in records:
                # a distinct object per copy (ids stay within int64, as real ones do)
                doc = dict(rec, diaObjectId=int(rec["diaObjectId"]) + copy * 10 ** 12)
                fh.write(json.dumps(doc) + "\n")
                written += 1
                if written >= n:
                    break
            copy += 1
    return written


class _Timed:
    """A store or sink whose calls add their wall time to ``spent[name]``."""

    def __init__(self, inner, spent: Dict[str, float], name: str) -> None:
        self._inner, self._spent, self._name = inner, spent, name

    def __getattr__(self, attr: str):
        fn = getattr(self._inner, attr)
        if not callable(fn):
            return fn

        def timed(*args, **kwargs):
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self._spent[self._name] = (self._spent.get(self._name, 0.0)
                                           + time.perf_counter() - t)
        return timed


def _timed_iter(items, spent: Dict[str, float]):
    """``items``, the time spent producing them (reading) added to ``spent["read"]``."""
    it = iter(items)
    spent.setdefault("read", 0.0)
    while True:
        t = time.perf_counter()
        try:
            item = next(it)
        except StopIteration:
            spent["read"] += time.perf_counter() - t
            return
        spent["read"] += time.perf_counter() - t
        yield item


def _peak_rss_mb(argv: List[str]) -> Dict:
    """Run ``vra ARGV`` in a child process: its wall time and peak RSS (MB)."""
    import subprocess
    import sys
    t = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "vra_filters.cli"] + argv,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status) if hasattr(
        os, "waitstatus_to_exitcode") else status
    kb = usage.ru_maxrss  # kilobytes on Linux
    return {"seconds": time.perf_counter() - t, "peak_rss_mb": kb / 1024.0,
            "exit_code": child.returncode}


def _user_figures(records: List[dict], n_alerts: int, oracle: bool, say) -> Dict:
    """End to end from a file, peak memory, batch-of-one latency, state cost by history."""
    import tempfile

    from .annotations import JsonLinesSink
    from .history import visits
    from .readers import iter_read, lasair
    from .scorer import Scorer
    from .state import SQLiteStore
    from .stream import Stream

    out: Dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "alerts.jsonl")
        n = _write_lasair_file(records, n_alerts, path)
        scorer = Scorer.load(oracle="auto" if oracle else "none")
        spent: Dict[str, float] = {}
        with SQLiteStore(os.path.join(tmp, "state.sqlite")) as store, \
                open(os.devnull, "w") as devnull:
            stream = Stream(scorer, _Timed(store, spent, "state"),
                            _Timed(JsonLinesSink(devnull, owned=False), spent, "write"))
            scorer.timings.clear()
            t = time.perf_counter()
            done = sum(1 for _ in stream.run(_timed_iter(iter_read([path], "lasair"), spent)))
            seconds = time.perf_counter() - t
        spent.update(scorer.timings)
        spent["other"] = seconds - sum(spent.values())
        us = {k: 1e6 * v / max(1, done) for k, v in spent.items()}
        out["end_to_end"] = {
            "alerts_per_s": _rate(done, seconds), "alerts": n, "oracle": oracle,
            "what": "Lasair JSON lines file -> read -> score -> SQLite state -> JSON lines",
            "us_per_alert": us}
        say(f"end to end   {out['end_to_end']['alerts_per_s']:>12,.0f} alerts/s  "
            f"(file -> read -> score{' + ORACLE' if oracle else ''} -> state -> write)")
        say("             where the time goes, us/alert: " + ", ".join(
            f"{k} {v:,.0f}" for k, v in sorted(us.items(), key=lambda kv: -kv[1])))
        argv = ["score", path, "--quiet", "--out", os.devnull, "--state",
                os.path.join(tmp, "rss.sqlite")] + ([] if oracle else ["--oracle-model", "none"])
        out["vra_score_process"] = dict(_peak_rss_mb(argv), alerts=n)
        say(f"vra score    {out['vra_score_process']['peak_rss_mb']:>12,.0f} MB peak RSS "
            f"({n} alerts, {out['vra_score_process']['seconds']:.1f} s in a child process)")

    # Batch of one with a kept state (what ANTARES and a small-poll consumer see).
    lc = max((lasair.from_record(r) for r in records), key=lambda x: x.n_det)
    alerts = visits(lc)
    lat = []
    prior: Dict = {}
    for _ in range(3):
        prior = {}
        for a in alerts:
            t = time.perf_counter()
            res = scorer.score([a], prior)
            lat.append(time.perf_counter() - t)
            prior = res.states
    ms = np.array(lat[len(alerts):]) * 1000.0  # the first pass warms caches
    out["batch_of_one"] = {"median_ms": float(np.median(ms)), "p99_ms": float(np.percentile(ms, 99)),
                           "calls": int(ms.size), "history_points": len(lc)}
    say(f"batch of 1   {out['batch_of_one']['median_ms']:>12.2f} ms median, "
        f"{out['batch_of_one']['p99_ms']:.2f} ms p99 (kept state, {len(alerts)} alerts of one "
        "object)")

    # The store's cost per new alert with 0 and 1,000 alerts already stored for its object.
    out["state_cost"] = {}
    for stored in (0, 1000):
        with SQLiteStore(":memory:") as store:
            key = ("lsst", "obj")
            state = next(iter(scorer.score([lc]).states.values()))
            store.commit({key: state}, [(("lsst", "obj", f"old{i}"), "x", "{}")
                                        for i in range(stored)])
            reps = 500
            t = time.perf_counter()
            for i in range(reps):
                store.lookup([("lsst", "obj", f"new{i}")])
                store.load([key])
                store.commit({key: state}, [(("lsst", "obj", f"new{i}"), "x", "{}")])
            dt = time.perf_counter() - t
        out["state_cost"][f"{stored}_stored_alerts"] = {
            "alerts_per_s": _rate(reps, dt), "us_per_alert": 1e6 * dt / reps}
        say(f"state        {_rate(reps, dt):>12,.0f} alerts/s  (lookup + load + commit, one "
            f"alert per transaction, {stored} alerts stored for the object)")
    return out
