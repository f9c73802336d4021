"""Pure-numpy ORACLE-1 forward pass: the 2-layer GRU (SPEC §2.1) and the dense head (§3).

For hosts without TensorFlow/LiteRT (ANTARES workers: Python 3.9, numpy 1.26). The weights are
upstream's float32 values (or their int8 quantization); the arithmetic is float64 by default so
that results do not depend on batching (see :class:`NumpyOracle`), and match upstream's float32
logits to ~1e-5.

Speed comes from batching, not from per-step tricks: a batch of light curves is sorted by length
(longest first) so that at step ``t`` the objects still running are a leading slice of the
batch -- no padding, no masks, and padded steps can never touch a state. Each GRU layer runs over
the whole batch before the next; its input projection (``x @ W_x``, ~1/3 of the work) is one big
matmul per layer instead of one per step.

The same entry point continues sequences from given states (``h1``, ``h2``), which is all the
incremental path needs: "full recomputation" is "continue from zero states".
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .weights import HIDDEN, OracleWeights

_ACT = {
    "tanh": np.tanh,
    "relu": lambda x: np.maximum(x, 0),
    "linear": lambda x: x,
}


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function, float32 (exp overflow for x < -88 correctly gives 0)."""
    with np.errstate(over="ignore"):
        return np.float32(1.0) / (np.float32(1.0) + np.exp(-np.asarray(x, np.float32)))


def _sigmoid_inplace(a: np.ndarray) -> np.ndarray:
    np.negative(a, out=a)
    np.exp(a, out=a)
    a += np.float32(1.0)
    np.reciprocal(a, out=a)
    return a


def _tanh_inplace(a: np.ndarray) -> np.ndarray:
    """tanh(a) = 2 sigmoid(2a) - 1: numpy's float32 exp is ~2.5x faster than its tanh here, and
    the absolute error (~1e-7) is far below the float32 port budget (1e-4 on logits)."""
    a *= np.float32(2.0)
    _sigmoid_inplace(a)
    a *= np.float32(2.0)
    a -= np.float32(1.0)
    return a


def gru_layer(gx: np.ndarray, lengths: np.ndarray, h0: np.ndarray, wh: np.ndarray,
              bh: np.ndarray, return_sequences: bool) -> tuple:
    """One GRU layer over a length-sorted (descending) batch.

    ``gx`` (B, T, 3H): input projections ``x @ W_x + b_x`` (gate blocks r, z, n); ``h0`` (B, H).
    Returns ``(h_last, seq)`` where ``h_last`` is each object's state after its own last step and
    ``seq`` (B, T, H) the per-step states (zeros past each length) when ``return_sequences``.
    """
    b, t_max = gx.shape[0], gx.shape[1]
    h = h0.astype(gx.dtype, copy=True)
    seq = np.zeros((b, t_max, HIDDEN), dtype=gx.dtype) if return_sequences else None
    # active[t] = number of objects with length > t (a leading slice: lengths sorted descending)
    active = (lengths[None, :] > np.arange(t_max)[:, None]).sum(axis=1)
    H = HIDDEN
    with np.errstate(over="ignore"):
        for t in range(t_max):
            k = int(active[t])
            if k == 0:
                break
            hk = h[:k]
            gh = hk @ wh
            gh += bh
            g = gx[:k, t]
            rz = g[:, : 2 * H] + gh[:, : 2 * H]
            _sigmoid_inplace(rz)
            n = gh[:, 2 * H:] * rz[:, :H]
            n += g[:, 2 * H:]
            _tanh_inplace(n)
            # h' = (1 - z) * n + z * h  ==  n + z * (h - n)
            d = hk - n
            d *= rz[:, H:]
            d += n
            h[:k] = d
            if seq is not None:
                seq[:k, t] = d
    return h, seq


def _cell(g: np.ndarray, h: np.ndarray, wh: np.ndarray, bh: np.ndarray) -> np.ndarray:
    """One GRU step from input projections ``g`` (B, 3H) and state ``h`` (B, H)."""
    H = HIDDEN
    gh = h @ wh
    gh += bh
    rz = g[:, : 2 * H] + gh[:, : 2 * H]
    _sigmoid_inplace(rz)  # callers hold np.errstate(over="ignore")
    n = gh[:, 2 * H:] * rz[:, :H]
    n += g[:, 2 * H:]
    _tanh_inplace(n)
    d = h - n
    d *= rz[:, H:]
    d += n
    return d


class NumpyOracle:
    """The network over :class:`OracleWeights` (float32, or int8 dequantized at load).

    ``compute_dtype``: arithmetic precision. The default, float64, makes the result independent
    of how rows are batched (full recomputation, one step per alert, any batch size agree to
    ~1e-7 instead of ~1e-5 in float32, where BLAS sums in shape-dependent order) and stays
    within 1.1e-5 of upstream's float32 logits (SPEC §4.4); float32 is ~1.3x faster on large
    batches. Weights are float32 (or int8) values either way; states and logits leave as
    float32.
    """

    def __init__(self, weights: OracleWeights, compute_dtype=np.float64) -> None:
        self.weights = weights
        self.dt = np.dtype(compute_dtype)
        a = weights.arrays
        self._w = {k: np.ascontiguousarray(v, dtype=self.dt) for k, v in a.items()}
        self.static_size = weights.static_size
        self.sha256 = weights.sha256
        self.n_out = self._w["out.bias"].shape[0]

    # -- GRU -----------------------------------------------------------------------------------
    def run(self, ts_list: Sequence[np.ndarray], h1: np.ndarray | None = None,
            h2: np.ndarray | None = None) -> tuple:
        """Final states (h1, h2), each (B, 100) float32, after feeding each ``ts_list[i]``
        ((T_i, 5) rows) from the initial states (zeros when None). Empty sequences return the
        initial state unchanged."""
        n = len(ts_list)
        dt = self.dt
        h1 = np.zeros((n, HIDDEN), dt) if h1 is None else np.asarray(h1, dt)
        h2 = np.zeros((n, HIDDEN), dt) if h2 is None else np.asarray(h2, dt)
        if n == 0:
            return h1.astype(np.float32), h2.astype(np.float32)
        lengths = np.fromiter((len(x) for x in ts_list), dtype=np.int64, count=n)
        if n and lengths.min() == lengths.max() == 1:
            # incremental hot path (one new point per object): no sorting, no sequence buffers
            return self.step(np.concatenate(ts_list), h1, h2)
        order = np.argsort(-lengths, kind="stable")
        ls = lengths[order]
        t_max = int(ls[0]) if n else 0
        if t_max == 0:
            return h1.astype(np.float32), h2.astype(np.float32)
        x = np.zeros((n, t_max, 5), dtype=dt)
        for j, i in enumerate(order):
            x[j, : ls[j]] = ts_list[i]
        w = self._w
        # 2-D matmuls: one BLAS call for all (object, step) rows instead of one per object
        gx1 = (x.reshape(-1, 5) @ w["gru1.wx"]).reshape(n, t_max, -1)
        gx1 += w["gru1.bx"]
        h1s, seq1 = gru_layer(gx1, ls, h1[order], w["gru1.wh"], w["gru1.bh"], True)
        gx2 = (seq1.reshape(-1, HIDDEN) @ w["gru2.wx"]).reshape(n, t_max, -1)
        gx2 += w["gru2.bx"]
        h2s, _ = gru_layer(gx2, ls, h2[order], w["gru2.wh"], w["gru2.bh"], False)
        out1 = np.empty((n, HIDDEN), np.float32)
        out2 = np.empty((n, HIDDEN), np.float32)
        out1[order] = h1s
        out2[order] = h2s
        return out1, out2

    def step(self, x: np.ndarray, h1: np.ndarray, h2: np.ndarray) -> tuple:
        """One time step for a batch: x (B, 5), h1/h2 (B, 100) -> new (h1, h2), float32."""
        w = self._w
        dt = self.dt
        with np.errstate(over="ignore"):
            g1 = np.asarray(x, dt).reshape(-1, 5) @ w["gru1.wx"]
            g1 += w["gru1.bx"]
            a = _cell(g1, np.asarray(h1, dt), w["gru1.wh"], w["gru1.bh"])
            g2 = a @ w["gru2.wx"]
            g2 += w["gru2.bx"]
            b = _cell(g2, np.asarray(h2, dt), w["gru2.wh"], w["gru2.bh"])
        return a.astype(np.float32), b.astype(np.float32)

    # -- head ----------------------------------------------------------------------------------
    def _dense(self, name: str, x: np.ndarray, act: str) -> np.ndarray:
        y = x @ self._w[name + ".kernel"]
        y += self._w[name + ".bias"]
        return _ACT[act](y)

    def head(self, h2: np.ndarray, static: np.ndarray | None = None,
             return_embedding: bool = False):
        """Logits (B, n_nodes) from the top-layer state ``h2`` (B, 100) and ``static`` (B, S)."""
        spec = self.weights.head
        x = np.asarray(h2, self.dt)
        for name, act in spec.get("gru_branch", []):
            x = self._dense(name, x, act)
        if spec.get("static_branch"):
            s = np.asarray(static, self.dt).reshape(x.shape[0], -1)
            for name, act in spec["static_branch"]:
                s = self._dense(name, s, act)
            x = np.concatenate([x, s], axis=1)  # GRU branch first (SPEC §3.1 step 4)
        emb = None
        for name, act in spec["trunk"]:
            if name == spec.get("embedding_layer"):
                y = x @ self._w[name + ".kernel"] + self._w[name + ".bias"]
                emb = y
                x = _ACT[act](y)
            else:
                x = self._dense(name, x, act)
        x = x.astype(np.float32)
        return (x, emb.astype(np.float32)) if return_embedding else x

    def logits(self, ts_list: Sequence[np.ndarray], static: np.ndarray | None = None,
               batch_size: int = 256) -> np.ndarray:
        """Full recomputation for many light curves, in batches of ``batch_size`` objects."""
        out = np.zeros((len(ts_list), self.n_out), dtype=np.float32)
        for lo in range(0, len(ts_list), batch_size):
            hi = min(lo + batch_size, len(ts_list))
            _, h2 = self.run(ts_list[lo:hi])
            st = None if static is None else np.asarray(static, np.float32)[lo:hi]
            out[lo:hi] = self.head(h2, st)
        return out
