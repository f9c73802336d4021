"""ORACLE-1 in Keras (TensorFlow backend), built from the portable weights.

Imports TensorFlow/Keras lazily (inside functions): importing this module costs nothing, and
nothing else in the package needs TensorFlow.

Two builds:

* :func:`build_sequence_model` -- the whole network as Keras layers: a padding mask + two
  ``keras.layers.GRU(reset_after=True)`` + the dense head. Weights follow SPEC §4.2: Keras stores
  gates in the order z, r, h (candidate) with kernels (in, 3H) and a (2, 3H) bias (input row,
  recurrent row); our portable layout is r, z, n, so the first two blocks swap. Padded steps are
  rows whose 5 values all equal :data:`MASK_VALUE` (impossible for real data: wavelength > 0), so
  they never touch the state. Accepts initial states, which makes it usable for incremental runs.
* :func:`step_function` / :func:`head_function` -- one GRU step for both layers and the head as
  plain TensorFlow ops (the graph exported to TFLite; see :mod:`.tflite_export`).
"""

from __future__ import annotations

import os

import numpy as np

from vra_filters.oracle.weights import HIDDEN, OracleWeights

MASK_VALUE = -9.0
H = HIDDEN


def _tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import tensorflow as tf

    return tf


def keras_gru_weights(w: OracleWeights, layer: int) -> list:
    """[kernel, recurrent_kernel, bias] for ``keras.layers.GRU(reset_after=True)``."""
    def zrn(a):  # our r, z, n column blocks -> Keras z, r, h
        return np.concatenate([a[..., H:2 * H], a[..., :H], a[..., 2 * H:]], axis=-1)

    p = f"gru{layer}."
    bias = np.stack([zrn(w[p + "bx"]), zrn(w[p + "bh"])])
    return [zrn(w[p + "wx"]), zrn(w[p + "wh"]), bias]


def build_head(w: OracleWeights, keras, h2_in, static_in):
    """Dense head on Keras tensors; returns (logits, embedding)."""
    spec = w.head

    def dense(name, act, x):
        layer = keras.layers.Dense(w[name + ".bias"].shape[0], activation=None, name=name)
        y = layer(x)
        layer.set_weights([w[name + ".kernel"], w[name + ".bias"]])
        return y, (keras.layers.Activation(act, name=name + "_" + act)(y)
                   if act != "linear" else y)

    x = h2_in
    for name, act in spec.get("gru_branch", []):
        _, x = dense(name, act, x)
    if spec.get("static_branch"):
        s = static_in
        for name, act in spec["static_branch"]:
            _, s = dense(name, act, s)
        x = keras.layers.Concatenate(name="concat_gru_static")([x, s])
    emb = None
    for name, act in spec["trunk"]:
        pre, x = dense(name, act, x)
        if name == spec.get("embedding_layer"):
            emb = pre
    return x, emb


def build_sequence_model(w: OracleWeights):
    """Keras model: (ts (B, T, 5), [static (B, S)], h1_0, h2_0) -> (logits, h1, h2)."""
    tf = _tf()
    keras = tf.keras
    ts = keras.Input((None, 5), name="ts")
    h1_0 = keras.Input((H,), name="h1_0")
    h2_0 = keras.Input((H,), name="h2_0")
    static = keras.Input((w.static_size,), name="static") if w.static_size else None
    # An explicit boolean mask (a step is padding when all 5 values equal MASK_VALUE), passed to
    # both GRU layers: Keras 3 does not carry a Masking layer's implicit mask into a GRU that is
    # also given ``initial_state`` (measured: padded steps then move the state, |dlogit| ~ 20).
    mask = keras.layers.Lambda(
        lambda t: tf.reduce_any(tf.not_equal(t, MASK_VALUE), axis=-1), name="mask")(ts)
    x = ts
    g1 = keras.layers.GRU(H, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                          reset_after=True, return_sequences=True, return_state=True,
                          name="gru1")
    seq1, h1 = g1(x, mask=mask, initial_state=h1_0)
    g2 = keras.layers.GRU(H, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                          reset_after=True, return_sequences=False, return_state=True,
                          name="gru2")
    _, h2 = g2(seq1, mask=mask, initial_state=h2_0)
    g1.set_weights(keras_gru_weights(w, 1))
    g2.set_weights(keras_gru_weights(w, 2))
    logits, _ = build_head(w, keras, h2, static)
    inputs = [ts, h1_0, h2_0] + ([static] if static is not None else [])
    return keras.Model(inputs, [logits, h1, h2], name="oracle1")


def build_head_model(w: OracleWeights):
    tf = _tf()
    keras = tf.keras
    h2 = keras.Input((H,), name="h2")
    static = keras.Input((w.static_size,), name="static") if w.static_size else None
    logits, emb = build_head(w, keras, h2, static)
    return keras.Model([h2] + ([static] if static is not None else []), [logits, emb],
                       name="oracle1_head")


class KerasOracle:
    """Backend over the Keras sequence model (float32; the benchmark's reference point).

    Each call pads a batch to its longest member with :data:`MASK_VALUE` rows; the ``Masking``
    layer keeps padded steps from touching the state. The model runs inside one
    ``tf.function`` (traced once per padded shape family) -- the normal way to serve Keras.
    """

    def __init__(self, weights: OracleWeights) -> None:
        tf = _tf()
        self.weights = weights
        self.sha256 = weights.sha256
        self.static_size = weights.static_size
        self.model = build_sequence_model(weights)
        self.head_model = build_head_model(weights)
        self._h2 = None
        self._fn = tf.function(lambda args: self.model(args, training=False),
                               reduce_retracing=True)
        self._head = tf.function(lambda args: self.head_model(args, training=False),
                                 reduce_retracing=True)

    def run(self, ts_list, h1=None, h2=None):
        n = len(ts_list)
        h1 = np.zeros((n, H), np.float32) if h1 is None else np.asarray(h1, np.float32)
        h2 = np.zeros((n, H), np.float32) if h2 is None else np.asarray(h2, np.float32)
        t_max = max((len(x) for x in ts_list), default=0)
        if n == 0 or t_max == 0:
            return h1.copy(), h2.copy()
        x = np.full((n, t_max, 5), MASK_VALUE, np.float32)
        for i, t in enumerate(ts_list):
            x[i, : len(t)] = t
        args = [x, h1, h2]
        if self.static_size:
            args.append(np.zeros((n, self.static_size), np.float32))
        _, o1, o2 = self._fn(args)
        o1, o2 = o1.numpy(), o2.numpy()
        # sequences with no new rows keep their state (Keras would too: all steps masked)
        return o1, o2

    def head(self, h2, static=None, return_embedding=False):
        args = [np.asarray(h2, np.float32)]
        if self.static_size:
            args.append(np.asarray(static, np.float32).reshape(len(args[0]), -1))
        logits, emb = self._head(args)
        return (logits.numpy(), emb.numpy()) if return_embedding else logits.numpy()


# ---------------------------------------------------------------------------------------------
# step + head as TensorFlow functions (what goes to TFLite)
# ---------------------------------------------------------------------------------------------

def step_function(w: OracleWeights):
    """``step(x (B,5), h1 (B,100), h2 (B,100)) -> {"h1", "h2"}`` in plain TF ops.

    The layer-1 input kernel is split into three (5, 100) gate kernels: TFLite's dynamic-range
    quantizer leaves tensors under 1024 elements in float32, and this kernel multiplies the raw
    (unscaled) fluxes, where int8 rounding costs most (see ``weights.KEEP_FLOAT``).
    """
    tf = _tf()
    c = {k: tf.constant(v) for k, v in w.arrays.items() if k.startswith("gru")}
    wx1 = [tf.constant(w["gru1.wx"][:, i * H:(i + 1) * H]) for i in range(3)]

    def cell(gx_r, gx_z, gx_n, h, wh, bh):
        gh = tf.matmul(h, wh) + bh
        r = tf.sigmoid(gx_r + gh[:, :H])
        z = tf.sigmoid(gx_z + gh[:, H:2 * H])
        n = tf.tanh(gx_n + r * gh[:, 2 * H:])
        return (1.0 - z) * n + z * h

    def step(x, h1, h2):
        b1 = c["gru1.bx"]
        gx = [tf.matmul(x, wx1[i]) + b1[i * H:(i + 1) * H] for i in range(3)]
        h1n = cell(gx[0], gx[1], gx[2], h1, c["gru1.wh"], c["gru1.bh"])
        g2 = tf.matmul(h1n, c["gru2.wx"]) + c["gru2.bx"]
        h2n = cell(g2[:, :H], g2[:, H:2 * H], g2[:, 2 * H:], h2, c["gru2.wh"], c["gru2.bh"])
        return {"h1": h1n, "h2": h2n}

    return step


def head_function(w: OracleWeights):
    """``head(h2 (B,100)[, static (B,S)]) -> {"logits"}`` in plain TF ops."""
    tf = _tf()
    spec = w.head
    acts = {"tanh": tf.tanh, "relu": tf.nn.relu, "linear": lambda v: v}
    k = {n: (tf.constant(w[n + ".kernel"]), tf.constant(w[n + ".bias"]))
         for n in _layer_names(spec)}

    def dense(name, act, x):
        return acts[act](tf.matmul(x, k[name][0]) + k[name][1])

    def head(h2, static=None):
        x = h2
        for name, act in spec.get("gru_branch", []):
            x = dense(name, act, x)
        if spec.get("static_branch"):
            s = static
            for name, act in spec["static_branch"]:
                s = dense(name, act, s)
            x = tf.concat([x, s], axis=1)
        for name, act in spec["trunk"]:
            x = dense(name, act, x)
        return {"logits": x}

    return head


def _layer_names(spec):
    return [n for part in ("gru_branch", "static_branch", "trunk") for n, _ in spec.get(part, [])]


def load_oracle(model: str = "elasticc", variant: str | None = None,
                convention: str | None = None, checkpoint: str = "f1", **kw):
    """:meth:`vra_filters.oracle.Oracle.load`, plus the ``keras`` variant (this module's model
    over the float32 weights): what the parity tests, the benchmark and the report use."""
    from vra_filters.oracle import Oracle
    from vra_filters.oracle import inputs as inp
    from vra_filters.oracle.weights import MODELS

    if variant != "keras":
        return Oracle.load(model, variant, convention, checkpoint, **kw)
    if model not in MODELS:
        raise ValueError(f"unknown ORACLE model {model!r}; choose one of {MODELS}")
    convention = inp.convention(convention).name
    kw.pop("threads", None)  # LiteRT's; TensorFlow's come from TF_NUM_*_THREADS
    check = kw.pop("check", True)
    backend = KerasOracle(OracleWeights.load(model, checkpoint, "float32", check=check))
    return Oracle(backend, model, checkpoint, "keras", convention, **kw)
