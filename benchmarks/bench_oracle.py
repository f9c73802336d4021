#!/usr/bin/env python3
"""ORACLE throughput per variant on the 44 reference light curves (tests/data/oracle), one core.

Prints a JSON report (light curves or alerts per second, ratios to Keras float, file sizes) and a
short table. Pin to one core for per-core figures: this script sets OPENBLAS_NUM_THREADS=1 and
LiteRT threads=1; TensorFlow (Keras variant) is limited to one intra/inter-op thread.

Usage: python benchmarks/bench_oracle.py [--model elasticc] [--variants ...] [--out report.json]
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import json  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

from vra_dev.oracle import ALL_VARIANTS  # noqa: E402
from vra_dev.oracle import reference as R  # noqa: E402
from vra_dev.oracle.bench import bench, format_table  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="elasticc", choices=["elasticc", "elasticc-lite"])
    ap.add_argument("--variants", nargs="*", default=list(ALL_VARIANTS))
    ap.add_argument("--min-time", type=float, default=1.0)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    try:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except ImportError:
        pass
    lcs = R.reference_lightcurves()
    rep = bench(lcs, model=args.model, variants=args.variants, min_time=args.min_time)
    text = json.dumps(rep, indent=1)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)
    print()
    print(format_table(rep))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
