"""ORACLE class hierarchies as data, and the logits -> probabilities rules (SPEC §5).

A taxonomy is a tree stored in level order (breadth first from the root, children in insertion
order); logit ``k`` of the network belongs to node ``k``. Probabilities come in two kinds:

* **conditional** ``p(node | parent)``: a softmax over each group of siblings;
* **marginal** ``p(node)``: the product of the conditionals on the path from the root.

Within one depth the marginals sum to 1, so "the top class at level 2" is a plain arg-max over the
depth-2 nodes. Both steps are a few vector operations over precomputed index arrays (upstream walks
a graph per call, ~6 ms; this is ~20 us).

The conditional softmax reproduces upstream's float32 formula ``exp(l) / (sum exp(l) + 1e-10)``
(no max subtraction) so probabilities match upstream to float rounding. Where that formula breaks
(a logit above ~88 overflows exp: upstream returns NaN), we fall back to the max-subtracted
softmax for that group instead; this is the only intended deviation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

#: Upstream's additive constant in the sibling softmax denominator.
SOFTMAX_EPS = np.float32(1e-10)


@dataclass(frozen=True)
class Taxonomy:
    """A class tree in level order: ``names[k]`` has parent ``parents[k]`` (-1 for the root)."""

    name: str
    names: tuple[str, ...]
    parents: tuple[int, ...]
    # derived, filled in __post_init__
    depth: np.ndarray = field(init=False, repr=False, compare=False)
    groups: tuple[np.ndarray, ...] = field(init=False, repr=False, compare=False)
    group_of: np.ndarray = field(init=False, repr=False, compare=False)
    is_leaf: np.ndarray = field(init=False, repr=False, compare=False)
    _by_depth: tuple = field(init=False, repr=False, compare=False)
    _group_starts: np.ndarray = field(init=False, repr=False, compare=False)
    _levels: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        n = len(self.names)
        if len(self.parents) != n or self.parents[0] != -1:
            raise ValueError("taxonomy: parents must list one parent per node, root first (-1)")
        depth = np.zeros(n, dtype=np.int64)
        for k in range(1, n):
            p = self.parents[k]
            if not 0 <= p < k:
                raise ValueError(f"taxonomy: node {k} ({self.names[k]}) must come after its parent")
            depth[k] = depth[p] + 1
        if np.any(np.diff(depth) < 0):
            raise ValueError("taxonomy: nodes must be in level order (depth non-decreasing)")
        by_parent: dict[int, list[int]] = {}
        for k, p in enumerate(self.parents):
            by_parent.setdefault(p, []).append(k)
        groups = tuple(np.asarray(v, dtype=np.int64) for _, v in sorted(by_parent.items()))
        group_of = np.zeros(n, dtype=np.int64)
        for gi, g in enumerate(groups):
            group_of[g] = gi
        is_leaf = np.ones(n, dtype=bool)
        is_leaf[[p for p in self.parents if p >= 0]] = False
        object.__setattr__(self, "depth", depth)
        object.__setattr__(self, "groups", groups)
        object.__setattr__(self, "group_of", group_of)
        object.__setattr__(self, "is_leaf", is_leaf)
        parents = np.asarray(self.parents, dtype=np.int64)
        by_depth = tuple((np.flatnonzero(depth == d), parents[depth == d])
                         for d in range(1, int(depth.max()) + 1))
        object.__setattr__(self, "_by_depth", by_depth)
        starts = np.asarray([g[0] for g in groups], dtype=np.int64)
        for g in groups:
            if not np.array_equal(g, np.arange(g[0], g[0] + len(g))):
                raise ValueError("taxonomy: siblings must be contiguous (level order)")
        object.__setattr__(self, "_group_starts", starts)
        object.__setattr__(self, "_levels", {lv: self._level_indices(lv)
                                             for lv in ("level1", "level2", "leaf")})

    def __len__(self) -> int:
        return len(self.names)

    @property
    def max_depth(self) -> int:
        return int(self.depth.max())

    def index(self, name: str) -> int:
        return self.names.index(name)

    def level_indices(self, level: str) -> np.ndarray:
        """Node indices of a reported level: ``level1``, ``level2`` (by depth) or ``leaf``."""
        cached = getattr(self, "_levels", None)
        if cached and level in cached:
            return cached[level]
        return self._level_indices(level)

    def _level_indices(self, level: str) -> np.ndarray:
        if level == "leaf":
            return np.flatnonzero(self.is_leaf)
        if level.startswith("level"):
            return np.flatnonzero(self.depth == int(level[5:]))
        raise ValueError(f"unknown level {level!r}")

    @property
    def levels(self) -> tuple[str, ...]:
        """Reported levels, as upstream's ``score()``: depth 1, depth 2 and the leaves (for BTS
        the depth-2 nodes *are* the leaves, so ``level2`` and ``leaf`` coincide)."""
        return ("level1", "level2", "leaf")

    def path(self, k: int) -> list[int]:
        out = [k]
        while self.parents[out[-1]] >= 0:
            out.append(self.parents[out[-1]])
        return out[::-1]

    # -- probabilities -------------------------------------------------------------------------
    def conditional(self, logits: np.ndarray) -> np.ndarray:
        """``p(node | parent)`` per sibling group, upstream's float32 formula (see module doc).

        ``logits`` is (..., n_nodes); the result has the same shape, float32. Siblings are
        contiguous in level order, so the group sums are one ``reduceat``.
        """
        lg = np.asarray(logits, dtype=np.float32)
        with np.errstate(over="ignore", invalid="ignore"):
            e = np.exp(lg)
            sums = np.add.reduceat(e, self._group_starts, axis=-1)
            out = e / (sums[..., self.group_of] + SOFTMAX_EPS)
        if not np.isfinite(out).all():
            out = np.array(out, copy=True)
            flat = out.reshape(-1, len(self.names))
            lgf = lg.reshape(-1, len(self.names))
            for row in np.flatnonzero(~np.isfinite(flat).all(axis=1)):
                for g in self.groups:
                    s = lgf[row, g] - lgf[row, g].max()
                    es = np.exp(s)
                    flat[row, g] = es / es.sum()
            out = flat.reshape(lg.shape)
        return out

    def marginal(self, cond: np.ndarray) -> np.ndarray:
        """``p(node)``: product of conditionals from the root (root included, multiplied in
        root-to-node order as upstream does), with ``p(root)`` set to exactly 1."""
        cond = np.asarray(cond, dtype=np.float32)
        prod = np.empty_like(cond)
        prod[..., 0] = cond[..., 0]
        for idx, par in self._by_depth:
            prod[..., idx] = prod[..., par] * cond[..., idx]
        prod[..., 0] = 1.0
        return prod

    def probabilities(self, logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cond = self.conditional(logits)
        return cond, self.marginal(cond)

    def top(self, marginal: np.ndarray) -> dict[str, tuple[str, float]]:
        """Arg-max class and its probability at each reported level, for one object."""
        p = np.asarray(marginal, dtype=np.float64).reshape(-1)
        out = {}
        for level in self.levels:
            idx = self.level_indices(level)
            best = int(idx[int(np.argmax(p[idx]))])
            out[level] = (self.names[best], float(p[best]))
        return out

    def most_specific(self, marginal: np.ndarray, threshold: float) -> tuple[str, float]:
        """The deepest node whose marginal probability is >= ``threshold`` (ties: the larger p).

        Walking down from the root, a node clears the threshold only if its parent does (a parent's
        marginal is the sum of its children's), so this is also the end of the arg-max path that
        stays above the threshold when ``threshold`` > 0.5. The root (p = 1) is the fallback.
        """
        p = np.asarray(marginal, dtype=np.float64).reshape(-1)
        ok = np.flatnonzero(p >= threshold)
        if ok.size == 0:
            return self.names[0], float(p[0])
        key = self.depth[ok] * 4.0 + p[ok]  # depth dominates (p <= 1), then probability
        best = int(ok[int(np.argmax(key))])
        return self.names[best], float(p[best])


#: ELAsTiCC taxonomy (ELAsTiCC and ELAsTiCC-lite models): 26 nodes, 19 leaves (SPEC §5.1).
ELASTICC = Taxonomy(
    "elasticc",
    ("Alert", "Transient", "Variable", "SN", "Fast", "Long", "Periodic", "AGN",
     "SNIa", "SNIb/c", "SNIax", "SNI91bg", "SNII",
     "KN", "Dwarf Novae", "uLens", "M-dwarf Flare",
     "SLSN", "TDE", "ILOT", "CART", "PISN",
     "Cepheid", "RR Lyrae", "Delta Scuti", "EB"),
    (-1, 0, 0, 1, 1, 1, 2, 2,
     3, 3, 3, 3, 3,
     4, 4, 4, 4,
     5, 5, 5, 5, 5,
     6, 6, 6, 6),
)

#: ZTF Bright Transient Survey taxonomy (BTS model): 9 nodes (SPEC §5.5).
BTS = Taxonomy(
    "bts",
    ("Alert", "Persistent", "Transient", "AGN", "CV", "SN-Ia", "SN-II", "SN-Ib/c", "SLSN"),
    (-1, 0, 0, 1, 1, 2, 2, 2, 2),
)

TAXONOMIES = {"elasticc": ELASTICC, "elasticc-lite": ELASTICC, "bts": BTS}


def for_model(model: str) -> Taxonomy:
    try:
        return TAXONOMIES[model]
    except KeyError:
        raise ValueError(f"unknown ORACLE model {model!r}") from None


def summarize(tax: Taxonomy, marginal: np.ndarray, threshold: float,
              names: Sequence[str] | None = None) -> dict:
    """The JSON-able per-object summary: probabilities by node, top per level, most specific."""
    p = np.asarray(marginal, dtype=np.float64).reshape(-1)
    names = list(names or tax.names)
    top = tax.top(p)
    cls, cls_p = tax.most_specific(p, threshold)
    return {
        "probabilities": dict(zip(names, p.tolist())),
        "top": {lvl: {"class": c, "p": v} for lvl, (c, v) in top.items()},
        "most_specific": {"class": cls, "p": cls_p},
        "threshold": float(threshold),
    }


def summarize_many(tax: Taxonomy, marginal: np.ndarray, threshold: float) -> list:
    """:func:`summarize` of each row of ``marginal`` (N, n_nodes), the arg-maxes done for the
    whole batch at once (same values: the first maximum wins, as in :meth:`Taxonomy.top` and
    :meth:`Taxonomy.most_specific`)."""
    p = np.asarray(marginal, dtype=np.float64).reshape(-1, len(tax))
    names = tax.names
    tops = []
    for level in tax.levels:
        idx = tax.level_indices(level)
        tops.append((level, idx[np.argmax(p[:, idx], axis=1)].tolist()))
    ok = p >= threshold
    key = np.where(ok, tax.depth * 4.0 + p, -np.inf)  # depth dominates, then probability
    spec = np.argmax(key, axis=1)
    spec[~ok.any(axis=1)] = 0  # nothing clears the threshold: the root
    spec = spec.tolist()
    thr = float(threshold)
    out = []
    for j, row in enumerate(p.tolist()):
        out.append({
            "probabilities": dict(zip(names, row)),
            "top": {lvl: {"class": names[b[j]], "p": row[b[j]]} for lvl, b in tops},
            "most_specific": {"class": names[spec[j]], "p": row[spec[j]]},
            "threshold": thr,
        })
    return out


# ---------------------------------------------------------------------------------------------
# Labels -> taxonomy nodes (for scoring ORACLE against labelled light curves)
# ---------------------------------------------------------------------------------------------

#: The one label table: each row is (labels, ELAsTiCC node, BTS node); None = that taxonomy
#: has no node for it (the object is left out of that model's scores, with the reason).
#: Sources: ELAsTiCC model names -> leaves as upstream ORACLE maps them (SPEC §5.1); numeric
#: labels are ELAsTiCC SNANA GENTYPE codes as the ELAsTiCC TOM numbers its models (10 = SN Ia,
#: the only code our labelled sets carry; the others as ORACLE's authors' TOM client maps
#: them); TNS / ZTF BTS spectroscopic types -> BTS nodes as upstream's BTS training mapped
#: them (peculiar types it left out -- Ia-91bg, Iax, IIb, Ic-BL, SLSN-II, TDE -- have no BTS
#: node); ALeRCE classes (SNIa, SNIbc, SNII, SLSN, RRL, CEP, DSCT, E, AGN, QSO, Blazar,
#: CV/Nova, Periodic-Other) by the same astrophysics. A label may name an inner node
#: (``Periodic``): it is then scored at the levels it reaches only. Numeric GENTYPE codes are
#: ELAsTiCC's: PLAsTiCC and other SNANA simulations number their models differently.
LABEL_TABLE: tuple[tuple[tuple[str, ...], str | None, str | None], ...] = (
    (("10", "SNIa-SALT2", "SNIa-SALT3", "SNIa", "SN Ia", "SN Ia-norm", "SN Ia-91T"),
     "SNIa", "SN-Ia"),
    (("11", "SNIa-91bg", "SN Ia-91bg", "SNI91bg"), "SNI91bg", None),
    (("12", "SNIax", "SN Iax"), "SNIax", None),
    (("20", "21", "25", "26", "SNIb-Templates", "SNIb+HostXT_V19", "SNIc-Templates",
      "SNIc+HostXT_V19", "SN Ib", "SN Ic", "SN Ib/c", "SNIbc", "SNIb/c"), "SNIb/c", "SN-Ib/c"),
    (("27", "SNIcBL+HostXT_V19", "SN Ic-BL"), "SNIb/c", None),
    (("31", "32", "35", "36", "SNII-NMF", "SNII-Templates", "SNII+HostXT_V19", "SNIIn-MOSFIT",
      "SNIIn+HostXT_V19", "SN II", "SNII", "SN IIP", "SN IIL", "SN IIn", "SN II-norm"),
     "SNII", "SN-II"),
    (("37", "SNIIb+HostXT_V19", "SN IIb"), "SNII", None),
    (("40", "72", "SLSN-I+host", "SLSN-I_no_host", "SLSN-I", "SLSN"), "SLSN", "SLSN"),
    (("42", "TDE"), "TDE", None),
    (("45", "ILOT"), "ILOT", None),
    (("46", "CART", "CaRT"), "CART", None),
    (("50", "KN_K17", "KN_B19", "KN"), "KN", None),
    (("59", "PISN"), "PISN", None),
    (("60", "CLAGN", "AGN", "QSO", "Blazar", "BL Lac", "Seyfert"), "AGN", "AGN"),
    (("80", "RRL", "RR Lyrae", "RRLyrae"), "RR Lyrae", None),
    (("82", "Mdwarf-flare", "M-dwarf Flare"), "M-dwarf Flare", None),
    (("83", "EB", "E"), "EB", None),
    (("84", "dwarf-nova", "Dwarf Novae"), "Dwarf Novae", "CV"),
    (("88", "uLens-Binary", "uLens-Single-GenLens", "uLens-Single_PyLIMA", "uLens"),
     "uLens", None),
    (("90", "Cepheid", "CEP"), "Cepheid", None),
    (("91", "d-Sct", "Delta Scuti", "DSCT"), "Delta Scuti", None),
    (("CV", "CV/Nova", "nova", "AM CVn"), None, "CV"),
    (("Periodic-Other",), "Periodic", None),
    # known types neither taxonomy has a node for (left out, with that reason)
    (("SLSN-II", "SN Ia-pec", "SN Ia-CSM", "SN Ibn", "SN Icn", "LBV", "ILRT", "LRN", "LPV",
      "YSO"), None, None),
)


def normalise_label(label) -> str:
    """The lookup key of a label: case and spaces ignored, a ``(TNS)`` prefix dropped, an
    integer-valued number written as an integer (``10.0`` -> ``10``)."""
    text = str(label).strip()
    try:
        x = float(text)
    except ValueError:
        pass
    else:
        if x == int(x):
            return str(int(x))
    text = text.lower()
    if text.startswith("(tns)"):
        text = text[5:]
    return "".join(text.split())


_LABEL_INDEX = {normalise_label(name): (e, b) for names, e, b in LABEL_TABLE for name in names}


def label_node(label, tax: Taxonomy) -> int | None:
    """Index of ``label``'s node in ``tax`` (ELAsTiCC or BTS); None if the table has no node
    of that taxonomy for it. Unknown labels (and uncertain ones such as ``SN Ia?``) raise
    KeyError."""
    key = normalise_label(label)
    if key not in _LABEL_INDEX:
        raise KeyError(f"label {label!r} is not in the label table "
                       "(vra_filters.oracle.taxonomy.LABEL_TABLE)")
    node = _LABEL_INDEX[key][0 if tax.name == "elasticc" else 1]
    return None if node is None else tax.index(node)


def ancestor_at(tax: Taxonomy, node: int, level: str) -> int | None:
    """The node on ``node``'s path that is reported at ``level`` (its depth-1 / depth-2
    ancestor, or itself for ``leaf``); None when ``node`` does not reach that level."""
    if level == "leaf":
        return node if tax.is_leaf[node] else None
    depth = int(level[5:])
    if tax.depth[node] < depth:
        return None
    return tax.path(node)[depth]
