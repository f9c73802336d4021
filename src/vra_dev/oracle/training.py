"""Training ORACLE-1-shaped networks on your own labelled light curves (Keras, TensorFlow).

What is here (written from the issue's description of ORACLE training, not from upstream code):

* :func:`architecture` / :func:`random_weights`: the ORACLE-1 layer shapes (SPEC §3) as data,
  and a fresh Glorot-uniform initialisation in the portable layout, so a trained network runs in
  every runtime of this package (numpy, Keras, TFLite) after :func:`weights_from_keras`.
* :func:`class_weights` and :func:`whxe_loss`: the weighted hierarchical cross-entropy. For an
  object of true leaf ``c`` the loss is ``- sum_k  w_h(k) * w_c(k) * log p(k | parent(k))`` over
  the nodes ``k`` on the path root -> ``c`` (root excluded, its conditional is 1), with hierarchy
  weight ``w_h = exp(-alpha * depth(k))`` (alpha = 0.5: mistakes near the root cost more) and
  class weight ``w_c = N / (K_d * N_k)`` (N labelled objects, ``N_k`` of them under node ``k``,
  ``K_d`` populated nodes at k's depth: rare classes are not drowned by common ones). The
  conditional log-probabilities are a max-subtracted log-softmax per sibling group (stable; the
  upstream +1e-10 only matters at inference, SPEC §5.2).
* :func:`truncate`: the truncation augmentation -- keep the rows observed less than ``d`` days
  after the first detection, ``d = 2**u`` with ``u ~ U(0, 11)`` (1 day .. ~5.6 years), so the
  network learns to classify partial, still-growing light curves.
* :func:`train`: a small eager training loop (Adam) over (time series, static, leaf) examples.

TensorFlow is imported lazily; the numpy helpers work without it.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import numpy as np

from vra_filters.oracle import taxonomy as tx
from vra_filters.oracle.weights import FORMAT_VERSION, HIDDEN, OracleWeights

ALPHA = 0.5

_FULL_HEAD = {"gru_branch": [["gru_dense", "tanh"]], "static_branch": [["static_dense", "tanh"]],
              "trunk": [["merge", "relu"], ["hidden64", "tanh"], ["hidden32", "tanh"],
                        ["embed", "relu"], ["out", "linear"]], "embedding_layer": "embed"}
_LITE_HEAD = {"gru_branch": [], "static_branch": [],
              "trunk": [["hidden64", "tanh"], ["hidden32", "tanh"], ["embed", "relu"],
                        ["out", "linear"]], "embedding_layer": "embed"}


def architecture(model: str) -> dict:
    """Layer shapes of an ORACLE-1 variant: static size, head wiring, dense (in, out) shapes."""
    tax = tx.for_model(model)
    k = len(tax)
    if model == "elasticc-lite":
        dense = {"hidden64": (HIDDEN, 64), "hidden32": (64, 32), "embed": (32, 16),
                 "out": (16, k)}
        return {"static_size": 0, "head": copy.deepcopy(_LITE_HEAD), "dense": dense}
    s = 18 if model == "elasticc" else 30
    dense = {"gru_dense": (HIDDEN, 100), "static_dense": (s, 30), "merge": (130, 100),
             "hidden64": (100, 64), "hidden32": (64, 32), "embed": (32, 16), "out": (16, k)}
    return {"static_size": s, "head": copy.deepcopy(_FULL_HEAD), "dense": dense}


def random_weights(model: str = "elasticc", seed: int = 0) -> OracleWeights:
    """Fresh ORACLE-1 weights (Glorot uniform kernels, zero biases) in the portable layout."""
    rng = np.random.default_rng(seed)
    arch = architecture(model)

    def glorot(n_in, n_out):
        lim = math.sqrt(6.0 / (n_in + n_out))
        return rng.uniform(-lim, lim, (n_in, n_out)).astype(np.float32)

    arrays = {}
    for layer, n_in in ((1, 5), (2, HIDDEN)):
        arrays[f"gru{layer}.wx"] = glorot(n_in, 3 * HIDDEN)
        arrays[f"gru{layer}.wh"] = glorot(HIDDEN, 3 * HIDDEN)
        arrays[f"gru{layer}.bx"] = np.zeros(3 * HIDDEN, np.float32)
        arrays[f"gru{layer}.bh"] = np.zeros(3 * HIDDEN, np.float32)
    for name, (n_in, n_out) in arch["dense"].items():
        arrays[name + ".kernel"] = glorot(n_in, n_out)
        arrays[name + ".bias"] = np.zeros(n_out, np.float32)
    tax = tx.for_model(model)
    meta = {"format_version": FORMAT_VERSION, "model": model, "checkpoint": "user",
            "taxonomy": {"names": list(tax.names), "parents": list(tax.parents)},
            "static_size": arch["static_size"], "head": arch["head"], "hidden": HIDDEN,
            "gate_order": ["r", "z", "n"], "precision": "float32",
            "source": {"note": "randomly initialised by vra_dev.oracle.training"}}
    return OracleWeights(arrays, meta)


# ---------------------------------------------------------------------------------------------
# labels, weights, augmentation (numpy)
# ---------------------------------------------------------------------------------------------

def path_matrix(tax: tx.Taxonomy, leaves: Sequence[str]) -> np.ndarray:
    """(N, n_nodes) float32: 1 on every node of each object's path, root excluded."""
    out = np.zeros((len(leaves), len(tax)), np.float32)
    for i, leaf in enumerate(leaves):
        for k in tax.path(tax.index(leaf))[1:]:
            out[i, k] = 1.0
    return out


def class_weights(tax: tx.Taxonomy, leaves: Sequence[str]) -> np.ndarray:
    """Per-node ``N / (K_d * N_k)`` (0 for nodes no object reaches), float32."""
    y = path_matrix(tax, leaves)
    n = float(len(leaves))
    counts = y.sum(axis=0)
    w = np.zeros(len(tax), np.float32)
    for d in range(1, tax.max_depth + 1):
        at = np.flatnonzero((tax.depth == d) & (counts > 0))
        if at.size:
            w[at] = n / (at.size * counts[at])
    return w


def hierarchy_weights(tax: tx.Taxonomy, alpha: float = ALPHA) -> np.ndarray:
    return np.exp(-alpha * tax.depth).astype(np.float32)


def truncate(ts: np.ndarray, rng: np.random.Generator, max_log2_days: float = 11.0) -> np.ndarray:
    """Rows observed less than ``d = 2**U(0, max_log2_days)`` days after the first detection
    (column 4 = detection flag, column 0 = time in days). Rows before the first detection are
    kept; without a detection the input is returned unchanged."""
    det = np.flatnonzero(ts[:, 4] > 0)
    if det.size == 0:
        return ts
    d = 2.0 ** rng.uniform(0.0, max_log2_days)
    keep = (ts[:, 0] - ts[det[0], 0]) < d
    return ts[keep]


# ---------------------------------------------------------------------------------------------
# Keras side
# ---------------------------------------------------------------------------------------------

def whxe_loss(tax: tx.Taxonomy, node_weights: np.ndarray):
    """Loss function ``(y_path (B, n_nodes), logits (B, n_nodes)) -> scalar`` (mean over B);
    ``node_weights`` = hierarchy weight x class weight per node."""
    from .keras_model import _tf

    tf = _tf()
    groups = [(int(g[0]), int(g[-1]) + 1) for g in tax.groups]
    wn = tf.constant(np.asarray(node_weights, np.float32))

    def loss(y_path, logits):
        parts = []
        for lo, hi in groups:
            sub = logits[:, lo:hi]
            parts.append(sub - tf.reduce_logsumexp(sub, axis=1, keepdims=True))
        log_cond = tf.concat(parts, axis=1)
        per_obj = -tf.reduce_sum(y_path * wn * log_cond, axis=1)
        return tf.reduce_mean(per_obj)

    return loss


def weights_from_keras(model, meta: dict) -> OracleWeights:
    """Portable weights back from a Keras model built by ``keras_model.build_sequence_model``."""
    arrays = {}
    for layer in (1, 2):
        k, rk, b = model.get_layer(f"gru{layer}").get_weights()

        def rzn(a):  # Keras z, r, h -> our r, z, n
            return np.concatenate([a[..., HIDDEN:2 * HIDDEN], a[..., :HIDDEN],
                                   a[..., 2 * HIDDEN:]], axis=-1).astype(np.float32)

        arrays[f"gru{layer}.wx"] = rzn(k)
        arrays[f"gru{layer}.wh"] = rzn(rk)
        arrays[f"gru{layer}.bx"] = rzn(b[0])
        arrays[f"gru{layer}.bh"] = rzn(b[1])
    for part in ("gru_branch", "static_branch", "trunk"):
        for name, _ in meta["head"].get(part, []):
            kern, bias = model.get_layer(name).get_weights()
            arrays[name + ".kernel"] = kern.astype(np.float32)
            arrays[name + ".bias"] = bias.astype(np.float32)
    return OracleWeights(arrays, copy.deepcopy(meta))


def _pad(ts_list: Sequence[np.ndarray], bucket: int = 32) -> np.ndarray:
    """Pad to a multiple of ``bucket`` rows (few distinct shapes -> few tf.function traces)."""
    from .keras_model import MASK_VALUE

    t_max = max(1, max(len(t) for t in ts_list))
    t_max = bucket * math.ceil(t_max / bucket)
    x = np.full((len(ts_list), t_max, 5), MASK_VALUE, np.float32)
    for i, t in enumerate(ts_list):
        x[i, : len(t)] = t
    return x


def train(ts_list: Sequence[np.ndarray], static: np.ndarray | None, leaves: Sequence[str],
          model: str = "elasticc", init: OracleWeights | None = None, steps: int = 100,
          batch_size: int = 64, learning_rate: float = 2e-4, alpha: float = ALPHA,
          augment: bool = True, seed: int = 0, verbose: bool = False) -> tuple:
    """Train for ``steps`` Adam steps on random batches; returns ``(weights, loss_history)``.

    ``ts_list``: network inputs (T_i, 5) as built by :mod:`.inputs` (one convention throughout);
    ``static``: (N, S) or None for the lite model; ``leaves``: leaf class name per object.
    ``init``: start from these weights (fine-tuning) instead of a random initialisation.
    """
    from .keras_model import _tf, build_sequence_model

    tf = _tf()
    tf.random.set_seed(seed)
    rng = np.random.default_rng(seed)
    tax = tx.for_model(model)
    w0 = init if init is not None else random_weights(model, seed)
    net = build_sequence_model(w0)
    y_all = path_matrix(tax, leaves)
    node_w = hierarchy_weights(tax, alpha) * class_weights(tax, leaves)
    loss_fn = whxe_loss(tax, node_w)
    opt = tf.keras.optimizers.Adam(learning_rate)
    n = len(ts_list)
    zeros = np.zeros((batch_size, HIDDEN), np.float32)
    history = []

    @tf.function(reduce_retracing=True)
    def train_step(args, y):
        with tf.GradientTape() as tape:
            logits = net(args, training=True)[0]
            loss = loss_fn(y, logits)
        grads = tape.gradient(loss, net.trainable_variables)
        opt.apply_gradients(zip(grads, net.trainable_variables))
        return loss

    for step in range(steps):
        idx = rng.choice(n, size=min(batch_size, n), replace=n < batch_size)
        seqs = [truncate(ts_list[i], rng) if augment else ts_list[i] for i in idx]
        args = [_pad(seqs), zeros[: len(idx)], zeros[: len(idx)]]
        if w0.static_size:
            args.append(np.asarray(static, np.float32)[idx])
        history.append(float(train_step(args, tf.constant(y_all[idx]))))
        if verbose:
            print(f"step {step}: loss {history[-1]:.4f}")
    return weights_from_keras(net, w0.meta), history
