#!/usr/bin/env python3
"""Packet replay: ``vra_filters.visits`` (every earlier alert of a packet at once) against its
peer in the same process, ``LightCurve.until`` called once per earlier detection time (what
``visits`` did one by one before; same light curves and ids, checked here too).

Inputs: the real Lasair LSST alerts with more than one detection and the longest Fink LSST
alert in tests/data. Prints ms per alert for both and the ratio::

    python benchmarks/bench_history.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import vra_filters as vra

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"


def one_by_one(lc: vra.LightCurve) -> list:
    """The peer: ``until`` at each earlier detection time, with that detection's rb."""
    det = np.flatnonzero(lc.is_det & (lc.mjd < lc.alert_mjd))
    out = []
    for t in np.unique(lc.mjd[det]):
        earlier = lc.until(float(t))
        rb = lc.rb[det[lc.mjd[det] == t][-1]]
        if np.isfinite(rb):
            earlier.context.rb = float(rb)
        out.append(earlier)
    return out + [lc]


def best_ms(fn, group, repeat: int, inner: int = 20) -> float:
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        for _ in range(inner):
            for lc in group:
                fn(lc)
        runs.append((time.perf_counter() - t) / inner / len(group))
    return 1e3 * min(runs)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args(argv)
    lasair = [lc for lc in vra.read(DATA / "lasair" / "20260205_073301.json.gz").lightcurves
              if lc.n_det > 1]
    longest = max(vra.read(DATA / "fink" / "fink_lsst_part-2-918301.avro").lightcurves,
                  key=lambda lc: lc.n_det)
    groups = [(f"{len(lasair)} Lasair LSST alerts (median "
               f"{int(np.median([lc.n_det for lc in lasair]))} detections)", lasair),
              (f"Fink LSST alert with {longest.n_det} detections", [longest])]
    for name, group in groups:
        for lc in group:  # the same replays, the same ids
            assert [(e.alert_id, len(e)) for e in vra.visits(lc)] == \
                [(e.alert_id, len(e)) for e in one_by_one(lc)]
        peer, now = (best_ms(fn, group, args.repeat) for fn in (one_by_one, vra.visits))
        print(f"{name}: until one by one {peer:.3f} ms, visits {now:.3f} ms per alert "
              f"({peer / now:.2f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
