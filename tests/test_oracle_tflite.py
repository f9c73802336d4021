"""ORACLE-1 Keras model and TFLite variants (LiteRT runtime) vs upstream and vs float.

Skipped, with the reason, when ``ai-edge-litert`` (TFLite variants) or ``tensorflow`` (Keras) is
not installed; the numpy runtime tests in test_oracle.py need neither.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from vra_dev.oracle import load_oracle
from vra_dev.oracle import reference as R
from vra_filters.oracle import Oracle, state_from_bytes, state_to_bytes
from vra_filters.oracle import taxonomy as T

HAVE_LITERT = importlib.util.find_spec("ai_edge_litert") is not None
HAVE_TF = importlib.util.find_spec("tensorflow") is not None
needs_litert = pytest.mark.skipif(not HAVE_LITERT, reason="ai-edge-litert is not installed "
                                  "(pip install ai-edge-litert)")
needs_tf = pytest.mark.skipif(not HAVE_TF, reason="tensorflow is not installed "
                              "(pip install tensorflow-cpu)")

KEYS = {"elasticc": "elasticc_f1", "elasticc-lite": "lite_f1"}


def _probs(results):
    return np.array([[r["probabilities"][n] for n in T.ELASTICC.names] for r in results])


@needs_litert
@pytest.mark.parametrize("model", ["elasticc", "elasticc-lite"])
@pytest.mark.parametrize("convention", ["upstream", "upstream-training"])
def test_tflite_float32_matches_upstream(ref, lcs, model, convention):
    o = Oracle.load(model, "float32", convention)
    res = o.classify(lcs)
    key = KEYS[model] + ("_trainconv" if convention == "upstream-training" else "")
    logits = np.array([r["logits"] for r in res])
    assert np.abs(logits - ref[f"{key}_logits"]).max() <= 1e-4
    assert np.abs(_probs(res) - ref[f"{key}_class"]).max() <= 1e-5


@needs_litert
@pytest.mark.parametrize("model", ["elasticc", "elasticc-lite"])
def test_tflite_float32_growing_full_and_incremental(ref, model):
    o = Oracle.load(model, "float32", "upstream")
    key = "trunc_" + KEYS[model]
    worst = worst_between = 0.0
    for j in range(len(ref["trunc_names"])):
        lo, hi = ref["trunc_offsets"][j], ref["trunc_offsets"][j + 1]
        sample = int(ref["trunc_sample_index"][lo])
        prefixes = [R.lightcurve_from_raw(ref, sample, int(n))
                    for n in ref["trunc_prefix_len"][lo:hi]]
        full = o.classify(prefixes)  # all prefixes in one batch
        state = None
        for r, lc, f in zip(range(lo, hi), prefixes, full):
            inc, state = o.update(state, lc)
            state = state_from_bytes(state_to_bytes(state))
            assert (f["status"] == "ok") == bool(ref["trunc_valid"][r]) == (inc["status"] == "ok")
            if f["status"] != "ok":
                continue
            worst = max(worst, np.abs(np.array(f["logits"]) - ref[f"{key}_logits"][r]).max())
            worst_between = max(worst_between,
                                np.abs(np.array(f["logits"]) - np.array(inc["logits"])).max())
    assert worst <= 1e-4 and worst_between <= 1e-5


@needs_litert
@pytest.mark.parametrize("model", ["elasticc", "elasticc-lite"])
def test_dynamic_int8_agreement(lcs, model):
    f = Oracle.load(model, "numpy-float32").classify(lcs)
    q = Oracle.load(model, "dynamic-int8").classify(lcs)
    agree = {lvl: np.mean([a["top"][lvl]["class"] == b["top"][lvl]["class"]
                           for a, b in zip(f, q)]) for lvl in ("level1", "level2", "leaf")}
    assert agree["level1"] >= 0.99 and agree["level2"] >= 0.98 and agree["leaf"] >= 0.95
    assert np.abs(_probs(f) - _probs(q)).max() < 0.15


@needs_litert
def test_full_integer_int8_runs_but_is_not_deployable(lcs):
    """Full-integer int8 quantizes the raw inputs (FLUXCAL up to ~1e5 and times up to ~1e3 days
    in one int8 tensor), which destroys the flux information: it runs, and the measured leaf
    agreement is far below the 95 % bar -- the reason it is not the default."""
    f = Oracle.load("elasticc", "numpy-float32").classify(lcs)
    q = Oracle.load("elasticc", "int8").classify(lcs)
    leaf = np.mean([a["top"]["leaf"]["class"] == b["top"]["leaf"]["class"] for a, b in zip(f, q)])
    assert np.all(np.isfinite(_probs(q)))
    assert leaf < 0.95


@needs_litert
def test_bts_tflite(ref):
    o = Oracle.load("bts", "float32")
    logits = o.logits_from_inputs([ref["bts_fakeSN_ts"]], ref["bts_fakeSN_static"][None])[0]
    assert np.abs(logits - ref["bts_f1_logits"]).max() <= 1e-4


@needs_litert
def test_litert_threads_configurable(lcs):
    a = Oracle.load("elasticc", "float32", threads=1).classify(lcs[:5])
    b = Oracle.load("elasticc", "float32", threads=2).classify(lcs[:5])
    for x, y in zip(a, b):
        assert np.abs(np.array(x["logits"]) - np.array(y["logits"])).max() <= 1e-5


@needs_tf
@pytest.mark.parametrize("model", ["elasticc", "elasticc-lite"])
@pytest.mark.parametrize("convention", ["upstream", "upstream-training"])
def test_keras_model_matches_upstream(ref, lcs, model, convention):
    o = load_oracle(model, "keras", convention)
    res = o.classify(lcs)  # one padded batch of 44, lengths 1..1001, masked
    key = KEYS[model] + ("_trainconv" if convention == "upstream-training" else "")
    logits = np.array([r["logits"] for r in res])
    assert np.abs(logits - ref[f"{key}_logits"]).max() <= 1e-4


@needs_litert
@pytest.mark.parametrize("model", ["elasticc", "elasticc-lite", "bts"])
def test_numpy_int8_file_holds_the_tflite_dynamic_int8_weights(model):
    """The numpy-int8 runtime computes with exactly the int8 weights (values and per-channel
    scales) that the dynamic-range TFLite model carries, and both keep the (5, 100) layer-1
    input kernels in float32."""
    from ai_edge_litert.interpreter import Interpreter

    from vra_filters.oracle.weights import model_dir

    folder = model_dir(model)
    with np.load(folder / "weights_f1.int8.npz") as q:
        ours = {k[:-2]: (q[k], q[k[:-2] + ".scale"]) for k in q.files if k.endswith(".q")}
    it = Interpreter(model_path=str(folder / "oracle_f1.dynamic-int8.tflite"))
    it.allocate_tensors()
    found = set()
    float_first_layer = 0
    for sg in range(it.num_subgraphs()):
        for t in it.get_tensor_details(sg):
            shape = tuple(int(v) for v in t["shape"])
            if t["dtype"] == np.float32 and shape == (100, 5):
                float_first_layer += 1
            if t["dtype"] != np.int8:
                continue
            try:
                a = it.get_tensor(t["index"], sg)
            except ValueError:
                continue
            scales = t["quantization_parameters"]["scales"]
            for key, (qv, sc) in ours.items():
                if a.shape == qv.T.shape and np.array_equal(a, qv.T) and \
                        np.allclose(scales, sc, rtol=1e-6, atol=0):
                    found.add(key)
    assert found == set(ours)
    assert float_first_layer == 3
