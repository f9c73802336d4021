"""ORACLE throughput per variant on the same light curves in the same process (``vra bench``,
``benchmarks/bench_oracle.py``, ``tools/oracle_report.py --bench``).

What is timed (wall clock, ``time.perf_counter``), for each variant:

* ``full_b1``: light curves per second classifying one light curve per call (the whole light curve
  each time: what a stateless broker filter does per alert);
* ``full_batch``: light curves per second classifying all of them in one call (batches of
  ``batch_size``);
* ``incremental``: alerts per second when each alert adds **one** new point to an object whose
  state holds all earlier points (``Oracle.update``, one object per call), and
  ``incremental_batch`` the same through ``Oracle.update_many`` over all objects at once.

Every figure includes preprocessing and the taxonomy post-processing (the whole per-alert cost),
and is per core when the process is pinned to one thread (``threads=1`` for LiteRT; set
``OPENBLAS_NUM_THREADS=1`` before numpy is imported for the numpy variants -- ``benchmarks/
bench_oracle.py`` does). File sizes are the bytes of the weights each variant loads.
"""

from __future__ import annotations

import os
import time

from vra_filters.oracle import core
from vra_filters.oracle.weights import model_dir, weights_filename


def variant_files(model: str, variant: str, checkpoint: str = "f1") -> list:
    if variant in ("numpy-float32", "keras"):
        return [weights_filename(checkpoint, "float32")]
    if variant == "numpy-int8":
        return [weights_filename(checkpoint, "int8")]
    from vra_filters.oracle.tflite import tflite_filename

    return [tflite_filename(checkpoint, variant)]


def _timeit(fn, min_time: float = 0.5, max_repeat: int = 50) -> float:
    """Best-of-repeats seconds for one call of ``fn`` (repeats until ``min_time`` is spent)."""
    fn()  # warm-up (tracing, allocation)
    best = float("inf")
    spent = 0.0
    n = 0
    while (spent < min_time and n < max_repeat) or n < 2:
        t = time.perf_counter()
        fn()
        dt = time.perf_counter() - t
        best = min(best, dt)
        spent += dt
        n += 1
    return best


def bench(lightcurves=None, model: str = "elasticc", variants=None, checkpoint: str = "f1",
          convention: str = "upstream", threads: int = 1, batch_size: int = 256,
          min_time: float = 0.5, quiet: bool = True) -> dict:
    """Throughput per variant (light curves or alerts per second) plus file sizes (bytes).

    ``lightcurves``: the light curves to time; those the model cannot read (other surveys) are
    left out, and with none left (or None given) the 44 reference light curves of the source
    checkout are used. Variants whose runtime is not installed are reported with an ``error``
    entry. ``ratio_to_keras`` divides each figure by the Keras one of the same kind;
    ``ratio_bytes_to_float`` the file size by the float32 weights'. ``quiet=False`` also prints
    a table.
    """
    from vra_filters.oracle.inputs import MODEL_SURVEYS

    lcs = [lc for lc in (lightcurves or []) if getattr(lc, "survey", "") in MODEL_SURVEYS[model]]
    source = "given"
    if not lcs:
        from .reference import reference_lightcurves

        lcs = reference_lightcurves()
        source = "reference set (tests/data/oracle)"
    from . import ALL_VARIANTS, load_oracle

    variants = list(variants or ALL_VARIANTS)
    # incremental setting: state built from all but the last point; the alert adds the last one
    prev = [lc.until(float(lc.mjd[-2])) if len(lc) > 1 else None for lc in lcs]
    out = {"model": model, "checkpoint": checkpoint, "convention": convention,
           "lightcurves": source, "deployed_variant": core.default_variant(),
           "n_lightcurves": len(lcs), "n_points": int(sum(len(lc) for lc in lcs)),
           "threads": threads, "cpu_count": os.cpu_count(),
           "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "default"),
           "variants": {}}
    for variant in variants:
        rec: dict = {}
        try:
            o = load_oracle(model, variant, convention, checkpoint, threads=threads,
                                 batch_size=batch_size)
        except (ImportError, FileNotFoundError, RuntimeError, ValueError) as exc:
            out["variants"][variant] = {"error": f"{type(exc).__name__}: {exc}"}
            continue
        rec["bytes"] = sum((model_dir(model) / f).stat().st_size
                           for f in variant_files(model, variant, checkpoint))
        rec["files"] = variant_files(model, variant, checkpoint)

        def full_b1(o=o):
            for lc in lcs:
                o.classify([lc])

        rec["full_b1_lc_per_s"] = len(lcs) / _timeit(full_b1, min_time)
        rec["full_batch_lc_per_s"] = len(lcs) / _timeit(lambda o=o: o.classify(lcs), min_time)
        states = [o.update(None, p)[1] if p is not None else None for p in prev]

        def incr_b1(o=o, states=states):
            for st, lc in zip(states, lcs):
                o.update(st, lc)

        rec["incremental_alerts_per_s"] = len(lcs) / _timeit(incr_b1, min_time)
        rec["incremental_batch_alerts_per_s"] = len(lcs) / _timeit(
            lambda o=o, states=states: o.update_many(states, lcs), min_time)
        out["variants"][variant] = rec
    keras = out["variants"].get("keras", {})
    if "full_b1_lc_per_s" in keras:
        for rec in out["variants"].values():
            if "error" in rec:
                continue
            rec["ratio_to_keras"] = {k: rec[k] / keras[k] for k in (
                "full_b1_lc_per_s", "full_batch_lc_per_s", "incremental_alerts_per_s",
                "incremental_batch_alerts_per_s")}
            rec["ratio_bytes_to_float"] = rec["bytes"] / keras["bytes"]
    if not quiet:
        print(format_table(out), flush=True)
    return out


def format_table(rep: dict) -> str:
    """Human-readable rows of a :func:`bench` report."""
    lines = [f"ORACLE {rep['model']} ({rep['n_lightcurves']} light curves, "
             f"{rep['n_points']} points; per second, one thread; x = ratio to keras)",
             f"{'variant':15s} {'bytes':>8s} {'full b1':>14s} {'full batch':>14s} "
             f"{'incr b1':>14s} {'incr batch':>14s}"]
    for v, r in rep["variants"].items():
        if "error" in r:
            lines.append(f"{v:15s} {r['error']}")
            continue
        ratio = r.get("ratio_to_keras", {})

        def fmt(k, r=r, ratio=ratio):
            return f"{r[k]:.0f}" + (f" ({ratio[k]:.1f}x)" if k in ratio else "")

        lines.append(f"{v:15s} {r['bytes']:8d} {fmt('full_b1_lc_per_s'):>14s} "
                     f"{fmt('full_batch_lc_per_s'):>14s} {fmt('incremental_alerts_per_s'):>14s} "
                     f"{fmt('incremental_batch_alerts_per_s'):>14s}")
    return "\n".join(lines)
