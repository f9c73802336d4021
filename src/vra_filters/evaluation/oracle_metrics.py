"""Classification scores from true and predicted classes: confusion matrix, per-class recall,
precision and F1, and their macro averages (numpy only).

Conventions (stated in every report): recall of a class = its correctly predicted objects /
its true objects; precision = correctly predicted / predicted as that class (0 when nothing
was); F1 = their harmonic mean (0 when both are 0). Macro averages run over the classes with
at least one true object in the set -- a class nobody belongs to has no recall, and a
single-class set (all SN Ia) then reports that class's recall, precision and F1. ``accuracy``
is the fraction of objects whose predicted class is their true class.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def confusion(true: Sequence[str], pred: Sequence[str], classes: Sequence[str]) -> np.ndarray:
    """Counts (n_classes, n_classes): row = true class, column = predicted class, in the order
    of ``classes`` (every label of ``true`` and ``pred`` must be in it)."""
    index = {c: k for k, c in enumerate(classes)}
    out = np.zeros((len(classes), len(classes)), dtype=np.int64)
    for t, p in zip(true, pred):
        out[index[t], index[p]] += 1
    return out


def scores(matrix: np.ndarray, classes: Sequence[str]) -> dict:
    """Per-class and macro recall / precision / F1 and accuracy of a confusion matrix."""
    m = np.asarray(matrix, dtype=np.int64)
    tp = np.diag(m).astype(float)
    n_true = m.sum(axis=1)
    n_pred = m.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(n_true > 0, tp / np.maximum(n_true, 1), np.nan)
        precision = np.where(n_pred > 0, tp / np.maximum(n_pred, 1), 0.0)
        f1 = np.where(recall + precision > 0,
                      2 * recall * precision / (recall + precision), 0.0)
    present = n_true > 0
    total = int(m.sum())
    per_class = {c: {"n_true": int(n_true[k]), "n_pred": int(n_pred[k]),
                     "recall": None if not present[k] else float(recall[k]),
                     "precision": float(precision[k]), "f1": float(f1[k]) if present[k]
                     else None}
                 for k, c in enumerate(classes) if present[k] or n_pred[k]}

    def macro(x):
        return float(np.mean(x[present])) if present.any() else None

    return {"n": total, "accuracy": float(tp.sum() / total) if total else None,
            "recall_macro": macro(recall), "precision_macro": macro(precision),
            "f1_macro": macro(f1), "per_class": per_class}
