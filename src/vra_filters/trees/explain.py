"""Per-feature contributions of a binary :class:`~vra_filters.trees.TreeEnsemble` to its raw score.

The decision-path decomposition (Saabas): every split a row passes moves the expected raw score
from the parent's value to the child's, and that move is credited to the split's feature.
Internal node values are stored unshrunk (scikit-learn's grower), so they are scaled by the
learning rate; a root's value is not stored and is taken as the mean of its children's.
Contributions plus a per-model bias add up to the raw score of each row; they say which features
pushed a score, they are not SHAP values.
"""

from __future__ import annotations

import numpy as np

from .predict import Evaluator

__all__ = ["Explainer"]


class Explainer:
    """The path-contribution table of one binary ensemble (built once, a few ms), and its use.

    ``table`` is (n_nodes, n_features): for each leaf, the contributions along its path. With the
    bitmask evaluator the same rows are also indexed like its exit slots (``slot_table``).
    """

    def __init__(self, ev: Evaluator, learning_rate: float) -> None:
        self.ev = ev
        a = ev.arrays
        n_features = ev.n_features
        leaf = a["is_leaf"].astype(bool)
        expected = np.where(leaf, a["value"], float(learning_rate) * a["value"])
        left_g, right_g = ev.children
        table = np.zeros((len(leaf), n_features))
        for root in a["tree_offsets"][:-1].tolist():
            if not leaf[root]:
                expected[root] = 0.5 * (expected[left_g[root]] + expected[right_g[root]])
            stack = [(root, np.zeros(n_features))]
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
        self.table = table
        self.slot_table = None
        if ev.bitmask is not None:  # the same rows, indexed like the bitmask exit slots
            bits = ev.bitmask["leaf_values"].size // ev.n_trees
            leaf_of_slot = np.zeros(ev.n_trees * bits, dtype=np.intp)
            leaf = np.flatnonzero(leaf)
            leaf_of_slot[ev.tree_id[leaf] * bits + ev.leaf_rank[leaf]] = leaf
            self.slot_table = table[leaf_of_slot]

    def from_leaves(self, leaves: np.ndarray) -> np.ndarray:
        """(m, n_features) contributions of rows whose bitmask exit leaves (n_trees, m) are
        known (:meth:`Evaluator.raw` hands them out)."""
        # tree by tree, in order: the same sums as slot_table[leaves].sum(axis=0), without
        # its (n_trees, m, n_features) temporary
        table = self.slot_table
        if leaves.shape[1] < 256:  # few rows: one gather beats a Python loop over the trees
            return table[leaves].sum(axis=0)
        out = table[leaves[0]]
        for t in range(1, leaves.shape[0]):
            out += table[leaves[t]]
        return out

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """(n_rows, n_features) contributions of a float64 (n_rows, n_features) matrix."""
        ev = self.ev
        out = np.zeros((x.shape[0], ev.n_features))
        if self.slot_table is not None:
            step = 512
            xt = np.ascontiguousarray(x.T)
            for s in range(0, x.shape[0], step):
                out[s:s + step] = self.from_leaves(ev.exit_leaves_bitmask(xt[:, s:s + step]))
            return out
        for i in range(x.shape[0]):  # fallback for very large trees: walk each row
            out[i] = self.table[self._exit_leaves_walk(x[i])].sum(axis=0)
        return out

    def _exit_leaves_walk(self, row: np.ndarray) -> np.ndarray:
        a = self.ev.arrays
        left_g, right_g = self.ev.children
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
