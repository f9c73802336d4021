"""The two evaluators of a :class:`~vra_filters.trees.TreeEnsemble` (numpy only).

* **bitmask** (default for trees of at most 64 leaves): one ``searchsorted`` per feature and an AND
  of precomputed leaf masks per tree give every tree's exit leaf at once;
* **walk**: all (tree, row) pairs step down one level per iteration (any tree size).

Both follow scikit-learn's decision rule exactly (see the package docstring) and add the leaf
values tree by tree in scikit-learn's order, so scores are bit-identical to ``predict_proba``.
:class:`Evaluator` holds the lookup tables, built once per model (a few ms).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["ENGINES", "Evaluator", "probabilities"]

ENGINES = ("bitmask", "walk")
# The bitmask evaluator keeps one (n_thresholds x n_trees) mask table in memory; above this size
# (bytes) the node-walking evaluator is used instead.
_MAX_TABLE_BYTES = 64 * 2**20
# Rows evaluated together: keeps the (rows x features x trees) mask gather within a few MB.
_GATHER_BUDGET_BYTES = 4 * 2**20
# Up to this many rows the bitmask evaluator bisects Python lists instead of calling numpy.
_FEW_ROWS = 4


class Evaluator:
    """Lookup tables of both evaluators for one ensemble's (validated, read-only) arrays.

    ``tree_id`` maps each node to its tree; ``n_leaves`` is the leaf count per tree. The tables
    are read-only after construction, so one instance can be shared between threads.
    """

    def __init__(self, arrays: Mapping[str, np.ndarray], tree_id: np.ndarray, n_features: int,
                 n_leaves: np.ndarray) -> None:
        self.arrays = arrays
        self.tree_id = tree_id
        self.n_features = int(n_features)
        self.n_trees = len(n_leaves)
        self.n_leaves = n_leaves
        a = arrays
        leaf = a["is_leaf"].astype(bool)
        start = a["tree_offsets"][:-1]
        node_start = start[self.tree_id]
        n_nodes = len(leaf)

        # Leaf rank in left-to-right order, and the leaf range [lo, lo + count) of every subtree.
        lo = np.zeros(n_nodes, dtype=np.int64)
        count = np.zeros(n_nodes, dtype=np.int64)
        left_g = np.where(leaf, -1, node_start + a["left"])
        right_g = np.where(leaf, -1, node_start + a["right"])
        for root in start.tolist():
            rank = 0
            order = []
            stack = [root]
            while stack:  # pre-order, left before right: leaves come out left to right
                node = stack.pop()
                order.append(node)
                if leaf[node]:
                    lo[node] = rank
                    count[node] = 1
                    rank += 1
                else:
                    stack.append(int(right_g[node]))
                    stack.append(int(left_g[node]))
            for node in reversed(order):
                if not leaf[node]:
                    lo[node] = lo[left_g[node]]
                    count[node] = count[left_g[node]] + count[right_g[node]]
        self._build_walk(left_g, right_g, leaf)
        self.bitmask = self._build_bitmask(left_g, leaf, lo, count)
        self.leaf_rank = lo
        self.children = (left_g, right_g)

    def _build_walk(self, left_g: np.ndarray, right_g: np.ndarray, leaf: np.ndarray) -> None:
        """Node-walking evaluator: nodes renumbered so that right child = left child + 1.

        NaN handling is folded into the input, so every split is just ``x <= threshold``: the
        walk reads column ``f`` (NaN -> -inf, goes left) for missing-goes-left splits, ``F + f``
        (NaN -> +inf, goes right) otherwise; two special cases use ``isnan(x)`` (column
        ``2F + f``) or ``not isnan(x)`` (``3F + f``) against 0.5: +inf thresholds that send only
        NaN right, and NaN thresholds that send only NaN left.
        """
        a = self.arrays
        n_nodes = len(leaf)
        new_of = np.empty(n_nodes, dtype=np.int64)
        order: list[int] = []
        for root in a["tree_offsets"][:-1].tolist():
            new_of[root] = len(order)
            order.append(root)
            stack = [root]
            while stack:
                node = stack.pop()
                if not leaf[node]:
                    lc, rc = int(left_g[node]), int(right_g[node])
                    new_of[lc] = len(order)
                    new_of[rc] = len(order) + 1
                    order.extend((lc, rc))
                    stack.extend((rc, lc))
        old = np.asarray(order, dtype=np.int64)
        nf = self.n_features
        feat = a["feature"][old].astype(np.int64)
        thr = a["threshold"][old]
        mgl = a["missing_go_to_left"][old].astype(bool)
        is_leaf = leaf[old]
        col = np.where(mgl, feat, nf + feat)
        only_nan_right = ~mgl & np.isposinf(thr)
        only_nan_left = mgl & np.isnan(thr)
        col = np.where(only_nan_right, 2 * nf + feat, col)
        col = np.where(only_nan_left, 3 * nf + feat, col)
        thr = np.where(only_nan_right | only_nan_left, 0.5, thr)
        self._w_col = np.where(is_leaf, 0, col)
        self._w_thr = np.where(is_leaf, 0.0, thr)
        self._w_right = np.where(is_leaf, -1, new_of[np.maximum(right_g[old], 0)])
        self._w_leaf = is_leaf
        self._w_value = np.where(is_leaf, a["value"][old], 0.0)
        self._w_roots = new_of[a["tree_offsets"][:-1]]

    def _build_bitmask(
        self, left_g: np.ndarray, leaf: np.ndarray, lo: np.ndarray, count: np.ndarray
    ) -> dict[str, Any] | None:
        """Bitmask evaluator tables (after QuickScorer, Lucchese et al. 2015).

        Each tree's leaves are bits (bit r = r-th leaf from the left). A split whose test fails
        (the row goes right) rules out the leaves of its left subtree; the exit leaf is the
        lowest bit that survives the AND of all failed splits' masks. For one feature the failed
        splits are those with ``threshold < x``, a prefix of the splits sorted by threshold, so
        the per-tree ANDs of every prefix are tabulated and one ``searchsorted`` per feature
        picks the row. An extra row per feature holds the masks for x = NaN.
        """
        a = self.arrays
        n_trees = self.n_trees
        max_leaves = int(self.n_leaves.max())
        if max_leaves <= 32:
            word, bits, fword, bias, shift = np.uint32, 32, np.float32, 127, 23
        elif max_leaves <= 64:
            word, bits, fword, bias, shift = np.uint64, 64, np.float64, 1023, 52
        else:
            return None
        internal = np.flatnonzero(~leaf)
        feat = a["feature"][internal]
        n_rows = len(internal) + 2 * len(np.unique(feat))
        if n_rows * n_trees * np.dtype(word).itemsize > _MAX_TABLE_BYTES:
            return None
        full = np.array(-1, dtype=np.int64).astype(word)  # all bits set
        # ~(left-subtree bits) for every internal node
        lmask = np.zeros(len(leaf), dtype=np.uint64)
        lc = left_g[internal]
        lmask[internal] = ((np.uint64(1) << count[lc].astype(np.uint64)) - np.uint64(1)) << lo[
            lc
        ].astype(np.uint64)
        keep = (~lmask).astype(word)  # truncation to 32 bits keeps the low (leaf) bits
        tree_of = self.tree_id
        tables = []
        thresholds = []
        skip: list[int] = []
        used = []
        for f in range(self.n_features):
            nodes = internal[feat == f]
            if nodes.size == 0:
                continue
            thr_f = a["threshold"][nodes]
            nan_thr = np.isnan(thr_f)
            n_nan = int(nan_thr.sum())  # NaN thresholds fail for every non-NaN x: put them first
            finite = nodes[~nan_thr][np.argsort(thr_f[~nan_thr], kind="stable")]
            nodes = np.concatenate([nodes[nan_thr], finite])
            k = len(nodes)
            steps = np.full((k + 1, n_trees), full, dtype=word)
            steps[np.arange(1, k + 1), tree_of[nodes]] = keep[nodes]
            table = np.empty((k + 2, n_trees), dtype=word)
            np.bitwise_and.accumulate(steps, axis=0, out=table[: k + 1])
            nan_steps = steps[1:][~a["missing_go_to_left"][nodes].astype(bool)]
            table[k + 1] = np.bitwise_and.reduce(
                np.vstack([np.full((1, n_trees), full, dtype=word), nan_steps]), axis=0
            )
            tables.append(table)
            # +inf sentinel: searchsorted then sends NaN (sorted after +inf) to row k + 1.
            thresholds.append(np.append(a["threshold"][finite], np.inf))
            skip.append(n_nan)
            used.append(f)
        row_offset = np.cumsum([0] + [len(t) for t in tables])[:-1].astype(np.intp)
        row_offset += np.asarray(skip, dtype=np.intp)
        if tables:
            table_all = np.ascontiguousarray(np.concatenate(tables))
        else:
            table_all = np.full((1, n_trees), full, dtype=word)
        leaf_values = np.zeros((n_trees, bits), dtype=np.float64)
        leaf_idx = np.flatnonzero(leaf)
        leaf_values[tree_of[leaf_idx], lo[leaf_idx]] = a["value"][leaf_idx]
        per_row = max(1, len(used)) * n_trees * np.dtype(word).itemsize
        return {
            "word": word,
            "fword": fword,
            "ival": np.int32 if fword is np.float32 else np.int64,
            "shift": shift,
            "used": used,
            "thresholds": thresholds,
            "lists": [
                (f, thr.tolist(), int(off)) for f, thr, off in zip(used, thresholds, row_offset)
            ],
            "row_offset": row_offset,
            "table": table_all,
            "leaf_values": leaf_values.ravel(),
            # flat index of (tree t, bit b) is exponent(2**b) + t*bits - bias
            "col_base": (np.arange(n_trees, dtype=np.intp) * bits - bias)[:, None],
            "chunk": int(min(4096, max(64, _GATHER_BUDGET_BYTES // per_row))),
        }

    def leaf_values_bitmask(self, xt: np.ndarray, out: np.ndarray) -> None:
        """Fill out (n_trees, m) with each tree's exit-leaf value; xt is (n_features, m)."""
        np.take(self.bitmask["leaf_values"], self.exit_leaves_bitmask(xt), out=out)

    def exit_leaves_bitmask(self, xt: np.ndarray) -> np.ndarray:
        """(n_trees, m) flat (tree, leaf bit) index of each tree's exit leaf; xt (n_features, m)."""
        bm = self.bitmask
        m = xt.shape[1]
        used = bm["used"]
        if used and m <= _FEW_ROWS:
            # Per-call numpy overhead dominates for a handful of rows: bisect plain lists.
            cols = xt.tolist()
            idx = np.array(
                [
                    [off + (len(thr) if v != v else bisect_left(thr, v)) for v in cols[f]]
                    for f, thr, off in bm["lists"]
                ],
                dtype=np.intp,
            )
            masks = np.bitwise_and.reduce(np.take(bm["table"], idx.T, axis=0), axis=1)
        elif used:
            idx = np.empty((len(used), m), dtype=np.intp)
            for j, f in enumerate(used):
                idx[j] = bm["thresholds"][j].searchsorted(xt[f], "left")
            idx += bm["row_offset"][:, None]
            masks = np.bitwise_and.reduce(np.take(bm["table"], idx.T, axis=0), axis=1)
        else:
            masks = np.repeat(bm["table"][:1], m, axis=0)
        lowest = np.bitwise_and(masks, np.negative(masks))  # isolate the lowest set bit
        # exponent of the (exact) float conversion of 2**b gives b + bias
        expo = lowest.T.astype(bm["fword"]).view(bm["ival"]) >> bm["shift"]
        return expo + bm["col_base"]

    def leaf_values_walk(self, x: np.ndarray, out: np.ndarray) -> None:
        """Fill out (n_trees, m) by walking all (tree, row) pairs level by level."""
        m = x.shape[0]
        nan = np.isnan(x)
        xa = np.concatenate(
            [
                np.where(nan, -np.inf, x),
                np.where(nan, np.inf, x),
                nan.astype(np.float64),
                (~nan).astype(np.float64),
            ],
            axis=1,
        ).ravel()
        width = 4 * self.n_features
        node = np.repeat(self._w_roots, m)
        row_base = np.tile(np.arange(m, dtype=np.intp) * width, self.n_trees)
        pos = np.arange(node.size)
        flat_out = out.reshape(-1)
        done = self._w_leaf[node]
        while True:
            if done.any():
                flat_out[pos[done]] = self._w_value[node[done]]
                keep = ~done
                node, row_base, pos = node[keep], row_base[keep], pos[keep]
            if node.size == 0:
                break
            go_left = xa[row_base + self._w_col[node]] <= self._w_thr[node]
            node = self._w_right[node] - go_left
            done = self._w_leaf[node]

    @property
    def engine(self) -> str:
        """The faster evaluator available: ``"bitmask"`` (<= 64 leaves/tree) or ``"walk"``."""
        return "bitmask" if self.bitmask is not None else "walk"

    def raw(self, x: np.ndarray, baseline: np.ndarray, n_iter: int, k_out: int,
            engine: str, leaves: list | None = None) -> np.ndarray:
        """Raw scores (n_rows, k_out) of a float64 (n_rows, n_features) matrix.

        ``leaves``: a list that receives, per chunk of rows, the bitmask exit leaves
        (n_trees, m) the scores were summed from (so an explanation need not find them again).
        """
        n = x.shape[0]
        raw = np.empty((n, k_out), dtype=np.float64)
        if n == 0:
            return raw
        chunk = self.bitmask["chunk"] if engine == "bitmask" else 2048
        xt = np.ascontiguousarray(x.T) if engine == "bitmask" else None
        for s in range(0, n, chunk):
            e = min(n, s + chunk)
            m = e - s
            # Row 0 holds the baseline; the trees are then added one by one in sklearn's order.
            buf = np.empty((n_iter + 1, k_out, m), dtype=np.float64)
            buf[0] = baseline[:, None]
            leaf_vals = buf[1:].reshape(self.n_trees, m)
            if engine == "bitmask":
                exits = self.exit_leaves_bitmask(xt[:, s:e])
                np.take(self.bitmask["leaf_values"], exits, out=leaf_vals)
                if leaves is not None:
                    leaves.append(exits)
            else:
                self.leaf_values_walk(x[s:e], leaf_vals)
            if k_out * m > 1:
                # numpy reduces an outer (non-contiguous) axis element by element, in order
                raw[s:e] = np.add.reduce(buf, axis=0).T
            else:
                # a contiguous 1-D reduction would be summed pairwise: accumulate instead
                raw[s:e] = np.add.accumulate(buf, axis=0)[-1].T
        return raw


def probabilities(raw: np.ndarray) -> np.ndarray:
    """Class probabilities from raw scores: logistic for one column, softmax otherwise."""
    if raw.shape[1] == 1:
        proba = np.empty((raw.shape[0], 2), dtype=np.float64)
        proba[:, 1] = 1.0 / (1.0 + np.exp(-raw[:, 0]))
        proba[:, 0] = 1.0 - proba[:, 1]
        return proba
    z = np.exp(raw - raw.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)
