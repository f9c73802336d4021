"""The portable tree-model format: :class:`TreeEnsemble`, its arrays, validation, save and load.

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

import hashlib
import io
import json
import math
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Union

import numpy as np

from .explain import Explainer
from .predict import ENGINES, Evaluator, probabilities

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "META_FILE",
    "TREES_FILE",
    "ModelFormatError",
    "ModelIntegrityError",
    "TreeEnsemble",
]

FORMAT = "vra_filters.trees"
FORMAT_VERSION = 1
TREES_FILE = "trees.npz"
META_FILE = "model.json"

_NODE_ARRAYS = ("feature", "threshold", "missing_go_to_left", "left", "right", "is_leaf", "value")
_ALL_ARRAYS = _NODE_ARRAYS + ("tree_offsets", "baseline")
# Fixed zip timestamp so that saving the same model twice gives the same bytes (same sha256).
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)

PathLike = Union[str, Path]


class ModelFormatError(ValueError):
    """The model files are malformed, unsupported, or inconsistent with the input."""


class ModelIntegrityError(ModelFormatError):
    """``trees.npz`` does not match the sha256 recorded in ``model.json``."""


def sha256_bytes(data: bytes) -> str:
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
        return self._eval.engine

    def arrays(self) -> dict[str, np.ndarray]:
        """Read-only views of the stored arrays (the ``trees.npz`` content)."""
        return dict(self._arrays)

    def __repr__(self) -> str:
        return (
            f"TreeEnsemble(name={self.name!r}, version={self.version!r}, "
            f"n_features={self.n_features}, n_trees={self.n_trees}, classes={self.classes!r})"
        )

    # ------------------------------------------------------------------ evaluation

    def _compile(self) -> None:
        """Precompute both evaluators' lookup structures (a few ms; done once per model)."""
        self._eval = Evaluator(self._arrays, self._tree_id, self.n_features, self.n_leaves)
        self._explainer: Explainer | None = None

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


    def predict_raw(self, X: Any, *, engine: str | None = None) -> np.ndarray:
        """Raw scores (log-odds / multinomial logits), shape (n_rows, n_trees_per_iteration).

        X: float array (n_rows, n_features) in ``feature_names`` order (a 1-D array is one row),
        or a mapping / DataFrame of feature name -> column (extra names are ignored).
        ``engine`` ("bitmask" or "walk") is for testing; the default picks the faster one.
        """
        x = self._as_matrix(X)
        engine = engine or self.engine
        if engine == "bitmask" and self._eval.bitmask is None:
            raise ModelFormatError("the bitmask evaluator is not available for this model")
        if engine not in ENGINES:
            raise ValueError(f"unknown engine {engine!r}")
        return self._eval.raw(x, self._arrays["baseline"], self.n_iter,
                              self.n_trees_per_iteration, engine)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, shape (n_rows, n_classes), columns in ``classes`` order.

        Same input conventions as :meth:`predict_raw`; matches sklearn's ``predict_proba``.
        """
        return probabilities(self.predict_raw(X))

    def contributions(self, X: Any) -> np.ndarray:
        """Per-feature contributions to the raw score, shape (n_rows, n_features).

        Decision-path decomposition (see :mod:`vra_filters.trees.explain`): contributions plus a
        per-model bias add up to each row's raw score. Binary models only (one raw score per
        row); the table is built on the first call.
        """
        if self.n_trees_per_iteration != 1:
            raise ModelFormatError("contributions are defined for binary models only")
        x = self._as_matrix(X)
        return self._explain().contributions(x)

    def predict_explain(self, X: Any, explain: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """``(predict_proba(X), contributions(X[explain]))`` with each row's exit leaves found
        once (the explanation reuses the prediction's). ``explain``: the rows to explain (an
        index array or mask; default all). Binary models only; equal to the two calls."""
        x = self._as_matrix(X)
        rows = np.arange(x.shape[0]) if explain is None else np.arange(x.shape[0])[explain]
        if (self.n_trees_per_iteration != 1 or self.engine != "bitmask"
                or self._explain().slot_table is None):
            return self.predict_proba(x), self.contributions(x[rows])
        leaves: list = []
        raw = self._eval.raw(x, self._arrays["baseline"], self.n_iter, 1, "bitmask", leaves)
        if not len(rows):
            return probabilities(raw), np.zeros((0, self.n_features))
        exits = leaves[0] if len(leaves) == 1 else np.concatenate(leaves, axis=1)
        return probabilities(raw), self._explain().from_leaves(exits[:, rows])

    def _explain(self) -> Explainer:
        if self._explainer is None:
            lr = self.hyper_parameters.get("learning_rate")
            if lr is None:
                raise ModelFormatError(f"model {self.name}: contributions need the "
                                       "learning_rate hyper-parameter")
            self._explainer = Explainer(self._eval, float(lr))
        return self._explainer

    # ------------------------------------------------------------------ persistence

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
        self.sha256 = sha256_bytes(data)
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
        digest = sha256_bytes(data)
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

