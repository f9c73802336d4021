"""Train VRA scorers on eyeballed labels: the ATLAS VRA paper's recipe, exported to the portable
tree format with a model card.

Per stage (day 1, day N) two binary ``HistGradientBoostingClassifier`` s: **real** (good and
galactic vs pm and garbage) and **gal** (galactic and pm vs good), with the paper's settings
(:data:`PAPER_SETTINGS`: l2 regularisation 10, balanced class weights, random state 42;
learning rate 0.1 for real, 0.2 for gal). Objects, not rows, are split between training and
held-out validation; the training rows are balanced by subsampling every label to the
smallest one. Each scorer is written as a model directory (``trees.npz`` + ``model.json``,
what ``vra model predict`` reads) and checked against scikit-learn's own ``predict_proba``.

scikit-learn is the ``sklearn`` extra and is imported only inside these functions.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

import numpy as np

from .train_data import LabelledSet, balance, split_objects, targets

PathLike = Union[str, Path]

#: HistGradientBoostingClassifier settings of the paper (and of the shipped duck models).
PAPER_SETTINGS: Dict[str, Any] = {
    "loss": "log_loss", "max_iter": 100, "max_leaf_nodes": 31, "min_samples_leaf": 20,
    "l2_regularization": 10.0, "max_bins": 255, "class_weight": "balanced",
    "early_stopping": "auto", "validation_fraction": 0.1, "n_iter_no_change": 10,
    "tol": 1e-7, "random_state": 42,
}
LEARNING_RATES = {"real": 0.1, "gal": 0.2}
KINDS = ("real", "gal")
#: How far the exported trees may differ from scikit-learn's own probabilities.
PARITY_TOLERANCE = 1e-12


def _sklearn():
    try:
        from sklearn.ensemble import HistGradientBoostingClassifier
    except ImportError:
        raise RuntimeError("training needs scikit-learn: pip install 'vra-filters[sklearn]'") \
            from None
    return HistGradientBoostingClassifier


def fit(X: np.ndarray, y: np.ndarray, kind: str, seed: int = 42, threads: int = 1,
        **overrides: Any):
    """One scorer with the paper's settings (``kind`` picks the learning rate), on
    ``threads`` OpenMP threads (1 by default: on a busy machine more threads than free cores
    make scikit-learn's boosting over 20 times slower)."""
    hgb = _sklearn()
    params = dict(PAPER_SETTINGS, learning_rate=LEARNING_RATES[kind], random_state=seed)
    params.update(overrides)
    if len(np.unique(y)) != 2:
        raise ValueError(f"the {kind} scorer needs rows of both classes; the training rows "
                         f"hold only class {np.unique(y).tolist()}")
    model = hgb(**params)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - a scikit-learn dependency
        model.fit(np.asarray(X, dtype=float), y.astype(int))
        return model
    with threadpool_limits(limits=max(1, int(threads))):
        model.fit(np.asarray(X, dtype=float), y.astype(int))
    return model


def export(model: Any, feature_names: List[str], columns: Optional[Sequence[int]] = None,
           **metadata: Any):
    """A fitted scorer as a :class:`~vra_filters.trees.TreeEnsemble` named after the VRA
    features (scikit-learn fitted on a bare array knows them only as x0, x1, ...).
    ``columns[i]``: which of ``feature_names`` the model's input i was (all, in order, by
    default), so a scorer fitted without some features still takes the whole row."""
    from .trees import TreeEnsemble, from_sklearn

    t = from_sklearn(model, **metadata)
    arrays = t.arrays()
    if columns is not None:
        where = np.asarray(list(columns), dtype=np.int64)
        feature = np.array(arrays["feature"], dtype=np.int64)
        inner = feature >= 0
        feature[inner] = where[feature[inner]]
        arrays = dict(arrays, feature=feature.astype(np.int32))
    return TreeEnsemble(arrays, feature_names=feature_names, classes=t.classes,
                        n_trees_per_iteration=t.n_trees_per_iteration, name=t.name,
                        version=t.version, hyper_parameters=t.hyper_parameters,
                        provenance=t.provenance, licence=t.licence)


def held_out_metrics(data: LabelledSet, p_real: np.ndarray, p_gal: np.ndarray,
                     vra_f: float = 0.5) -> Dict[str, Any]:
    """AuRaK of the VRA score and of the real/bogus-only ranking (``rb_pix``), R@K at 15 %
    and 25 %, and the two ROC AUCs, on the rows given."""
    from .evaluation.vra_metrics import aurak, aurak_ideal, recall_at_fraction, safe
    from .score import vra_score

    good = data.labels == "good"
    out: Dict[str, Any] = {"rows": len(data), "good": int(good.sum())}
    if not good.any() or good.all():
        out["note"] = "no AuRaK: the rows need good and other labels"
        return out
    score = vra_score(p_real, p_gal, vra_f)
    rb = data.column("rb_pix")
    out.update(aurak=aurak(score, good), aurak_rb_baseline=aurak(rb, good),
               aurak_ideal=aurak_ideal(good),
               recall_top15=recall_at_fraction(score, good, 0.15),
               recall_top25=recall_at_fraction(score, good, 0.25))
    real, gal = targets(data.labels)
    for name, y, p in (("roc_auc_real", real, p_real), ("roc_auc_gal", gal, p_gal)):
        ok = ~np.isnan(y)
        out[name] = safe(_roc_auc(y[ok], p[ok])) if ok.any() else None
    return out


def _roc_auc(y: np.ndarray, p: np.ndarray) -> float:
    """ROC AUC by ranks (ties averaged): the chance a positive outranks a negative."""
    pos, neg = y == 1, y == 0
    if not pos.any() or not neg.any():
        return math.nan
    _, inverse, counts = np.unique(p, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    ranks = (ends - (counts - 1) / 2.0)[inverse.reshape(-1)]  # ties share their mean rank
    return float((ranks[pos].sum() - pos.sum() * (pos.sum() + 1) / 2) / (pos.sum() * neg.sum()))


def train_stage(data: LabelledSet, outdir: PathLike, *, name: str = "vra/custom",
                version: str = "0", validation: float = 0.2, seed: int = 42,
                balanced: bool = True, licence: Optional[str] = None,
                notes: Optional[List[str]] = None, ignore: Sequence[str] = (),
                quiet: bool = True) -> Dict[str, Any]:
    """Train the real and gal scorers of one stage and write ``outdir/real``, ``outdir/gal``
    and ``outdir/MODEL_CARD.md`` (+ ``training.json``); returns the training record.

    ``ignore``: features withheld from training (the trees are fitted without those columns
    and never split on them: the scorers then ignore whatever value an alert has)."""
    from .options import progress
    from .train_card import write_card

    outdir = Path(outdir)
    held = split_objects(data, validation, seed)
    train_rows = np.flatnonzero(~held)
    picked = train_rows[balance(data.labels[train_rows], seed)] if balanced else \
        train_rows[np.isin(data.labels[train_rows], list(_TRAINED))]
    if not len(picked):
        raise ValueError("no training rows left (labels good, galactic, pm, garbage needed)")
    train = data.subset(picked)
    names = list(data.names)
    unknown = [f for f in ignore if f not in names]
    if unknown:
        raise ValueError(f"cannot ignore {', '.join(unknown)}: not a {data.stage} feature")
    real_y, gal_y = targets(train.labels)
    record: Dict[str, Any] = {
        "stage": data.stage, "name": name, "version": version, "seed": seed,
        "validation_fraction": validation, "balanced": balanced, "ignored": list(ignore),
        "sources": dict(data.sources), "notes": list(data.notes) + list(notes or []),
        "rows": {"all": data.counts(), "training": train.counts(),
                 "held_out": data.subset(np.flatnonzero(held)).counts()},
        "held_out_ids": sorted(set(map(str, data.ids[held].tolist()))),
        "objects": {"all": len(set(data.ids.tolist())),
                    "training": len(set(data.ids[train_rows].tolist())),
                    "held_out": len(set(data.ids[held].tolist()))},
        "settings": {k: dict(PAPER_SETTINGS, learning_rate=LEARNING_RATES[k],
                             random_state=seed) for k in KINDS},
        "models": {},
    }
    import sklearn

    exported = {}
    jobs = [("real", real_y), ("gal", gal_y)]
    for kind, y in progress(jobs, f"training {data.stage}", total=2, quiet=quiet):
        rows = ~np.isnan(y)
        used = informative(train.X[rows], names, ignore)
        record.setdefault("uninformative", {})[kind] = [
            f for j, f in enumerate(names) if j not in used and f not in set(ignore)]
        model = fit(train.X[rows][:, used], y[rows], kind, seed=seed)
        trees = export(model, names, used, name=f"{name}/{data.stage}/{kind}", version=version,
                       licence=licence, provenance={
                           "trained_by": "vra train", "sklearn_version": sklearn.__version__,
                           "training_rows": int(rows.sum()), "target": _TARGET_TEXT[kind],
                           "data": dict(data.sources),
                           "held_out_ids": record["held_out_ids"]})
        # Parity with scikit-learn on every row we have (the 1e-12 promise of the format).
        ours = trees.predict_proba(data.X)[:, 1]
        theirs = model.predict_proba(data.X[:, used])[:, 1]
        worst = float(np.max(np.abs(ours - theirs))) if len(ours) else 0.0
        if worst > PARITY_TOLERANCE:
            raise RuntimeError(f"exported {kind} scorer differs from scikit-learn by {worst:.3g}")
        trees.save(outdir / kind)
        exported[kind] = trees
        record["models"][kind] = {"sha256": trees.sha256, "n_iter": trees.n_iter,
                                  "training_rows": int(rows.sum()),
                                  "max_abs_diff_vs_sklearn": worst}
    p_real = exported["real"].predict_proba(data.X)[:, 1]
    p_gal = exported["gal"].predict_proba(data.X)[:, 1]
    record["metrics"] = {
        "held_out": held_out_metrics(data.subset(np.flatnonzero(held)), p_real[held],
                                     p_gal[held]) if held.any() else None,
        "training_rows": held_out_metrics(train, p_real[picked], p_gal[picked]),
    }
    (outdir / "training.json").write_text(json.dumps(_jsonable(record), indent=1) + "\n",
                                          encoding="utf-8")
    write_card(outdir / "MODEL_CARD.md", [record])
    return record


def informative(X: np.ndarray, names: List[str], ignore: Sequence[str] = ()) -> List[int]:
    """Columns a tree can split on: not ignored and with two or more distinct values among
    the rows (NaN aside). Constant or all-missing columns carry nothing, and scikit-learn's
    binning refuses some of them."""
    out = []
    for j, f in enumerate(names):
        col = X[:, j]
        if f not in set(ignore) and len(np.unique(col[~np.isnan(col)])) >= 2:
            out.append(j)
    if not out:
        raise ValueError("no feature varies across the training rows")
    return out


_TRAINED = ("good", "galactic", "pm", "garbage", "auto-garbage")
_TARGET_TEXT = {"real": "1 = good or galactic; 0 = pm, garbage or auto-garbage",
                "gal": "1 = galactic or pm; 0 = good (garbage not used)"}


def train_family(sets: Mapping[str, LabelledSet], outdir: PathLike, **kwargs: Any
                 ) -> List[Dict[str, Any]]:
    """Both stages into ``outdir/day1`` and ``outdir/dayN`` (a directory ``vra score --models``
    takes) and one card for the family in ``outdir/MODEL_CARD.md``."""
    from .train_card import write_card

    outdir = Path(outdir)
    records = []
    for stage in ("day1", "dayN"):
        data = sets.get(stage)
        if data is None or not len(data):
            raise ValueError(f"no {stage} rows: the labelled alerts give none "
                             "(day 1 needs the first night, day N visits on days 2-15)")
        records.append(train_stage(data, outdir / stage, **kwargs))
    write_card(outdir / "MODEL_CARD.md", records)
    return records


def register(outdir: PathLike, family: str, version: str, licence: str = "unspecified",
             description: str = "") -> List[str]:
    """Add (or replace) the trained models below ``outdir`` to the registry of the models
    folder that holds it (:func:`vra_filters.registry.models_dir`): ``outdir`` must be
    ``<models>/vra/<family>`` (both stages) or ``<models>/vra/<family>/<stage>``. Returns the
    registered names; ``vra score --models FAMILY`` then finds them."""
    from . import registry

    root = registry.models_dir()
    outdir = Path(outdir).resolve()
    fam = (root / "vra" / family).resolve()
    if outdir == fam:
        stages = [s for s in ("day1", "dayN") if (fam / s / "real").is_dir()]
    elif outdir.parent == fam and outdir.name in ("day1", "dayN"):
        stages = [outdir.name]
    else:
        stages = []
    if not stages:
        raise ValueError(f"to register {family!r}, train into {fam} (or {fam}/day1, "
                         f"{fam}/dayN); {outdir} is elsewhere")
    manifest = root / registry.MANIFEST
    data = json.loads(manifest.read_text(encoding="utf-8")) if manifest.is_file() else {
        "format": registry.MANIFEST_FORMAT, "format_version": registry.MANIFEST_VERSION,
        "artifacts": []}
    card = fam / "MODEL_CARD.md"
    names = []
    for stage in stages:
        for kind in KINDS:
            folder = fam / stage / kind
            name = f"vra/{family}/{stage}/{kind}"
            files = {f: registry.sha256_file(folder / f) for f in ("model.json", "trees.npz")}
            entry = {"name": name, "version": version, "kind": "trees",
                     "path": f"vra/{family}/{stage}/{kind}", "files": files,
                     "primary": "trees.npz", "licence": licence,
                     "card": (f"vra/{family}/MODEL_CARD.md" if card.is_file()
                              else f"vra/{family}/{stage}/MODEL_CARD.md"),
                     "description": description or f"vra train: p_{kind}, {stage}"}
            if (fam / "LICENSE").is_file():
                entry["licence_file"] = f"vra/{family}/LICENSE"
            arts = [a for a in data.get("artifacts", [])
                    if not (a.get("name") == name and a.get("version") == version)]
            data["artifacts"] = arts + [entry]
            names.append(name)
    tmp = manifest.with_name(manifest.name + ".partial")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, manifest)
    return names


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return v if math.isfinite(v) else None
    return value
