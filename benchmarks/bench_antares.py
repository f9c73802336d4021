#!/usr/bin/env python3
"""Per-locus latency of the ANTARES filter (``VirtualResearchAssistant.run``), one core.

Loci of 1, 10, 100 and 3,959 alerts: the first alerts of the devkit's real 3,959-alert ZTF
locus (the window ends on a detection: an upper-limit trigger is skipped in ~10 us and is not
what we time), and of the LSST locus built from a real 346-alert Rubin object (1, 10, 100,
346). Two cases per locus:

* ``warm`` -- the steady state on ANTARES: the locus carries ``vra_state`` from the filter's run
  on its previous alert, so the ORACLE advances its GRU state by the new rows only;
* ``cold`` -- no ``vra_state`` (the first alert the filter sees of an object that already has a
  history, e.g. right after deployment): the ORACLE runs over the whole light curve.

Each timed call is ``flt.run(locus)`` on a locus whose filter outputs are reset before every
call (``DevKitLocus`` construction is not timed: ANTARES builds it for every filter anyway).
Prints median and p99 per locus (and divided by the locus size) against the Rubin guideline
(~3 ms per incoming alert on average, RTN-090: one filter run per alert) and the goal (p99 <=
1 ms for loci of <= 100 alerts), with the mean time of each stage::

    python benchmarks/bench_antares.py [--repeat 500] [--json] [--cpu-time]

It imports the installed ``vra_filters`` and ``vra_antares`` (``pip install -e '.[test]'``).
The figures in adapters/vra_antares/README.md are from the ANTARES worker environment, Python
3.9 + numpy 1.26 (``tests/run.sh`` makes that virtualenv, ``.venv-py39``)::

    .venv-py39/bin/python benchmarks/bench_antares.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import numpy as np  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import antares_devkit  # noqa: E402, F401

from vra_antares.filter import VirtualResearchAssistant  # noqa: E402
from vra_antares.locus import locus_lightcurve  # noqa: E402
from vra_antares.samples import devkit_locus, first_alerts, read_loci  # noqa: E402

ANT = ROOT / "tests" / "data" / "antares"
SIZES = (1, 10, 100, 3959)
GUIDELINE_MS_PER_ALERT = 3.0
GOAL_P99_MS = 1.0
#: The clock of the run timings (``--cpu-time``: ``time.process_time``; the core's own
#: per-stage timings stay on the wall clock).
CLOCK = time.perf_counter


def end_on_detection(data: dict, n: int) -> int:
    """The largest m <= n whose m-th alert is a detection (ZTF upper limits are skipped)."""
    alerts = data["alerts"]
    m = min(n, len(alerts))
    while m > 1 and alerts[m - 1]["properties"].get("ant_survey") == 2:
        m -= 1
    return m


def prepared(flt, data: dict, n: int, warm: bool):
    """The locus at its n-th alert, with the filter's outputs of alert n-1 when warm."""
    carried: dict = {}
    if warm and n > 1:
        prev_n = end_on_detection(data, n - 1)
        prev = devkit_locus(first_alerts(data, prev_n))
        flt.run(prev)
        carried = {k: v for k, v in prev.user_properties.items() if k.startswith("vra_")}
    step = first_alerts(data, n)
    step["user_properties"] = carried
    return devkit_locus(step)


def time_runs(flt, locus, repeat: int):
    """Milliseconds of ``repeat`` calls (after a few untimed ones that warm caches up), and
    the seconds the core scorer spent per stage in them (``Scorer.timings``)."""
    props, tags = dict(locus.user_properties), set(locus.user_tags)
    times = []
    status = None
    warmup = max(3, repeat // 20)
    start = Counter()
    for i in range(warmup + repeat):
        if i == warmup:
            start = Counter(flt.scorer.timings)
        locus.user_properties = dict(props)
        locus.user_tags = set(tags)
        t = CLOCK()
        result = flt.run(locus)
        times.append(CLOCK() - t)
        status = result.status
    stages = Counter(flt.scorer.timings)
    stages.subtract(start)
    return np.array(times[-repeat:]) * 1e3, status, stages


def time_lightcurve(locus, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = CLOCK()
        locus_lightcurve(locus)
        times.append(CLOCK() - t)
    return float(np.median(times) * 1e3)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=500, help="timed runs per locus (<= 100 "
                    "alerts; a tenth of it, at least 30, for bigger loci)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--cpu-time", action="store_true",
                    help="time with the process's CPU time instead of the wall clock (steadier "
                         "on a shared machine: time spent waiting for the CPU is left out)")
    args = ap.parse_args(argv)
    global CLOCK
    if args.cpu_time:
        CLOCK = time.process_time

    clock = CLOCK()
    flt = VirtualResearchAssistant()
    setup_ms = (CLOCK() - clock) * 1e3
    ztf = read_loci(ANT / "devkit_large_locus.json.gz")[0]
    lsst = read_loci(ANT / "lsst_loci_from_rubin.json.gz")[0]
    rows = []
    for survey, data in (("ztf", ztf), ("lsst", lsst)):
        for size in SIZES:
            n = end_on_detection(data, size)
            if any(r["survey"] == survey and r["n"] == n for r in rows):
                continue
            repeat = args.repeat if n <= 100 else max(30, args.repeat // 10)
            for case in ("warm", "cold"):
                if case == "cold" and n == 1:
                    continue  # the first alert of an object: warm and cold are the same
                locus = prepared(flt, data, n, warm=case == "warm")
                ms, status, spent = time_runs(flt, locus, repeat)
                stages = {k: v * 1e3 / len(ms) for k, v in spent.items()}
                rows.append({
                    "survey": survey, "n": n, "case": case if n > 1 else "first",
                    "status": status, "runs": len(ms),
                    "median_ms": float(np.median(ms)), "p99_ms": float(np.percentile(ms, 99)),
                    "median_ms_per_alert": float(np.median(ms)) / n,
                    "p99_ms_per_alert": float(np.percentile(ms, 99)) / n,
                    "lightcurve_ms": time_lightcurve(locus, min(repeat, 100)),
                    "scorer_stage_ms": stages,
                })
    report = {
        "machine": {"python": platform.python_version(), "numpy": np.__version__,
                    "cpu": platform.processor() or platform.machine(),
                    "cores_visible": os.cpu_count()},
        "clock": "cpu" if args.cpu_time else "wall",
        "setup_ms": setup_ms, "oracle_variant": flt.ORACLE_VARIANT, "rows": rows,
        "guideline_ms_per_alert": GUIDELINE_MS_PER_ALERT, "goal_p99_ms": GOAL_P99_MS,
    }
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    m = report["machine"]
    print(f"Python {m['python']}, numpy {m['numpy']}, {m['cpu']}, one core; setup "
          f"{setup_ms:.0f} ms; ORACLE {flt.ORACLE_VARIANT}; {report['clock']} clock")
    names = ("ebv", "features", "oracle", "scorers", "policies")
    print(f"{'survey':6} {'alerts':>6} {'case':5} {'status':9} {'median ms':>10} "
          f"{'p99 ms':>9} {'ms/alert':>9} {'p99/alert':>9}  goal |  mean ms: {'lc':>6} "
          + " ".join(f"{n[:8]:>8}" for n in names))
    for r in rows:
        goal = ("ok" if r["p99_ms"] <= GOAL_P99_MS else "over") if r["n"] <= 100 else "-"
        st = r["scorer_stage_ms"]
        print(f"{r['survey']:6} {r['n']:>6} {r['case']:5} {r['status']:9} "
              f"{r['median_ms']:>10.3f} {r['p99_ms']:>9.3f} {r['median_ms_per_alert']:>9.4f} "
              f"{r['p99_ms_per_alert']:>9.4f}  {goal:4} |  {'':8} {r['lightcurve_ms']:>6.3f} "
              + " ".join(f"{st.get(n, 0.0):>8.3f}" for n in names))
    print(f"Rubin guideline ~{GUIDELINE_MS_PER_ALERT:g} ms per alert processed (one run per "
          f"alert); goal p99 <= {GOAL_P99_MS:g} ms for loci of <= 100 alerts. 'lc' = locus -> "
          "light curve; the rest are the core Scorer's stages (all included in the total).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
