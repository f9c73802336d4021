"""ORACLE training helpers: WHXE weights, truncation augmentation, and a tiny training run."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from vra_dev.oracle import reference as R
from vra_dev.oracle import training as TR
from vra_filters.oracle import taxonomy as T
from vra_filters.oracle.numpy_runtime import NumpyOracle


def test_path_and_class_weights():
    leaves = ["SNIa"] * 6 + ["SNII"] * 2 + ["AGN"] * 2
    y = TR.path_matrix(T.ELASTICC, leaves)
    assert y[0, T.ELASTICC.index("Transient")] == 1 and y[0, T.ELASTICC.index("SN")] == 1
    assert y[0, 0] == 0 and y[-1].sum() == 2  # AGN: Variable, AGN
    w = TR.class_weights(T.ELASTICC, leaves)
    # depth 1: Transient 8, Variable 2 of N = 10, K = 2 -> 10/16 and 10/4
    assert w[T.ELASTICC.index("Transient")] == pytest.approx(10 / 16)
    assert w[T.ELASTICC.index("Variable")] == pytest.approx(10 / 4)
    # depth 3: SNIa 6, SNII 2 (AGN is a depth-2 leaf) -> K = 2
    assert w[T.ELASTICC.index("SNIa")] == pytest.approx(10 / 12)
    assert w[T.ELASTICC.index("KN")] == 0
    h = TR.hierarchy_weights(T.ELASTICC)
    assert h[T.ELASTICC.index("SNIa")] == pytest.approx(np.exp(-1.5))


def test_truncation_keeps_rows_before_first_detection_plus_d_days():
    ts = np.zeros((6, 5), np.float32)
    ts[:, 0] = [-3, 0, 1, 5, 40, 3000]
    ts[1:, 4] = 1
    rng = np.random.default_rng(1)
    lengths = {len(TR.truncate(ts, rng)) for _ in range(200)}
    assert lengths <= {2, 3, 4, 5} and len(lengths) >= 3  # never the 3000-d row, d <= 2048
    for _ in range(50):
        out = TR.truncate(ts, rng)
        assert out[0, 0] == -3 and out[1, 0] == 0


def test_random_weights_have_the_shipped_shapes():
    from vra_filters.oracle.weights import OracleWeights

    for model in ("elasticc", "elasticc-lite", "bts"):
        shipped = OracleWeights.load(model)
        fresh = TR.random_weights(model)
        assert {k: v.shape for k, v in fresh.arrays.items()} == \
               {k: v.shape for k, v in shipped.arrays.items()}
        assert fresh.head == shipped.head


@pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None,
                    reason="tensorflow is not installed (pip install tensorflow-cpu)")
def test_tiny_training_run_lowers_the_loss():
    """30 Adam steps on the 44 reference curves (first 24 rows each) with their upstream top leaf
    as label: the WHXE loss falls, and the trained weights run in the numpy runtime."""
    d = R.load_arrays()
    ts, static = R.model_inputs(d)
    leaf_idx = T.ELASTICC.level_indices("leaf")
    leaves = [T.ELASTICC.names[leaf_idx[np.argmax(p[leaf_idx])]] for p in d["elasticc_f1_class"]]
    short = [t[:24] for t in ts]
    w, hist = TR.train(short, static, leaves, steps=30, batch_size=44, learning_rate=3e-3,
                       seed=0)
    assert np.mean(hist[-5:]) < 0.7 * np.mean(hist[:3])
    logits = NumpyOracle(w).logits(short, static)
    assert logits.shape == (44, 26) and np.all(np.isfinite(logits))
