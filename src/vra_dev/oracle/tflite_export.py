"""ORACLE-1 -> TFLite export (maintainer step, needs TensorFlow): the files the LiteRT runtime
(:mod:`vra_filters.oracle.tflite`) loads. File layout, signatures and variants: see that module.
``tools/oracle_export_tflite.py`` runs it for every model.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from vra_filters.oracle.numpy_runtime import NumpyOracle
from vra_filters.oracle.tflite import TFLITE_VARIANTS, tflite_filename
from vra_filters.oracle.weights import HIDDEN, OracleWeights

__all__ = ["TFLITE_VARIANTS", "export_tflite", "representative_samples", "write_tflite"]

def representative_samples(w: OracleWeights, ts_list, static, max_steps: int = 2000,
                           seed: int = 0) -> tuple:
    """Real (x, h1, h2) step inputs and (h2, static) head inputs, from running the float numpy
    model over ``ts_list``; at most ``max_steps`` of each, drawn at random without replacement."""
    net = NumpyOracle(w)
    xs, h1s, h2s, hs, ss = [], [], [], [], []
    for i, ts in enumerate(ts_list):
        h1 = np.zeros((1, HIDDEN), np.float32)
        h2 = np.zeros((1, HIDDEN), np.float32)
        for row in ts:
            xs.append(row)
            h1s.append(h1[0])
            h2s.append(h2[0])
            h1, h2 = net.step(row[None], h1, h2)
            hs.append(h2[0])
            ss.append(static[i] if static is not None else np.zeros(0, np.float32))
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(xs), size=min(max_steps, len(xs)), replace=False)
    step = (np.asarray(xs)[pick], np.asarray(h1s)[pick], np.asarray(h2s)[pick])
    head = (np.asarray(hs)[pick], np.asarray(ss, np.float32)[pick])
    return step, head


def export_tflite(w: OracleWeights, variant: str, representative=None) -> bytes:
    """Convert the step + head functions of ``w`` to TFLite bytes for ``variant``."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    from .keras_model import head_function, step_function

    step = step_function(w)
    head = head_function(w)
    f32 = tf.float32
    module = tf.Module()
    module.step = tf.function(
        lambda x, h1, h2: step(x, h1, h2),
        input_signature=[tf.TensorSpec([None, 5], f32, name="x"),
                         tf.TensorSpec([None, HIDDEN], f32, name="h1"),
                         tf.TensorSpec([None, HIDDEN], f32, name="h2")])
    if w.static_size:
        module.head = tf.function(
            lambda h2, static: head(h2, static),
            input_signature=[tf.TensorSpec([None, HIDDEN], f32, name="h2"),
                             tf.TensorSpec([None, w.static_size], f32, name="static")])
    else:
        module.head = tf.function(
            lambda h2: head(h2),
            input_signature=[tf.TensorSpec([None, HIDDEN], f32, name="h2")])
    with tempfile.TemporaryDirectory() as tmp:
        sigs = {"step": module.step.get_concrete_function(),
                "head": module.head.get_concrete_function()}
        tf.saved_model.save(module, tmp, signatures=sigs)
        conv = tf.lite.TFLiteConverter.from_saved_model(tmp, signature_keys=["step", "head"])
        if variant == "dynamic-int8":
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
        elif variant == "int8":
            if representative is None:
                raise ValueError("full-integer int8 export needs representative data")
            (xs, h1s, h2s), (hs, ss) = representative

            def gen():
                for j in range(len(xs)):
                    yield "step", {"x": xs[j:j + 1], "h1": h1s[j:j + 1], "h2": h2s[j:j + 1]}
                for j in range(len(hs)):
                    d = {"h2": hs[j:j + 1]}
                    if w.static_size:
                        d["static"] = ss[j:j + 1]
                    yield "head", d

            conv.optimizations = [tf.lite.Optimize.DEFAULT]
            conv.representative_dataset = gen
            conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        elif variant != "float32":
            raise ValueError(f"unknown TFLite variant {variant!r}")
        return conv.convert()


def write_tflite(model: str, checkpoint: str, variant: str, out_dir: Path,
                 representative=None) -> Path:
    w = OracleWeights.load(model, checkpoint, "float32")
    blob = export_tflite(w, variant, representative)
    path = Path(out_dir) / tflite_filename(checkpoint, variant)
    path.write_bytes(blob)
    return path
