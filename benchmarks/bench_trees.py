#!/usr/bin/env python3
"""Throughput of the numpy tree evaluator on the shipped ATLAS duck models (one core).

Inputs are the labelled ATLAS feature rows in tests/data (resampled, with 10 % of values set to
NaN so that missing-value branches are exercised). Prints rows/s for each model and evaluator::

    python benchmarks/bench_trees.py [--rows 10000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import csv
import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# one core: keep BLAS/OpenMP from spreading (numpy here uses none of them, but be explicit)
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import numpy as np  # noqa: E402

from vra_filters.registry import load_trees  # noqa: E402

LABELLED = ROOT / "tests" / "data" / "atlas_labelled_features"


def _rows(feature_names, stage, n, rng):
    path = LABELLED / f"X_train_{stage}_duck1000rows.csv"
    if path.is_file():
        with path.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
        conv = {"": "nan", "True": "1", "False": "0"}
        base = np.array([[float(conv.get(r[f], r[f])) for f in feature_names] for r in rows])
        x = base[rng.integers(0, len(base), n)]
    else:
        x = rng.normal(size=(n, len(feature_names)))
    x = x.copy()
    x[rng.random(x.shape) < 0.1] = np.nan
    return x


def _best(repeat, fn, *args, **kwargs):
    """Fastest of ``repeat`` timed calls (s), after one warm-up call."""
    fn(*args, **kwargs)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(*args, **kwargs)
        times.append(time.perf_counter() - t0)
    return min(times)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=10000)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    print(f"numpy {np.__version__}, {args.rows} rows, best of {args.repeat}")
    for stage in ("day1", "dayN"):
        for kind in ("real", "gal"):
            model = load_trees(f"vra/duck/{stage}/{kind}")
            x = _rows(model.feature_names, stage, args.rows, rng)
            out = [model.name]
            dt = _best(args.repeat, model.predict_proba, x)
            out.append(f"predict_proba ({model.engine}) {args.rows / dt:>9,.0f} rows/s")
            dt = _best(args.repeat, model.predict_raw, x, engine="walk")
            out.append(f"walk {args.rows / dt:>8,.0f} rows/s")
            dt = _best(args.repeat * 50, model.predict_proba, x[:1])
            out.append(f"1 row {dt * 1e6:5.0f} us/call")
            print("  ".join(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
