"""`vra train`: the paper's recipe on real labelled data, the split by object, balancing, the
portable export equal to scikit-learn (1e-12) through the registry, model cards, `vra score
--models`, per-survey routing, the shipped provisional LSST family, and `vra suggest`."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="vra train needs scikit-learn (the sklearn extra)")

import vra_filters as vra  # noqa: E402
from vra_filters import registry  # noqa: E402
from vra_filters.cli import main  # noqa: E402
from vra_filters.train import PAPER_SETTINGS, informative, register, train_stage  # noqa: E402
from vra_filters.train_data import (  # noqa: E402
    LabelledSet,
    balance,
    normalise_label,
    read_feature_table,
    split_objects,
    targets,
)
from vra_filters.train_suggest import uncertainty  # noqa: E402

DATA = Path(__file__).parent / "data"
ATLAS = DATA / "atlas_labelled_features"
X1, Y1 = ATLAS / "X_train_day1_duck1000rows.csv", ATLAS / "y_train_day1_duck1000rows.csv"
XN, YN = ATLAS / "X_train_dayN_duck1000rows.csv", ATLAS / "y_train_dayN_duck1000rows.csv"


@pytest.fixture(scope="module")
def day1(tmp_path_factory):
    """`vra train X y OUTDIR --stage day1` on the 1,000 real eyeballed ATLAS rows."""
    out = tmp_path_factory.mktemp("train") / "fam" / "day1"
    assert main(["train", str(X1), str(Y1), str(out), "--stage", "day1", "--quiet",
                 "--name", "vra/fam", "--version", "t1"]) == 0
    return out


def test_feature_table_form_writes_models_vra_model_predict_reads(day1, tmp_path):
    for kind in ("real", "gal"):
        assert (day1 / kind / "trees.npz").is_file() and (day1 / kind / "model.json").is_file()
    out = tmp_path / "p.csv"
    assert main(["model", "predict", str(day1 / "real"), str(X1), "--out", str(out)]) == 0
    rows = list(csv.DictReader(open(out)))
    assert len(rows) == 1000 and all(0.0 <= float(r["p_1"]) <= 1.0 for r in rows)
    card = (day1 / "MODEL_CARD.md").read_text()
    meta = json.loads((day1 / "real" / "model.json").read_text())
    assert registry.sha256_file(day1 / "real" / "trees.npz") == meta["sha256"]
    assert meta["sha256"] in card and "X_train_day1_duck1000rows.csv" in card
    assert meta["feature_names"] == list(vra.features.DAY1_FEATURES)
    assert meta["hyper_parameters"]["l2_regularization"] == 10.0
    assert meta["hyper_parameters"]["class_weight"] == "balanced"
    assert meta["hyper_parameters"]["learning_rate"] == 0.1
    gal = json.loads((day1 / "gal" / "model.json").read_text())
    assert gal["hyper_parameters"]["learning_rate"] == 0.2
    assert gal["hyper_parameters"]["random_state"] == 42


def test_split_by_object_and_balanced_training_rows(day1):
    rec = json.loads((day1 / "training.json").read_text())
    assert rec["rows"]["training"] == {"galactic": 174, "garbage": 174, "good": 174, "pm": 174}
    assert rec["rows"]["all"]["agn"] == 2 and "agn" not in rec["rows"]["training"]
    held = set(rec["held_out_ids"])
    assert len(held) == rec["objects"]["held_out"] == 200
    meta = json.loads((day1 / "gal" / "model.json").read_text())
    assert set(meta["provenance"]["held_out_ids"]) == held  # what --held-out reads
    # day N: several rows per object, never on both sides of the split
    data = read_feature_table(XN, YN, "dayN")
    mask = split_objects(data, 0.2, 42)
    assert not set(data.ids[mask].tolist()) & set(data.ids[~mask].tolist())
    for lab in ("good", "galactic", "pm", "garbage"):
        objs = {i for i, lb in zip(data.ids, data.labels) if lb == lab}
        held_objs = {i for i, lb, m in zip(data.ids, data.labels, mask) if lb == lab and m}
        assert abs(len(held_objs) - 0.2 * len(objs)) <= 1
    picked = balance(np.array(["good"] * 5 + ["pm"] * 3 + ["auto-garbage"] * 2 + ["agn"]))
    assert len(picked) == 6 and 10 not in picked


def test_held_out_aurak_beats_the_real_bogus_baseline(day1):
    m = json.loads((day1 / "training.json").read_text())["metrics"]["held_out"]
    assert m["rows"] == 200 and m["good"] == 46
    assert m["aurak_rb_baseline"] + 0.05 < m["aurak"] <= m["aurak_ideal"]


def test_trained_scorers_equal_sklearn_through_the_registry(day1, tmp_path, monkeypatch):
    from sklearn.ensemble import HistGradientBoostingClassifier

    # the same training rows, fitted by scikit-learn directly with the paper's settings
    data = read_feature_table(X1, Y1, "day1")
    held = split_objects(data, 0.2, 42)
    rows = np.flatnonzero(~held)[balance(data.labels[~held], 42)]
    real_y, _ = targets(data.labels[rows])
    ok = ~np.isnan(real_y)
    X = data.X[rows][ok]
    used = informative(X, list(data.names))
    ref = HistGradientBoostingClassifier(**dict(PAPER_SETTINGS, learning_rate=0.1))
    ref.fit(X[:, used], real_y[ok].astype(int))
    expected = ref.predict_proba(data.X[:, used])[:, 1]
    # register the trained stage in a models folder of its own and load it by name
    root = tmp_path / "models"
    shutil.copytree(day1, root / "vra" / "fam" / "day1")
    monkeypatch.setenv("VRA_MODELS", str(root))
    assert register(root / "vra" / "fam" / "day1", "fam", "t1") == ["vra/fam/day1/real",
                                                                   "vra/fam/day1/gal"]
    model = registry.load_trees("vra/fam/day1/real")
    assert registry.get("vra/fam/day1/real").version == "t1"
    got = model.predict_proba(data.X)[:, 1]
    assert np.max(np.abs(got - expected)) <= 1e-12
    assert not np.allclose(got, got[0])  # a real model, not a constant


def test_register_needs_the_models_folder_layout(day1, tmp_path, monkeypatch):
    (tmp_path / "models").mkdir()
    monkeypatch.setenv("VRA_MODELS", str(tmp_path / "models"))
    with pytest.raises(ValueError, match="to register 'fam', train into"):
        register(day1, "fam", "t1")


#: The labelled alerts of the shipped provisional LSST family (its card's recipe).
RECIPE_ALERTS = [DATA / "oracle_labelled" / "elasticc_earlysnia.parquet",
                 DATA / "labelled" / "s82_rrlyrae_window.jsonl.gz",
                 DATA / "fink" / "rubin_sample_data_10_0.parquet",
                 DATA / "fink" / "fink_lsst_part-2-918301.avro",
                 DATA / "lasair" / "20260202_102448_subset.json",
                 DATA / "lasair" / "20260205_073301.json.gz",
                 DATA / "fink" / "ztf_few_SLSN_alerts.parquet",
                 DATA / "fink" / "fink_ztf_part-3-305711.avro",
                 DATA / "oracle_labelled" / "alerce_sne.jsonl.gz"]


@pytest.fixture(scope="module")
def family(tmp_path_factory):
    """The alert form mixed with feature tables -- the recipe of the shipped provisional
    LSST family -- giving a whole family (day1/ and dayN/)."""
    out = tmp_path_factory.mktemp("family") / "lsstish"
    assert main(["train", str(out), "--alerts", *map(str, RECIPE_ALERTS), "--labels",
                 str(DATA / "labelled" / "labels.csv"), "--day1", str(X1), str(Y1),
                 "--dayN", str(XN), str(YN), "--ignore-features", "ra,dec,ebv_sfd",
                 "--no-balance", "--name", "vra/lsstish", "--quiet"]) == 0
    return out


def test_alert_form_trains_a_family_vra_score_uses(family, tmp_path):
    rec = json.loads((family / "day1" / "training.json").read_text())
    assert rec["rows"]["all"]["galactic"] == 483 + 218 and rec["ignored"] == ["ra", "dec",
                                                                              "ebv_sfd"]
    assert rec["rows"]["all"]["good"] == 230 + 318 + 48  # ATLAS + ELAsTiCC + ZTF TNS/ALeRCE
    meta = json.loads((family / "day1" / "real" / "model.json").read_text())
    arrays = np.load(family / "day1" / "real" / "trees.npz")
    used = {meta["feature_names"][f] for f in arrays["feature"] if f >= 0}
    assert used and not used & {"ra", "dec", "ebv_sfd"}  # withheld: never split on
    out = tmp_path / "a.jsonl"
    assert main(["score", str(DATA / "rubin" / "fink_lsst_part-2-918301_subset.avro"),
                 "--models", str(family), "--history", "packet", "--oracle-model", "none",
                 "--out", str(out), "--quiet"]) == 0
    anns = [json.loads(line) for line in open(out)]
    assert anns and all(a["models"]["real"]["name"].startswith("vra/lsstish/") for a in anns)


def test_scorer_routes_a_family_per_survey(family):
    sc = vra.Scorer.load(oracle="none", models={"lsst": str(family), "atlas": "duck"})
    assert set(sc.survey_models) == {"lsst"} and "lsst/day1/real" in sc.settings["models"]
    lsst = vra.read(DATA / "rubin" / "fink_lsst_part-2-918301_subset.avro").lightcurves
    atlas = vra.read(DATA / "atlas" / "1000005291314656200_sn.json.gz").lightcurves
    anns = sc.score(lsst + atlas).annotations
    names = {a.survey: a.models["real"]["name"] for a in anns}
    assert names["lsst"].startswith("vra/lsstish/") and names["atlas"].startswith("vra/duck/")
    plain = vra.Scorer.load(oracle="none")
    assert plain.survey_models == {} and "lsst/day1/real" not in plain.settings["models"]


def test_the_shipped_lsst_family_is_provisional_and_not_the_default():
    card = registry.get("vra/lsst-provisional/day1/real").card.read_text()
    assert "PROVISIONAL" in card and "ELAsTiCC" in card and "Stripe 82" in card
    assert registry.vra_routing() == {"atlas": "duck", "lsst": "duck", "ztf": "duck"}
    assert "lsst-provisional" in registry.vra_families()
    models = vra.scorer.VRAModels.load("lsst-provisional")
    assert models.day1_real.version == "0.1-provisional"


def test_the_shipped_lsst_family_is_what_its_recipe_trains(family):
    """Re-running the card's recipe with the same scikit-learn gives the same trees."""
    import sklearn

    meta = json.loads((registry.get("vra/lsst-provisional/day1/real").path
                       / "model.json").read_text())
    if meta["provenance"]["sklearn_version"] != sklearn.__version__:
        pytest.skip(f"the shipped models were trained with scikit-learn "
                    f"{meta['provenance']['sklearn_version']}, this is {sklearn.__version__}")
    for stage in ("day1", "dayN"):
        for kind in ("real", "gal"):
            shipped = registry.get(f"vra/lsst-provisional/{stage}/{kind}").sha256
            assert registry.sha256_file(family / stage / kind / "trees.npz") == shipped


def test_labels_and_tables_say_what_is_wrong(tmp_path):
    assert normalise_label(" Auto_Garbage") == "auto-garbage" and normalise_label("PM") == "pm"
    with pytest.raises(ValueError, match="unknown label 'star'"):
        normalise_label("star")
    bad = tmp_path / "y.csv"
    bad.write_text("ATLAS_ID,type\n1,good\n2,star\n")
    with pytest.raises(ValueError, match="line 3: unknown label"):
        read_feature_table(X1, bad, "day1")
    few = tmp_path / "few.csv"
    few.write_text("ATLAS_ID,type\n1160457911144448000,good\n")
    with pytest.raises(ValueError, match="no label for 999 row"):
        read_feature_table(X1, few, "day1")
    with pytest.raises(ValueError, match="missing dayN feature column"):
        read_feature_table(X1, Y1, "dayN")
    one = LabelledSet("day1", np.zeros((40, 16)) + np.arange(40)[:, None], np.arange(40)
                      .astype(str).astype(object), np.array(["good"] * 40, dtype=object),
                      np.zeros(40))
    with pytest.raises(ValueError, match="needs rows of both classes"):
        train_stage(one, tmp_path / "x", validation=0.0, balanced=False)
    assert main(["train", str(X1), str(Y1), str(tmp_path / "o")]) == 2  # no --stage


def test_synthetic_stress_set(tmp_path):
    """Missing values everywhere, +-inf, an all-missing column, many rows per object: trains,
    ignores the empty column, and the export still equals scikit-learn."""
    rng = np.random.default_rng(7)
    n = 3000
    labels = rng.choice(np.array(["good", "galactic", "pm", "garbage", "auto-garbage"],
                                 dtype=object), n)
    X = rng.normal(size=(n, 23)) + (labels == "good")[:, None] * 0.8
    X[rng.random((n, 23)) < 0.3] = np.nan
    X[rng.random((n, 23)) < 0.01] = np.inf
    X[rng.random((n, 23)) < 0.01] = -np.inf
    X[:, 5] = np.nan
    ids = (np.arange(n) // 5).astype(str).astype(object)  # 5 visits per object
    data = LabelledSet("dayN", X, ids, labels, rng.random(n))
    rec = train_stage(data, tmp_path / "s", validation=0.25)
    assert rec["uninformative"]["real"] == [data.names[5]]
    assert max(m["max_abs_diff_vs_sklearn"] for m in rec["models"].values()) <= 1e-12
    assert rec["metrics"]["held_out"]["aurak"] > rec["metrics"]["held_out"]["aurak_rb_baseline"]


def test_uncertainty_and_vra_suggest(tmp_path, capsys):
    assert uncertainty([0.5, 1.0, 0.9], [0.0, 0.0, 0.5]).tolist() == pytest.approx(
        [1.0, 0.0, 0.9])
    labelled = tmp_path / "done.csv"
    labelled.write_text("ATLAS_ID,type\n" + "".join(
        f"{i},good\n" for i in list(read_feature_table(X1, Y1, "day1").ids)[:500]))
    out = tmp_path / "s.csv"
    assert main(["suggest", "--features", str(X1), "--stage", "day1", "--models", "duck",
                 "-n", "7", "--labels", str(labelled), "--out", str(out)]) == 0
    rows = list(csv.DictReader(open(out)))
    done = {r.split(",")[0] for r in labelled.read_text().splitlines()[1:]}
    assert len(rows) == 7 and not {r["object_id"] for r in rows} & done
    u = [float(r["uncertainty"]) for r in rows]
    assert u == sorted(u, reverse=True) and u[0] > 0.9
    assert main(["suggest", str(DATA / "fink" / "rubin_sample_data_10_0.parquet"), "-n", "30",
                 "--quiet"]) == 0
    got = list(csv.DictReader(capsys.readouterr().out.splitlines()))
    ids = [r["object_id"] for r in got]
    assert len(ids) == len(set(ids)) == 22 and not any(i.startswith("sso_") for i in ids)
