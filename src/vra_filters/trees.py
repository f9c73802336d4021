"""Pickle-free gradient-boosted tree scorers (scikit-learn ``HistGradientBoostingClassifier``).

Brokers must not unpickle model files (code execution, and the ATLAS pickles only load under
scikit-learn 1.4/1.5), so trained trees are shipped as plain arrays and evaluated here with numpy.

On-disk format: a directory holding

* ``trees.npz`` -- numpy arrays only (read with ``allow_pickle=False``), all trees' nodes
  concatenated. Per node: ``feature`` (int32, -1 at leaves), ``threshold`` (float64),
  ``missing_go_to_left`` (uint8), ``left``/``right`` (int32, child index *within* its tree, -1
  at leaves), ``is_leaf`` (uint8), ``value`` (float64 leaf value, learning rate included).
  ``tree_offsets`` (int64, n_trees + 1): tree ``t`` is nodes ``[tree_offsets[t],
  tree_offsets[t+1])`` with its root first. ``baseline`` (float64, one per tree per iteration).
  Trees are stored iteration-major: tree ``t`` belongs to output ``t % n_trees_per_iteration``.
* ``model.json`` -- metadata: name, version, ordered feature names, classes, hyper-parameters,
  provenance, licence and the ``sha256`` of ``trees.npz`` (checked at load time).

Decision rule (identical to scikit-learn): at a split a NaN follows ``missing_go_to_left``;
any other value goes left iff ``x <= threshold`` (so -inf goes left and +inf right). The raw
score is ``baseline + sum of the reached leaf values`` (added tree by tree, in sklearn's order);
binary models apply the logistic function, multiclass models the softmax.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import sys
import zipfile
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Union

import numpy as np

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "ModelFormatError",
    "ModelIntegrityError",
    "TreeEnsemble",
    "class_column",
    "from_sklearn",
    "import_sklearn",
    "predict_csv",
]

FORMAT = "vra_filters.trees"
FORMAT_VERSION = 1
TREES_FILE = "trees.npz"
META_FILE = "model.json"

_NODE_ARRAYS = ("feature", "threshold", "missing_go_to_left", "left", "right", "is_leaf", "value")
_ALL_ARRAYS = _NODE_ARRAYS + ("tree_offsets", "baseline")
# Fixed zip timestamp so that saving the same model twice gives the same bytes (same sha256).
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
# The bitmask evaluator keeps one (n_thresholds x n_trees) mask table in memory; above this size
# (bytes) the node-walking evaluator is used instead.
_MAX_TABLE_BYTES = 64 * 2**20
# Rows evaluated together: keeps the (rows x features x trees) mask gather within a few MB.
_GATHER_BUDGET_BYTES = 4 * 2**20
# Up to this many rows the bitmask evaluator bisects Python lists instead of calling numpy.
_FEW_ROWS = 4

PathLike = Union[str, Path]


class ModelFormatError(ValueError):
    """The model files are malformed, unsupported, or inconsistent with the input."""


class ModelIntegrityError(ModelFormatError):
    """``trees.npz`` does not match the sha256 recorded in ``model.json``."""


def _sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _jsonable(value: Any) -> Any:
    """Convert numpy scalars/arrays and other objects to JSON-safe values (repr as last resort)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return v if math.isfinite(v) else repr(v)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.ndarray):
        return [_jsonable(v) for v in value.tolist()]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return repr(value)


def class_column(label: Any) -> str:
    """Output column name for a class label: ``p_<label>`` (``1.0`` is written ``p_1``)."""
    if isinstance(label, (float, np.floating)) and float(label).is_integer():
        label = int(label)
    return "p_" + str(label)


class TreeEnsemble:
    """A gradient-boosted tree classifier evaluated with numpy (no scikit-learn, no pickle).

    Build one with :meth:`from_trees`, :func:`from_sklearn` or :meth:`load`; score with
    :meth:`predict_proba`. The tree arrays are read-only and prediction keeps no state, so one
    instance can be shared between threads.
    """

    def __init__(
        self,
        arrays: Mapping[str, np.ndarray],
        *,
        feature_names: Sequence[str],
        classes: Sequence[Any],
        n_trees_per_iteration: int = 1,
        name: str = "",
        version: str = "",
        hyper_parameters: Mapping[str, Any] | None = None,
        provenance: Mapping[str, Any] | None = None,
        licence: str | None = None,
        sha256: str | None = None,
    ) -> None:
        missing = [k for k in _ALL_ARRAYS if k not in arrays]
        if missing:
            raise ModelFormatError("tree arrays missing: " + ", ".join(missing))
        dtypes = {
            "feature": np.int32,
            "threshold": np.float64,
            "missing_go_to_left": np.uint8,
            "left": np.int32,
            "right": np.int32,
            "is_leaf": np.uint8,
            "value": np.float64,
            "tree_offsets": np.int64,
            "baseline": np.float64,
        }
        # private read-only copies: callers' arrays are never frozen or aliased
        a = {k: np.array(arrays[k], dtype=dt, copy=True) for k, dt in dtypes.items()}
        a["baseline"] = a["baseline"].reshape(-1)
        for v in a.values():
            v.setflags(write=False)
        self._arrays = a
        self.feature_names: list[str] = [str(f) for f in feature_names]
        self.classes: list[Any] = list(classes)
        self.n_trees_per_iteration = int(n_trees_per_iteration)
        self.name = str(name)
        self.version = str(version)
        self.hyper_parameters: dict[str, Any] = dict(hyper_parameters or {})
        self.provenance: dict[str, Any] = dict(provenance or {})
        self.licence = licence
        self.sha256 = sha256
        self._validate()
        self._compile()

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_trees(
        cls,
        trees: Iterable[Mapping[str, Sequence[Any]]],
        baseline: float | Sequence[float],
        *,
        feature_names: Sequence[str],
        classes: Sequence[Any],
        n_trees_per_iteration: int = 1,
        **metadata: Any,
    ) -> TreeEnsemble:
        """Build from per-tree node lists (sklearn predictor layout, iteration-major order).

        Each tree maps ``feature_idx``, ``num_threshold`` (or ``threshold``),
        ``missing_go_to_left``, ``left``, ``right``, ``is_leaf`` and ``value`` to equal-length
        sequences, root at index 0 and child indices local to the tree.
        """
        parts: dict[str, list[np.ndarray]] = {k: [] for k in _NODE_ARRAYS}
        offsets = [0]
        for t, tree in enumerate(trees):
            thr_key = "num_threshold" if "num_threshold" in tree else "threshold"
            feat_key = "feature_idx" if "feature_idx" in tree else "feature"
            try:
                cols = {
                    "feature": np.asarray(tree[feat_key], dtype=np.int64),
                    "threshold": np.asarray(tree[thr_key], dtype=np.float64),
                    "missing_go_to_left": np.asarray(tree["missing_go_to_left"]).astype(bool),
                    "left": np.asarray(tree["left"], dtype=np.int64),
                    "right": np.asarray(tree["right"], dtype=np.int64),
                    "is_leaf": np.asarray(tree["is_leaf"]).astype(bool),
                    "value": np.asarray(tree["value"], dtype=np.float64),
                }
            except KeyError as exc:
                raise ModelFormatError(f"tree {t}: missing node field {exc}") from None
            n = {len(v) for v in cols.values()}
            if len(n) != 1 or 0 in n:
                raise ModelFormatError(f"tree {t}: node fields have unequal or zero lengths")
            leaf = cols["is_leaf"]
            # Normalise the don't-care fields of leaves so that files are canonical.
            cols["feature"] = np.where(leaf, -1, cols["feature"])
            cols["threshold"] = np.where(leaf, 0.0, cols["threshold"])
            cols["missing_go_to_left"] = np.where(leaf, False, cols["missing_go_to_left"])
            cols["left"] = np.where(leaf, -1, cols["left"])
            cols["right"] = np.where(leaf, -1, cols["right"])
            for k in _NODE_ARRAYS:
                parts[k].append(cols[k])
            offsets.append(offsets[-1] + n.pop())
        if len(offsets) == 1:
            raise ModelFormatError("a model needs at least one tree")
        arrays = {k: np.concatenate(v) for k, v in parts.items()}
        arrays["tree_offsets"] = np.asarray(offsets, dtype=np.int64)
        arrays["baseline"] = np.atleast_1d(np.asarray(baseline, dtype=np.float64)).reshape(-1)
        return cls(
            arrays,
            feature_names=feature_names,
            classes=classes,
            n_trees_per_iteration=n_trees_per_iteration,
            **metadata,
        )

    def _validate(self) -> None:
        """Check the arrays form proper binary trees and agree with the metadata."""
        a = self._arrays
        n_nodes = len(a["value"])
        for k in _NODE_ARRAYS:
            if a[k].shape != (n_nodes,):
                raise ModelFormatError(f"node array {k!r} has shape {a[k].shape}, not ({n_nodes},)")
        off = a["tree_offsets"]
        if off.ndim != 1 or len(off) < 2 or off[0] != 0 or off[-1] != n_nodes:
            raise ModelFormatError("tree_offsets must start at 0 and end at the node count")
        sizes = np.diff(off)
        if (sizes < 1).any():
            raise ModelFormatError("every tree needs at least one node")
        k_out = self.n_trees_per_iteration
        n_trees = len(sizes)
        if k_out < 1 or n_trees % k_out:
            raise ModelFormatError(
                f"{n_trees} trees is not a multiple of n_trees_per_iteration={k_out}"
            )
        if a["baseline"].shape != (k_out,):
            raise ModelFormatError(f"baseline must hold {k_out} value(s)")
        n_classes = len(self.classes)
        if not ((k_out == 1 and n_classes == 2) or (k_out > 1 and k_out == n_classes)):
            raise ModelFormatError(
                f"{n_classes} classes do not match n_trees_per_iteration={k_out}"
            )
        if len(set(self.feature_names)) != len(self.feature_names):
            raise ModelFormatError("feature names are not unique")
        leaf = a["is_leaf"].astype(bool)
        internal = ~leaf
        feat = a["feature"][internal]
        if feat.size and (feat.min() < 0 or feat.max() >= len(self.feature_names)):
            raise ModelFormatError("a split uses a feature index outside feature_names")
        # A NaN threshold is legal (sklearn makes one when training data hold +-inf): every
        # non-NaN value then goes right, as ``x <= nan`` is false.
        if not np.isfinite(a["value"][leaf]).all() or not np.isfinite(a["baseline"]).all():
            raise ModelFormatError("non-finite leaf value or baseline")
        tree_id = np.repeat(np.arange(n_trees), sizes)
        size_of = sizes[tree_id]
        for side in ("left", "right"):
            child = a[side][internal]
            if ((child < 1) | (child >= size_of[internal])).any():
                raise ModelFormatError(f"a {side} child index is outside its tree")
        # Every non-root node must have exactly one parent, so each tree is a proper binary tree
        # (no cycles, no shared or orphan nodes): the walk below always ends at a leaf.
        parent_count = np.zeros(n_nodes, dtype=np.int64)
        start = off[:-1][tree_id[internal]]
        np.add.at(parent_count, start + a["left"][internal], 1)
        np.add.at(parent_count, start + a["right"][internal], 1)
        is_root = np.zeros(n_nodes, dtype=bool)
        is_root[off[:-1]] = True
        if (parent_count[is_root] != 0).any() or (parent_count[~is_root] != 1).any():
            raise ModelFormatError("node links do not form one binary tree per tree")
        self._tree_id = tree_id
        self._sizes = sizes

    # ------------------------------------------------------------------ properties

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    @property
    def n_trees(self) -> int:
        return len(self._sizes)

    @property
    def n_iter(self) -> int:
        return self.n_trees // self.n_trees_per_iteration

    @property
    def n_leaves(self) -> np.ndarray:
        """Leaf count per tree."""
        return np.add.reduceat(
            self._arrays["is_leaf"].astype(np.int64), self._arrays["tree_offsets"][:-1]
        )

    @property
    def engine(self) -> str:
        """Evaluator in use: ``"bitmask"`` (fast, <= 64 leaves/tree) or ``"walk"``."""
        return "bitmask" if self._bitmask is not None else "walk"

    def arrays(self) -> dict[str, np.ndarray]:
        """Read-only views of the stored arrays (the ``trees.npz`` content)."""
        return dict(self._arrays)

    def __repr__(self) -> str:
        return (
            f"TreeEnsemble(name={self.name!r}, version={self.version!r}, "
            f"n_features={self.n_features}, n_trees={self.n_trees}, classes={self.classes!r})"
        )

    # ------------------------------------------------------------------ compilation

    def _compile(self) -> None:
        """Precompute both evaluators' lookup structures (a few ms; done once per model)."""
        a = self._arrays
        leaf = a["is_leaf"].astype(bool)
        start = a["tree_offsets"][:-1]
        node_start = start[self._tree_id]
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
        self._bitmask = self._build_bitmask(left_g, leaf, lo, count)
        self._leaf_rank = lo
        self._children = (left_g, right_g)
        self._path_table: np.ndarray | None = None

    def _build_walk(self, left_g: np.ndarray, right_g: np.ndarray, leaf: np.ndarray) -> None:
        """Node-walking evaluator: nodes renumbered so that right child = left child + 1.

        NaN handling is folded into the input, so every split is just ``x <= threshold``: the
        walk reads column ``f`` (NaN -> -inf, goes left) for missing-goes-left splits, ``F + f``
        (NaN -> +inf, goes right) otherwise; two special cases use ``isnan(x)`` (column
        ``2F + f``) or ``not isnan(x)`` (``3F + f``) against 0.5: +inf thresholds that send only
        NaN right, and NaN thresholds that send only NaN left.
        """
        a = self._arrays
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
        a = self._arrays
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
        tree_of = self._tree_id
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

    # ------------------------------------------------------------------ evaluation

    def _as_matrix(self, X: Any) -> np.ndarray:
        """Return X as a float64 (n_rows, n_features) array in feature_names order."""
        if isinstance(X, Mapping) or hasattr(X, "columns"):
            present = X.keys() if isinstance(X, Mapping) else list(X.columns)
            missing = [f for f in self.feature_names if f not in present]
            if missing:
                raise ModelFormatError(
                    f"model {self.name or '(unnamed)'} needs feature(s) missing from the "
                    f"input: {', '.join(missing)}"
                )
            cols = [np.asarray(X[f], dtype=np.float64).reshape(-1) for f in self.feature_names]
            cols = np.broadcast_arrays(*cols)
            return np.stack(cols, axis=1) if cols else np.empty((0, 0))
        arr = np.asarray(X, dtype=np.float64)
        if arr.ndim == 1:
            arr = arr.reshape(1, -1)
        if arr.ndim != 2 or arr.shape[1] != self.n_features:
            raise ModelFormatError(
                f"expected a 2-D array with {self.n_features} columns "
                f"({', '.join(self.feature_names)}), got shape {arr.shape}"
            )
        return arr

    def _leaf_values_bitmask(self, xt: np.ndarray, out: np.ndarray) -> None:
        """Fill out (n_trees, m) with each tree's exit-leaf value; xt is (n_features, m)."""
        np.take(self._bitmask["leaf_values"], self._exit_leaves_bitmask(xt), out=out)

    def _exit_leaves_bitmask(self, xt: np.ndarray) -> np.ndarray:
        """(n_trees, m) flat (tree, leaf bit) index of each tree's exit leaf; xt (n_features, m)."""
        bm = self._bitmask
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

    def _leaf_values_walk(self, x: np.ndarray, out: np.ndarray) -> None:
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

    def predict_raw(self, X: Any, *, engine: str | None = None) -> np.ndarray:
        """Raw scores (log-odds / multinomial logits), shape (n_rows, n_trees_per_iteration).

        X: float array (n_rows, n_features) in ``feature_names`` order (a 1-D array is one row),
        or a mapping / DataFrame of feature name -> column (extra names are ignored).
        ``engine`` ("bitmask" or "walk") is for testing; the default picks the faster one.
        """
        x = self._as_matrix(X)
        engine = engine or self.engine
        if engine == "bitmask" and self._bitmask is None:
            raise ModelFormatError("the bitmask evaluator is not available for this model")
        if engine not in ("bitmask", "walk"):
            raise ValueError(f"unknown engine {engine!r}")
        n = x.shape[0]
        k_out = self.n_trees_per_iteration
        raw = np.empty((n, k_out), dtype=np.float64)
        if n == 0:
            return raw
        chunk = self._bitmask["chunk"] if engine == "bitmask" else 2048
        xt = np.ascontiguousarray(x.T) if engine == "bitmask" else None
        baseline = self._arrays["baseline"]
        for s in range(0, n, chunk):
            e = min(n, s + chunk)
            m = e - s
            # Row 0 holds the baseline; the trees are then added one by one in sklearn's order.
            buf = np.empty((self.n_iter + 1, k_out, m), dtype=np.float64)
            buf[0] = baseline[:, None]
            leaf_vals = buf[1:].reshape(self.n_trees, m)
            if engine == "bitmask":
                self._leaf_values_bitmask(xt[:, s:e], leaf_vals)
            else:
                self._leaf_values_walk(x[s:e], leaf_vals)
            if k_out * m > 1:
                # numpy reduces an outer (non-contiguous) axis element by element, in order
                raw[s:e] = np.add.reduce(buf, axis=0).T
            else:
                # a contiguous 1-D reduction would be summed pairwise: accumulate instead
                raw[s:e] = np.add.accumulate(buf, axis=0)[-1].T
        return raw

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, shape (n_rows, n_classes), columns in ``classes`` order.

        Same input conventions as :meth:`predict_raw`; matches sklearn's ``predict_proba``.
        """
        raw = self.predict_raw(X)
        if self.n_trees_per_iteration == 1:
            proba = np.empty((raw.shape[0], 2), dtype=np.float64)
            proba[:, 1] = 1.0 / (1.0 + np.exp(-raw[:, 0]))
            proba[:, 0] = 1.0 - proba[:, 1]
            return proba
        z = np.exp(raw - raw.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)

    # ------------------------------------------------------------------ persistence

    def contributions(self, X: Any) -> np.ndarray:
        """Per-feature contributions to the raw score, shape (n_rows, n_features).

        The decision-path decomposition (Saabas): every split a row passes moves the expected
        raw score from the parent's value to the child's, and that move is credited to the
        split's feature. Internal node values are stored unshrunk (scikit-learn's grower), so
        they are scaled by the learning rate; a root's value is not stored and is taken as the
        mean of its children's. Contributions plus a per-model bias add up to the raw score of
        each row; they say which features pushed a score, they are not SHAP values.
        Binary models only (one raw score per row).
        """
        if self.n_trees_per_iteration != 1:
            raise ModelFormatError("contributions are defined for binary models only")
        x = self._as_matrix(X)
        table = self._path_contributions()
        out = np.zeros((x.shape[0], self.n_features))
        if self._bitmask is not None:
            slot_table = self._slot_contributions
            step = 512
            xt = np.ascontiguousarray(x.T)
            for s in range(0, x.shape[0], step):
                out[s:s + step] = slot_table[self._exit_leaves_bitmask(xt[:, s:s + step])].sum(
                    axis=0)
            return out
        for i in range(x.shape[0]):  # fallback for very large trees: walk each row
            out[i] = table[self._exit_leaves_walk(x[i])].sum(axis=0)
        return out

    def _exit_leaves_walk(self, row: np.ndarray) -> np.ndarray:
        a = self._arrays
        left_g, right_g = self._children
        leaves = []
        for root in a["tree_offsets"][:-1].tolist():
            node = root
            while not a["is_leaf"][node]:
                v = row[a["feature"][node]]
                go_left = bool(a["missing_go_to_left"][node]) if v != v else (
                    v <= a["threshold"][node])
                node = int(left_g[node] if go_left else right_g[node])
            leaves.append(node)
        return np.asarray(leaves, dtype=np.intp)

    def _path_contributions(self) -> np.ndarray:
        """(n_nodes, n_features): for each leaf, the contributions along its path (cached)."""
        if self._path_table is not None:
            return self._path_table
        a = self._arrays
        lr = self.hyper_parameters.get("learning_rate")
        if lr is None:
            raise ModelFormatError(f"model {self.name}: contributions need the learning_rate "
                                   "hyper-parameter")
        leaf = a["is_leaf"].astype(bool)
        expected = np.where(leaf, a["value"], float(lr) * a["value"])
        left_g, right_g = self._children
        table = np.zeros((len(leaf), self.n_features))
        for root in a["tree_offsets"][:-1].tolist():
            if not leaf[root]:
                expected[root] = 0.5 * (expected[left_g[root]] + expected[right_g[root]])
            stack = [(root, np.zeros(self.n_features))]
            while stack:
                node, acc = stack.pop()
                if leaf[node]:
                    table[node] = acc
                    continue
                f = int(a["feature"][node])
                for child in (int(left_g[node]), int(right_g[node])):
                    step = acc.copy()
                    step[f] += expected[child] - expected[node]
                    stack.append((child, step))
        self._path_table = table
        if self._bitmask is not None:  # the same rows, indexed like the bitmask exit slots
            bits = self._bitmask["leaf_values"].size // self.n_trees
            leaf_of_slot = np.zeros(self.n_trees * bits, dtype=np.intp)
            leaf = np.flatnonzero(leaf)
            leaf_of_slot[self._tree_id[leaf] * bits + self._leaf_rank[leaf]] = leaf
            self._slot_contributions = table[leaf_of_slot]
        return table

    def metadata(self) -> dict[str, Any]:
        """The ``model.json`` content (without the sha256, which is set by :meth:`save`)."""
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "name": self.name,
            "version": self.version,
            "estimator": "HistGradientBoostingClassifier",
            "feature_names": list(self.feature_names),
            "classes": _jsonable(self.classes),
            "n_trees_per_iteration": self.n_trees_per_iteration,
            "n_iter": self.n_iter,
            "n_trees": self.n_trees,
            "max_leaves_per_tree": int(self.n_leaves.max()),
            "hyper_parameters": _jsonable(self.hyper_parameters),
            "provenance": _jsonable(self.provenance),
            "licence": self.licence,
        }

    def save(self, directory: PathLike) -> Path:
        """Write ``trees.npz`` and ``model.json`` into ``directory``; returns the directory.

        The npz bytes are deterministic (fixed zip timestamps, no compression), so re-saving the
        same model reproduces the same sha256.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
            for key in _ALL_ARRAYS:
                info = zipfile.ZipInfo(key + ".npy", date_time=_ZIP_EPOCH)
                info.external_attr = 0o644 << 16
                with zf.open(info, "w") as fh:
                    np.lib.format.write_array(
                        fh, np.ascontiguousarray(self._arrays[key]), allow_pickle=False
                    )
        data = buf.getvalue()
        self.sha256 = _sha256_bytes(data)
        (directory / TREES_FILE).write_bytes(data)
        meta = self.metadata()
        meta["sha256"] = self.sha256
        (directory / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        return directory

    @classmethod
    def load(cls, directory: PathLike) -> TreeEnsemble:
        """Read a model directory, verifying ``trees.npz`` against the sha256 in ``model.json``."""
        directory = Path(directory)
        meta_path = directory / META_FILE
        if not meta_path.is_file():
            raise FileNotFoundError(f"no {META_FILE} in {directory}")
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT:
            raise ModelFormatError(
                f"{meta_path}: not a {FORMAT} model (format={meta.get('format')!r})"
            )
        if int(meta.get("format_version", -1)) > FORMAT_VERSION:
            raise ModelFormatError(
                f"{meta_path}: format_version {meta.get('format_version')} is newer than "
                f"supported ({FORMAT_VERSION}); upgrade vra_filters"
            )
        data = (directory / TREES_FILE).read_bytes()
        digest = _sha256_bytes(data)
        expected = meta.get("sha256")
        if digest != expected:
            raise ModelIntegrityError(
                f"{directory / TREES_FILE}: sha256 {digest} does not match {expected} recorded "
                f"in {META_FILE}; the model files are corrupt or were modified"
            )
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        try:
            return cls(
                arrays,
                feature_names=meta["feature_names"],
                classes=meta["classes"],
                n_trees_per_iteration=meta.get("n_trees_per_iteration", 1),
                name=meta.get("name", ""),
                version=meta.get("version", ""),
                hyper_parameters=meta.get("hyper_parameters"),
                provenance=meta.get("provenance"),
                licence=meta.get("licence"),
                sha256=digest,
            )
        except KeyError as exc:
            raise ModelFormatError(f"{meta_path}: missing key {exc}") from None


# ---------------------------------------------------------------------- scikit-learn bridge


def from_sklearn(
    estimator: Any,
    name: str,
    version: str,
    provenance: Mapping[str, Any] | None = None,
    licence: str | None = None,
) -> TreeEnsemble:
    """Convert a fitted ``HistGradientBoostingClassifier`` (numeric features only).

    Reads the fitted trees (private ``_predictors`` / ``_baseline_prediction``, stable since
    sklearn 0.24). Categorical splits are refused: they need the fitted category bitsets.
    """
    import sklearn
    from sklearn.ensemble import HistGradientBoostingClassifier

    if not isinstance(estimator, HistGradientBoostingClassifier):
        raise TypeError(
            f"expected a fitted HistGradientBoostingClassifier, got {type(estimator).__name__}"
        )
    if not hasattr(estimator, "_predictors"):
        raise ValueError("the estimator is not fitted")
    is_cat = getattr(estimator, "is_categorical_", None)
    preprocessor = getattr(estimator, "_preprocessor", None)
    if (is_cat is not None and np.any(is_cat)) or preprocessor is not None:
        raise ModelFormatError(
            "categorical features are not supported: refit with numeric features only "
            "(e.g. one-hot or ordinal codes as plain numbers, categorical_features=None)"
        )
    trees = []
    for iteration in estimator._predictors:
        for predictor in iteration:
            nodes = predictor.nodes
            if "is_categorical" in nodes.dtype.names and nodes["is_categorical"].any():
                raise ModelFormatError("categorical splits are not supported")
            thr = "num_threshold" if "num_threshold" in nodes.dtype.names else "threshold"
            trees.append(
                {
                    "feature_idx": nodes["feature_idx"],
                    "num_threshold": nodes[thr],
                    "missing_go_to_left": nodes["missing_go_to_left"],
                    "left": nodes["left"],
                    "right": nodes["right"],
                    "is_leaf": nodes["is_leaf"],
                    "value": nodes["value"],
                }
            )
    n_features = int(estimator.n_features_in_)
    names = getattr(estimator, "feature_names_in_", None)
    feature_names = (
        [str(f) for f in names] if names is not None else [f"x{i}" for i in range(n_features)]
    )
    params = {k: v for k, v in estimator.get_params().items()}
    params["n_iter_"] = int(estimator.n_iter_)
    prov = dict(provenance or {})
    prov.setdefault(
        "conversion",
        {"tool": "vra_filters.trees.from_sklearn", "sklearn_version": sklearn.__version__},
    )
    return TreeEnsemble.from_trees(
        trees,
        np.asarray(estimator._baseline_prediction, dtype=np.float64).reshape(-1),
        feature_names=feature_names,
        classes=[c.item() if hasattr(c, "item") else c for c in estimator.classes_],
        n_trees_per_iteration=int(estimator.n_trees_per_iteration_),
        name=name,
        version=version,
        hyper_parameters=params,
        provenance=prov,
        licence=licence,
    )


def import_sklearn(
    model_path: PathLike,
    outdir: PathLike,
    name: str | None = None,
    version: str | None = None,
    licence: str | None = None,
) -> TreeEnsemble:
    """Convert a joblib-pickled HistGradientBoostingClassifier into the portable format.

    SECURITY: this unpickles ``model_path``, which can run arbitrary code. It is the only place
    vra_filters ever opens a pickle; only pass files you trust, and ship the converted directory
    (never the pickle). Needs scikit-learn (a version able to unpickle the file) and joblib.
    """
    import joblib

    model_path = Path(model_path)
    raw = model_path.read_bytes()
    estimator = joblib.load(model_path)
    provenance = {"source_file": model_path.name, "source_sha256": _sha256_bytes(raw)}
    model = from_sklearn(
        estimator,
        name=name or model_path.stem,
        version=version or "unversioned",
        provenance=provenance,
        licence=licence,
    )
    model.save(outdir)
    return model


# ---------------------------------------------------------------------- CSV scoring

_NAN_TOKENS = {"", "nan", "none", "null", "na", "n/a"}
_BOOL_TOKENS = {"true": 1.0, "false": 0.0}


def _parse_cell(text: str, line: int, column: str) -> float:
    t = text.strip()
    low = t.lower()
    if low in _NAN_TOKENS:
        return math.nan
    if low in _BOOL_TOKENS:
        return _BOOL_TOKENS[low]
    try:
        return float(t)
    except ValueError:
        raise ValueError(f"line {line}, column {column!r}: not a number: {text!r}") from None


def _csv_blocks(reader: Any, n_fields: int, source: Any, size: int) -> Iterator[list]:
    """Yield lists of (line number, row) of at most ``size`` rows; blank lines are skipped."""
    block = []
    for line_no, row in enumerate(reader, start=2):
        if not row:
            continue
        if len(row) != n_fields:
            raise ValueError(f"{source}, line {line_no}: {len(row)} fields, header has {n_fields}")
        block.append((line_no, row))
        if len(block) >= size:
            yield block
            block = []
    if block:
        yield block


def predict_csv(
    model_dir: PathLike | TreeEnsemble,
    features_csv: PathLike,
    out: PathLike,
    chunk_rows: int = 65536,
) -> int:
    """Score a CSV of features; write the input's other columns plus one ``p_<class>`` each.

    ``out`` is a file path (written whole or not at all) or ``"-"`` for standard output.

    Columns are matched by header name (order free). Empty/NaN/None/null cells are missing
    values, True/False are 1/0. Rows are streamed in chunks; the output appears only once
    complete. Returns the number of rows scored.
    """
    model = model_dir if isinstance(model_dir, TreeEnsemble) else TreeEnsemble.load(model_dir)
    n_rows = 0
    with open(features_csv, newline="", encoding="utf-8-sig") as fin:
        reader = csv.reader(fin)
        header = [h.strip() for h in next(reader, [])]
        if not header:
            raise ValueError(f"{features_csv}: empty file (a header row is required)")
        missing = [f for f in model.feature_names if f not in header]
        if missing:
            raise ModelFormatError(
                f"{features_csv}: missing column(s) needed by model {model.name or model_dir}: "
                + ", ".join(missing)
            )
        feat_idx = [header.index(f) for f in model.feature_names]
        extra_idx = [i for i, h in enumerate(header) if h not in set(model.feature_names)]

        def write(fout: Any) -> int:
            n = 0
            writer = csv.writer(fout, lineterminator="\n")
            writer.writerow(
                [header[i] for i in extra_idx] + [class_column(c) for c in model.classes]
            )
            for block in _csv_blocks(reader, len(header), features_csv, chunk_rows):
                x = np.array(
                    [[_parse_cell(row[i], line, header[i]) for i in feat_idx]
                     for line, row in block],
                    dtype=np.float64,
                ).reshape(len(block), len(feat_idx))
                for (_, row), p in zip(block, model.predict_proba(x).tolist()):
                    writer.writerow([row[i] for i in extra_idx] + [repr(v) for v in p])
                n += len(block)
            return n

        if str(out) == "-":  # standard output, streamed
            return write(sys.stdout)
        out = Path(out)
        tmp = out.with_name(out.name + ".partial")
        try:
            with open(tmp, "w", newline="", encoding="utf-8") as fout:
                n_rows = write(fout)
            os.replace(tmp, out)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    return n_rows
