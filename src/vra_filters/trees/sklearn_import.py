"""scikit-learn -> portable format: :func:`from_sklearn` (a fitted estimator) and
:func:`import_sklearn` (a joblib file).

:func:`import_sklearn` is the only place vra_filters ever opens a pickle. Neither scikit-learn
nor joblib is imported before one of these functions is called.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .format import ModelFormatError, PathLike, TreeEnsemble, sha256_bytes

__all__ = ["from_sklearn", "import_sklearn"]


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
    provenance = {"source_file": model_path.name, "source_sha256": sha256_bytes(raw)}
    model = from_sklearn(
        estimator,
        name=name or model_path.stem,
        version=version or "unversioned",
        provenance=provenance,
        licence=licence,
    )
    model.save(outdir)
    return model
