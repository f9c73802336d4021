"""ORACLE-1 as TFLite: the LiteRT runtime (CPU). The export is a maintainer step:
:mod:`vra_dev.oracle.tflite_export` (needs TensorFlow).

Shape of the exported model (SPEC §4.3 design 2): **one .tflite file with two signatures**,

* ``step``: ``x`` (B, 5), ``h1`` (B, 100), ``h2`` (B, 100) -> ``h1``, ``h2``: one time step of
  both GRU layers;
* ``head``: ``h2`` (B, 100) [, ``static`` (B, S)] -> ``logits`` (B, n_nodes).

No masks and no recurrent TFLite op: the host loops over rows and keeps 200 floats per object, so
variable lengths are exact and an incremental update is just "run ``step`` on the new rows". One
file keeps one sha256 per variant.

Variants:

* ``float32``: plain conversion.
* ``dynamic-int8``: dynamic-range quantization (int8 weights, float activations; TFLite's default
  leaves tensors < 1024 elements float, which by construction includes the three (5, 100) layer-1
  input kernels -- see ``vra_dev.oracle.keras_model.step_function``).
* ``int8``: full-integer quantization (int8 weights *and* activations, float32 interface), ranges
  from a representative set of real steps: the GRU inputs/states and head inputs met while running
  the float model over the reference light curves.

The runtime imports only ``ai_edge_litert`` (falling back to ``tensorflow.lite`` if that is what
the host has).
"""

from __future__ import annotations

import math

import numpy as np

from .weights import HIDDEN, OracleWeights, verified_path

TFLITE_VARIANTS = ("float32", "dynamic-int8", "int8")


def tflite_filename(checkpoint: str, variant: str) -> str:
    if variant not in TFLITE_VARIANTS:
        raise ValueError(f"unknown TFLite variant {variant!r}; choose one of {TFLITE_VARIANTS}")
    return f"oracle_{checkpoint}.{variant}.tflite"


# ---------------------------------------------------------------------------------------------
# runtime
# ---------------------------------------------------------------------------------------------

def _interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # pragma: no cover - hosts with full TensorFlow only
        try:
            import tensorflow as tf
        except ImportError:
            raise ImportError("the TFLite ORACLE variants need the LiteRT runtime: "
                              "pip install ai-edge-litert (or use variant numpy-float32)") from None
        return tf.lite.Interpreter
    return Interpreter


class LiteRTOracle:
    """Backend running the two-signature .tflite with LiteRT on the CPU.

    ``threads`` is LiteRT's intra-op thread count (1 is right for the small per-step matmuls
    when a broker runs one worker per core). Full sequences are run step by step over the whole
    batch; objects that are already finished keep their state (host-side select), so padding
    never touches a state.
    """

    def __init__(self, model_bytes_or_path, sha256: str, static_size: int, n_out: int,
                 threads: int = 1, variant: str = "float32") -> None:
        Interpreter = _interpreter_class()
        kw = {"num_threads": int(threads)}
        if isinstance(model_bytes_or_path, (bytes, bytearray)):
            self.interp = Interpreter(model_content=bytes(model_bytes_or_path), **kw)
        else:
            self.interp = Interpreter(model_path=str(model_bytes_or_path), **kw)
        self.sha256 = sha256
        self.static_size = static_size
        self.n_out = n_out
        self.variant = variant
        self._step = self.interp.get_signature_runner("step")
        self._head = self.interp.get_signature_runner("head")

    @classmethod
    def load(cls, model: str, variant: str, checkpoint: str = "f1", threads: int = 1,
             check: bool = True) -> LiteRTOracle:
        path, sha = verified_path(model, tflite_filename(checkpoint, variant), check=check)
        meta = OracleWeights.load(model, checkpoint, "float32", check=False).meta
        return cls(path, sha, int(meta.get("static_size", 0)), len(meta["taxonomy"]["names"]),
                   threads=threads, variant=variant)

    def step(self, x, h1, h2):
        out = self._step(x=np.ascontiguousarray(x, np.float32),
                         h1=np.ascontiguousarray(h1, np.float32),
                         h2=np.ascontiguousarray(h2, np.float32))
        return out["h1"], out["h2"]

    def run(self, ts_list, h1=None, h2=None):
        n = len(ts_list)
        h1 = np.zeros((n, HIDDEN), np.float32) if h1 is None else np.array(h1, np.float32)
        h2 = np.zeros((n, HIDDEN), np.float32) if h2 is None else np.array(h2, np.float32)
        if n == 0:
            return h1, h2
        lengths = np.fromiter((len(t) for t in ts_list), np.int64, n)
        if lengths.min() == lengths.max() == 1:  # incremental hot path: one new point each
            return self.step(np.concatenate(ts_list), h1, h2)
        order = np.argsort(-lengths, kind="stable")
        ls = lengths[order]
        t_max = int(ls[0])
        if t_max == 0:
            return h1, h2
        x = np.zeros((n, t_max, 5), np.float32)
        for j, i in enumerate(order):
            x[j, : ls[j]] = ts_list[i]
        a, b = h1[order], h2[order]
        # Sorted by length, the running objects are a leading slice. The batch passed to LiteRT
        # only shrinks to the next power of two (few distinct shapes -> few tensor re-allocations);
        # rows past the active count are computed and discarded.
        for t in range(t_max):
            k = int(np.count_nonzero(ls > t))
            kb = min(n, 1 << max(0, math.ceil(math.log2(k))))
            na, nb = self.step(x[:kb, t], a[:kb], b[:kb])
            a[:k], b[:k] = na[:k], nb[:k]
        out1, out2 = np.empty_like(a), np.empty_like(b)
        out1[order], out2[order] = a, b
        return out1, out2

    def head(self, h2, static=None):
        kw = {"h2": np.ascontiguousarray(h2, np.float32)}
        if self.static_size:
            kw["static"] = np.ascontiguousarray(
                np.asarray(static, np.float32).reshape(len(kw["h2"]), -1))
        return np.array(self._head(**kw)["logits"], np.float32)
