"""Tests for the pickle-free tree evaluator (vra_filters.trees) and the shipped duck models."""

from __future__ import annotations

import csv
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest

from vra_filters.cli_model import predict_csv
from vra_filters.registry import load_trees
from vra_filters.trees import (
    ModelFormatError,
    ModelIntegrityError,
    TreeEnsemble,
)

DATA = Path(__file__).parent / "data"
DUCK = [f"vra/duck/{stage}/{kind}" for stage in ("day1", "dayN") for kind in ("real", "gal")]


# ---------------------------------------------------------------- helpers


def _synthetic(rng: np.random.Generator, n: int, n_features: int = 6) -> np.ndarray:
    """Features with NaNs, +-inf and threshold ties (train and test inputs)."""
    x = rng.normal(size=(n, n_features))
    x[:, 2] = np.round(x[:, 2] * 2)  # a discrete feature: many exact threshold ties
    x[rng.random(x.shape) < 0.1] = np.nan
    x[:, -1] = rng.normal(size=n)  # a feature never missing in training
    x[rng.random(x.shape) < 0.01] = np.inf
    x[rng.random(x.shape) < 0.01] = -np.inf
    return x


def _labels(x: np.ndarray, rng: np.random.Generator, n_classes: int) -> np.ndarray:
    z = np.nan_to_num(x, nan=0.7, posinf=3.0, neginf=-3.0)
    s = z[:, 0] + z[:, 1] ** 2 - 1 + 0.8 * np.isnan(x[:, 3]) + 0.3 * z[:, 2] + 0.5 * z[:, 5]
    s = s + 0.5 * rng.normal(size=len(s))
    if n_classes == 2:
        return (s > 0).astype(int)
    return np.digitize(s, [-0.5, 1.0])


def _test_rows(model: TreeEnsemble, rng: np.random.Generator, n: int = 12000) -> np.ndarray:
    """Random rows plus values exactly at split thresholds (x == thr must go left)."""
    x = _synthetic(rng, n, model.n_features)
    a = model.arrays()
    internal = a["is_leaf"] == 0
    feats, thrs = a["feature"][internal], a["threshold"][internal]
    pick = rng.integers(0, len(feats), size=n // 4)
    x[np.arange(n // 4), feats[pick]] = thrs[pick]
    x[rng.random(x.shape) < 0.02] = -np.inf
    return x


def _fit(n_classes: int, **kw):
    sklearn_ensemble = pytest.importorskip("sklearn.ensemble")
    rng = np.random.default_rng(n_classes)
    x = _synthetic(rng, 4000)
    y = _labels(x, rng, n_classes)
    params = dict(max_iter=40, early_stopping=False, random_state=0)
    params.update(kw)
    with warnings.catch_warnings():  # numpy warns while sklearn bins the +-inf values
        warnings.simplefilter("ignore", RuntimeWarning)
        return sklearn_ensemble.HistGradientBoostingClassifier(**params).fit(x, y)


def _auc(score: np.ndarray, positive: np.ndarray) -> float:
    """ROC AUC by scikit-learn: an independent check of the model card's own computation."""
    metrics = pytest.importorskip("sklearn.metrics")
    return float(metrics.roc_auc_score(positive.astype(int), score))


def _read_csv_columns(path: Path) -> dict:
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    return {k: [r[k] for r in rows] for k in rows[0]}


def _as_float(text: str) -> float:
    if text == "":
        return math.nan
    if text in ("True", "False"):
        return 1.0 if text == "True" else 0.0
    return float(text)


# ---------------------------------------------------------------- sklearn equivalence


@pytest.mark.parametrize(
    "n_classes, kw",
    [
        (2, {}),
        (3, {}),
        (2, {"max_leaf_nodes": 80, "min_samples_leaf": 5, "max_iter": 15}),  # > 64 leaves: walk
        (2, {"max_leaf_nodes": 48, "max_iter": 15}),  # 64-bit masks
        (2, {"class_weight": "balanced", "learning_rate": 0.3}),
    ],
)
def test_matches_sklearn(n_classes, kw):
    from vra_filters.trees import from_sklearn

    est = _fit(n_classes, **kw)
    model = from_sklearn(est, name="synthetic", version="test")
    x = _test_rows(model, np.random.default_rng(42))
    with np.errstate(invalid="ignore"):
        expected = est.predict_proba(x)
    got = model.predict_proba(x)
    assert got.shape == expected.shape == (len(x), n_classes)
    assert np.max(np.abs(got - expected)) <= 1e-12
    # both evaluators, and the few-rows path, agree with each other exactly
    raw = model.predict_raw(x)
    assert np.array_equal(raw, model.predict_raw(x, engine="walk"))
    assert np.array_equal(raw[:3], model.predict_raw(x[:3]))
    assert np.array_equal(raw[:1], model.predict_raw(x[0]))
    if kw.get("max_leaf_nodes", 31) > 64:
        assert model.engine == "walk"
    else:
        assert model.engine == "bitmask"
    assert model.classes == est.classes_.tolist()


def test_input_by_name_and_errors():
    from vra_filters.trees import from_sklearn

    est = _fit(2, max_iter=10)
    model = from_sklearn(est, name="m", version="1")
    assert model.feature_names == [f"x{i}" for i in range(6)]
    x = _test_rows(model, np.random.default_rng(1), n=50)
    cols = {name: x[:, i] for i, name in enumerate(model.feature_names)}
    cols["unused_extra"] = np.zeros(50)
    assert np.array_equal(model.predict_proba(cols), model.predict_proba(x))
    del cols["x3"]
    with pytest.raises(ModelFormatError, match="x3"):
        model.predict_proba(cols)
    with pytest.raises(ModelFormatError, match="6 columns"):
        model.predict_proba(x[:, :5])
    assert model.predict_proba(np.empty((0, 6))).shape == (0, 2)


def test_feature_names_from_dataframe():
    pd = pytest.importorskip("pandas")
    from vra_filters.trees import from_sklearn

    sk = pytest.importorskip("sklearn.ensemble")
    rng = np.random.default_rng(3)
    x = _synthetic(rng, 2000, 4)
    df = pd.DataFrame(x, columns=["a", "b", "c", "d"])
    y = (np.nan_to_num(x[:, 0]) + 0.5 * rng.normal(size=2000) > 0).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        est = sk.HistGradientBoostingClassifier(max_iter=10).fit(df, y)
    model = from_sklearn(est, name="df", version="1")
    assert model.feature_names == ["a", "b", "c", "d"]
    shuffled = df[["d", "b", "a", "c"]]  # columns matched by name, not position
    assert np.max(np.abs(model.predict_proba(shuffled) - est.predict_proba(df))) <= 1e-12


def test_categorical_refused():
    sk = pytest.importorskip("sklearn.ensemble")
    from vra_filters.trees import from_sklearn

    rng = np.random.default_rng(0)
    x = np.column_stack([rng.integers(0, 4, 500), rng.normal(size=500)]).astype(float)
    y = (x[:, 0] == 2).astype(int)
    est = sk.HistGradientBoostingClassifier(max_iter=5, categorical_features=[0]).fit(x, y)
    with pytest.raises(ModelFormatError, match="categorical"):
        from_sklearn(est, name="cat", version="1")
    with pytest.raises(TypeError):
        from_sklearn(object(), name="x", version="1")


# ---------------------------------------------------------------- persistence


def test_save_load_round_trip(tmp_path):
    from vra_filters.trees import from_sklearn

    est = _fit(3, max_iter=10)
    model = from_sklearn(est, name="three", version="0.1", provenance={"data": "synthetic"})
    model.save(tmp_path / "m")
    sha = model.sha256
    again = TreeEnsemble.load(tmp_path / "m")
    assert again.sha256 == sha
    assert (again.name, again.version, again.feature_names) == ("three", "0.1", model.feature_names)
    assert again.provenance["data"] == "synthetic"
    assert again.hyper_parameters["max_iter"] == 10
    x = _test_rows(model, np.random.default_rng(5), n=2000)
    assert np.array_equal(again.predict_raw(x), model.predict_raw(x))
    # deterministic bytes: re-saving gives the same sha256
    again.save(tmp_path / "m2")
    assert again.sha256 == sha
    assert (tmp_path / "m2" / "trees.npz").read_bytes() == (
        tmp_path / "m" / "trees.npz"
    ).read_bytes()
    with np.load(tmp_path / "m" / "trees.npz", allow_pickle=False) as npz:
        assert {"feature", "threshold", "tree_offsets", "baseline"} <= set(npz.files)


def test_tampered_model_is_rejected(tmp_path):
    model = load_trees("vra/duck/day1/real")
    model.save(tmp_path / "m")
    path = tmp_path / "m" / "trees.npz"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # one flipped bit in the node arrays
    path.write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match="sha256"):
        TreeEnsemble.load(tmp_path / "m")


def test_malformed_trees_rejected():
    tree = {
        "feature_idx": [0, 0, 0],
        "num_threshold": [0.5, 0.0, 0.0],
        "missing_go_to_left": [1, 0, 0],
        "left": [1, 0, 0],
        "right": [2, 0, 0],
        "is_leaf": [0, 1, 1],
        "value": [0.0, -1.0, 1.0],
    }
    ok = TreeEnsemble.from_trees([tree], 0.1, feature_names=["a"], classes=[0, 1])
    assert ok.predict_raw(np.array([[0.5], [0.6], [np.nan], [-np.inf], [np.inf]]))[
        :, 0
    ].tolist() == [
        -0.9,
        1.1,
        -0.9,
        -0.9,
        1.1,
    ]
    cyclic = dict(tree, left=[1, 0, 0], right=[1, 0, 0])
    with pytest.raises(ModelFormatError):
        TreeEnsemble.from_trees([cyclic], 0.0, feature_names=["a"], classes=[0, 1])
    with pytest.raises(ModelFormatError, match="feature index"):
        TreeEnsemble.from_trees([tree], 0.0, feature_names=[], classes=[0, 1])
    with pytest.raises(ModelFormatError, match="classes"):
        TreeEnsemble.from_trees([tree], 0.0, feature_names=["a"], classes=[0, 1, 2])


def test_summation_order_is_sequential():
    """Trees are added one by one after the baseline, like sklearn (not pairwise)."""
    values = [1.0] * 20 + [-1e16]
    stumps = [
        {
            "feature_idx": [0],
            "num_threshold": [0.0],
            "missing_go_to_left": [0],
            "left": [0],
            "right": [0],
            "is_leaf": [1],
            "value": [v],
        }
        for v in values
    ]
    m = TreeEnsemble.from_trees(stumps, 1e16, feature_names=["a"], classes=[0, 1])
    expected = 1e16
    for v in values:
        expected += v
    for n in (1, 2, 3, 5000):
        for engine in ("bitmask", "walk"):
            raw = m.predict_raw(np.zeros((n, 1)), engine=engine)
            assert (raw == expected).all(), (n, engine)


def test_nan_and_inf_thresholds():
    """sklearn makes +inf ("split on NaN") and NaN thresholds when training data hold inf."""
    tree = {
        "feature_idx": [0, 0, 0, 0, 0],
        "num_threshold": [np.inf, np.nan, 0.0, 0.0, 0.0],
        "missing_go_to_left": [0, 1, 0, 0, 0],
        "left": [1, 3, 0, 0, 0],
        "right": [2, 4, 0, 0, 0],
        "is_leaf": [0, 0, 1, 1, 1],
        "value": [0.0, 0.0, 3.0, 1.0, 2.0],
    }
    m = TreeEnsemble.from_trees([tree], 0.0, feature_names=["a"], classes=[0, 1])
    x = np.array([[np.nan], [np.inf], [-np.inf], [0.0]])
    # NaN: root sends NaN right (3); non-NaN go left, then NaN threshold: all non-NaN right (2)
    for engine in ("bitmask", "walk"):
        assert m.predict_raw(x, engine=engine)[:, 0].tolist() == [3.0, 2.0, 2.0, 2.0]


# ---------------------------------------------------------------- joblib import and CSV


def test_import_sklearn_and_predict_csv(tmp_path):
    joblib = pytest.importorskip("joblib")
    from vra_filters.trees import import_sklearn

    est = _fit(2, max_iter=20)
    joblib.dump(est, tmp_path / "model.joblib")
    model = import_sklearn(tmp_path / "model.joblib", tmp_path / "conv", name="syn", version="9")
    assert (tmp_path / "conv" / "model.json").is_file()
    meta = json.loads((tmp_path / "conv" / "model.json").read_text())
    assert meta["name"] == "syn" and meta["sha256"] == model.sha256
    assert len(meta["provenance"]["source_sha256"]) == 64

    x = _test_rows(model, np.random.default_rng(7), n=300)
    order = [3, 0, 5, 1, 4, 2]  # columns in another order, with an id in the middle
    with (tmp_path / "in.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["x3", "x0", "obj_id", "x5", "x1", "x4", "x2"])
        for i, row in enumerate(x):
            cells = ["" if np.isnan(v) else repr(float(v)) for v in row[order]]
            w.writerow(cells[:2] + [f"id{i}"] + cells[2:])
    n = predict_csv(tmp_path / "conv", tmp_path / "in.csv", tmp_path / "out.csv")
    assert n == 300
    out = _read_csv_columns(tmp_path / "out.csv")
    assert list(out) == ["obj_id", "p_0", "p_1"]
    assert out["obj_id"] == [f"id{i}" for i in range(300)]
    with np.errstate(invalid="ignore"):
        expected = est.predict_proba(x)
    got = np.column_stack([np.array(out["p_0"], float), np.array(out["p_1"], float)])
    assert np.max(np.abs(got - expected)) <= 1e-12


def test_predict_csv_missing_column(tmp_path):
    (tmp_path / "in.csv").write_text("ATLAS_ID,Nnondet_std,Nnondet_mean\n1,0,0\n")
    with pytest.raises(ModelFormatError, match="magdet_std") as info:
        predict_csv(load_trees("vra/duck/day1/real"), tmp_path / "in.csv", tmp_path / "o.csv")
    assert "log10_sep_arcsec" in str(info.value) and "Nnondet_std" not in str(info.value)


# ---------------------------------------------------------------- shipped ATLAS duck models


@pytest.fixture(scope="module")
def reference():
    return json.loads((DATA / "atlas" / "reference_scores.json").read_text())


@pytest.mark.parametrize("name", DUCK)
def test_duck_all_nan_row(name, reference):
    model = load_trees(name)
    assert model.version == "duck-1.1" and model.name == name
    p = model.predict_proba(np.full((1, model.n_features), np.nan))[0, 1]
    key = name.replace("vra/", "")
    assert abs(p - reference["all_nan_input_p_class1"][key]) <= 1e-6


def _reference_cases(reference):
    for example, info in reference["examples"].items():
        for run in info["runs"]:
            for stage, key in (("day1", "day1"), ("dayN", "dayN_full_json")):
                yield example, run["ebv_sfd_input"], stage, run[key]


def test_duck_reference_examples(reference):
    n = 0
    for _example, _ebv, stage, case in _reference_cases(reference):
        feats = {
            k: (math.nan if v is None else float(v)) for k, v in case["features"].items()
        }  # bool CV -> 1.0/0.0, null -> NaN; ebv_sfd taken as given (float32-rounded)
        for kind in ("real", "gal"):
            model = load_trees(f"vra/duck/{stage}/{kind}")
            p = model.predict_proba(feats)[0, 1]
            assert abs(p - case[f"p_{kind}"]) <= 1e-9, (stage, kind, p, case[f"p_{kind}"])
            n += 1
    assert n == 24


@pytest.mark.parametrize(
    "stage, auc_real_min, auc_gal_min, sum_real, sum_gal",
    # AUCs measured 0.9715 / 0.9979 (day1) and 0.9630 / 0.9958 (dayN); the sums pin the exact
    # probabilities of this evaluator (1e-9) so that any change in tree evaluation shows up.
    [
        ("day1", 0.965, 0.99, 439.33989998411204, 733.6279573310061),
        ("dayN", 0.955, 0.99, 471.7972048554647, 700.3218021935472),
    ],
)
def test_duck_labelled_features(stage, auc_real_min, auc_gal_min, sum_real, sum_gal):
    folder = DATA / "atlas_labelled_features"
    x = _read_csv_columns(folder / f"X_train_{stage}_duck1000rows.csv")
    y = _read_csv_columns(folder / f"y_train_{stage}_duck1000rows.csv")
    assert x["ATLAS_ID"] == y["ATLAS_ID"]
    label = np.array(y["type"])
    p = {}
    for kind in ("real", "gal"):
        model = load_trees(f"vra/duck/{stage}/{kind}")
        cols = {f: np.array([_as_float(v) for v in x[f]]) for f in model.feature_names}
        p[kind] = model.predict_proba(cols)[:, 1]
        assert np.array_equal(model.predict_raw(cols), model.predict_raw(cols, engine="walk"))
    known = np.isin(label, ["good", "galactic", "pm", "garbage"])
    auc_real = _auc(p["real"][known], np.isin(label, ["good", "galactic"])[known])
    gal_rows = np.isin(label, ["good", "galactic", "pm"])
    auc_gal = _auc(p["gal"][gal_rows], np.isin(label, ["galactic", "pm"])[gal_rows])
    assert auc_real >= auc_real_min, auc_real
    assert auc_gal >= auc_gal_min, auc_gal
    assert abs(p["real"].sum() - sum_real) <= 1e-9
    assert abs(p["gal"].sum() - sum_gal) <= 1e-9


def test_model_card_lists_shipped_sha256():
    from vra_filters.registry import models_dir

    card = (models_dir() / "vra" / "duck" / "MODEL_CARD.md").read_text()
    for name in DUCK:
        assert load_trees(name).sha256 in card, name
    assert (models_dir() / "vra" / "duck" / "LICENSE").read_text().startswith("BSD 3-Clause")


@pytest.mark.parametrize("stage", ["day1", "dayN"])
def test_predict_explain_equals_the_two_calls(stage):
    """One exit-leaf search for score and explanation gives exactly what the two calls give,
    for all rows, a subset, none, and more rows than one evaluation chunk."""
    folder = DATA / "atlas_labelled_features"
    x = _read_csv_columns(folder / f"X_train_{stage}_duck1000rows.csv")
    model = load_trees(f"vra/duck/{stage}/real")
    X = np.array([[_as_float(v) for v in x[f]] for f in model.feature_names]).T
    X = np.concatenate([X] * 5)  # 5,000 rows: several chunks of the evaluator
    assert X.shape[0] > model._eval.bitmask["chunk"]
    rng = np.random.default_rng(3)
    for rows in (None, np.sort(rng.choice(len(X), 700, replace=False)), [], [0]):
        proba, effect = model.predict_explain(X, rows)
        assert np.array_equal(proba, model.predict_proba(X))
        sel = slice(None) if rows is None else np.asarray(rows, dtype=np.intp)
        assert np.array_equal(effect, model.contributions(X[sel]))
    assert model.predict_explain(X[:1], [0])[1].shape == (1, model.n_features)
