"""`vra evaluate vra` and its metrics: R@K and AuRaK against hand-computed values, bootstrap
intervals over objects, permutation importance, the policies over the first visits, and the
report on the real labelled ATLAS sample."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from vra_filters.cli import main
from vra_filters.evaluation.vra_metrics import (
    aurak,
    aurak_ideal,
    bootstrap,
    object_rows,
    permutation_importance,
    policy_table,
    recall_at_fraction,
    recall_at_k,
    replay_policy,
)
from vra_filters.policies import Policy
from vra_filters.registry import load_trees
from vra_filters.score import vra_score
from vra_filters.train_data import read_feature_table

DATA = Path(__file__).parent / "data"
ATLAS = DATA / "atlas_labelled_features"
X1, Y1 = ATLAS / "X_train_day1_duck1000rows.csv", ATLAS / "y_train_day1_duck1000rows.csv"
XN, YN = ATLAS / "X_train_dayN_duck1000rows.csv", ATLAS / "y_train_dayN_duck1000rows.csv"


def test_recall_at_k_and_aurak_equal_hand_computed_values():
    # 5 alerts, 2 good at places 1 and 3: R@K = 1/2, 1/2, 1, 1, 1 -> AuRaK = 4/5
    score = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    good = np.array([1, 0, 1, 0, 0], dtype=bool)
    assert recall_at_k(score, good).tolist() == [0.5, 0.5, 1.0, 1.0, 1.0]
    assert aurak(score, good) == pytest.approx(0.8, abs=1e-15)
    # input order does not matter
    perm = np.array([3, 0, 4, 2, 1])
    assert aurak(score[perm], good[perm]) == pytest.approx(0.8, abs=1e-15)
    # a tie at places 2-3 holding one good of two: R@2 is the expectation 0.75
    tied = np.array([3.0, 2.0, 2.0, 1.0])
    assert recall_at_k(tied, np.array([1, 0, 1, 0], bool)).tolist() == [0.5, 0.75, 1.0, 1.0]
    assert aurak(tied, np.array([1, 0, 1, 0], bool)) == pytest.approx(3.25 / 4, abs=1e-15)
    # a missing score ranks last
    assert recall_at_k(np.array([np.nan, 1.0]), np.array([1, 0], bool)).tolist() == [0.0, 1.0]
    assert recall_at_fraction(score, good, 0.4) == 0.5 and recall_at_fraction(score, good,
                                                                              0.41) == 1.0
    with pytest.raises(ValueError, match="at least one target"):
        aurak(score, np.zeros(5, bool))


def test_ideal_and_random_rankings():
    good = np.array([1, 1, 0, 0, 0], dtype=bool)
    assert aurak_ideal(good) == pytest.approx(1 - 1 / 10)
    assert aurak(good.astype(float), good) == pytest.approx(aurak_ideal(good))
    rng = np.random.default_rng(1)
    t = rng.random(20000) < 0.2
    assert aurak(rng.random(20000), t) == pytest.approx(0.5, abs=0.01)


def test_bootstrap_resamples_whole_objects():
    ids = np.repeat(np.array(["a", "b", "c", "d"], dtype=object), 3)  # 3 rows per object
    sizes = []

    def stat(rows):
        sizes.append(len(rows))
        assert all((ids[rows] == i).sum() % 3 == 0 for i in "abcd")  # never a partial object
        return float(len(set(ids[rows].tolist())))

    out = bootstrap(stat, ids, n=60, seed=3)
    assert set(sizes) == {12} and out["n"] == 60 and 1.0 <= out["low"] <= out["high"] <= 4.0
    assert [list(r) for r in object_rows(np.array(["x", "y", "x"]))] == [[0, 2], [1]]


def test_permutation_importance_finds_the_feature_that_carries_the_ranking():
    rng = np.random.default_rng(0)
    good = rng.random(600) < 0.3
    X = np.column_stack([good + 0.3 * rng.random(600), rng.random(600)])
    ids = np.arange(600).astype(str)
    imp = permutation_importance(lambda A: aurak(A[:, 0] + 0.01 * A[:, 1], good), X,
                                 ["signal", "noise"], ids, repeats=3, seed=1)
    assert imp["signal"]["mean"] > 0.25 and abs(imp["noise"]["mean"]) < 0.01


def test_policies_over_the_first_visits():
    pol = Policy()
    assert replay_policy([(0.5, 0.1, 0.9)], pol) == ("garbage", ["garbage"])
    assert replay_policy([(8.0, 0.99, 0.01)], pol)[0] == "eyeballed"
    assert replay_policy([(1.5, 0.2, 0.2), (1.9, 0.2, 0.2)], pol) == (
        "garbage", ["purgatory", "garbage"])
    # eyeballed on day 1, garbaged later: it was eyeballed
    assert replay_policy([(7.5, 0.9, 0.1), (0.2, 0.0, 0.9), (0.2, 0.0, 0.9)], pol)[0] == \
        "eyeballed"
    # a galactic candidate (near p_real = p_gal = 1) is eyeballed on the galactic list ...
    assert replay_policy([(5.6, 1.0, 0.95)], pol) == ("eyeballed", ["galactic"])
    # ... unless it is a known asteroid
    assert replay_policy([(0.0, 1.0, 0.95, True)], pol) == ("garbage", ["garbage"])
    table = policy_table({"a": [(8.0, 0.99, 0.0)], "b": [(0.1, 0.0, 0.9)],
                          "c": [(5.0, 0.5, 0.5)]}, {"a": "good", "b": "pm", "c": "good"}, pol)
    assert table["good"] == {"eyeballed": 0.5, "garbage": 0.0, "purgatory": 0.5, "objects": 2}
    assert table["all"]["objects"] == 3 and table["pm"]["garbage"] == 1.0


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("evaluate")
    rc = main(["evaluate", "vra", "--day1", str(X1), str(Y1), "--dayN", str(XN), str(YN),
               "--models", "duck", "--out-dir", str(out), "--bootstrap", "40", "--repeats",
               "2", "--key", "1000005291314656200", "--quiet"])
    assert rc == 0
    return out, json.loads((out / "report.json").read_text())


def test_report_numbers_on_the_real_atlas_sample(report):
    out, rep = report
    data = read_feature_table(X1, Y1, "day1")
    real, gal = load_trees("vra/duck/day1/real"), load_trees("vra/duck/day1/gal")
    score = vra_score(real.predict_proba(data.X)[:, 1], gal.predict_proba(data.X)[:, 1])
    good = data.labels == "good"
    r = rep["ranking"]["day1"]
    assert r["rows"] == 1000 and r["good"] == 230
    duck = r["models"]["duck"]
    assert duck["aurak"] == pytest.approx(aurak(score, good), abs=1e-12)
    baseline = r["models"]["real/bogus only (rb_pix)"]["aurak"]
    assert baseline == pytest.approx(aurak(data.column("rb_pix"), good), abs=1e-12)
    for stage in ("day1", "dayN"):
        models = rep["ranking"][stage]["models"]
        assert models["duck"]["aurak"] > models["real/bogus only (rb_pix)"]["aurak"] + 0.05
        assert models["duck"]["aurak"] <= rep["ranking"][stage]["ideal"]
        lo, hi = models["duck"]["interval"]["low"], models["duck"]["interval"]["high"]
        assert lo < models["duck"]["aurak"] < hi and hi - lo < 0.1
    imp = rep["importance"]["day1"]["features"]
    assert max(imp, key=lambda k: imp[k]["mean"]) == "rb_pix"  # the ATLAS CNN score leads
    pol = rep["policy_outcomes"]["duck"]
    for per in pol.values():
        assert per["eyeballed"] + per["garbage"] + per["purgatory"] == pytest.approx(1.0)
    assert pol["good"]["eyeballed"] > 0.9 and pol["pm"]["garbage"] > 0.7
    assert pol["all"]["objects"] == 1000  # the 147 day-N objects are day-1 objects too


def test_report_files(report):
    out, rep = report
    page = (out / "report.html").read_text()
    for name in rep["figures"]:
        assert (out / name).stat().st_size > 5000 and f'src="{name}"' in page
    assert {"rak_day1.png", "rak_dayN.png", "policy.png", "importance_day1.png"} <= set(
        rep["figures"])
    assert "Key transients" in page


def test_evaluate_says_what_is_wrong(tmp_path, capsys):
    assert main(["evaluate", "vra", "--out-dir", str(tmp_path)]) == 2
    assert "nothing to evaluate" in capsys.readouterr().err
    labels = tmp_path / "y.csv"
    labels.write_text("ATLAS_ID,type\n" + "".join(
        f"{i},pm\n" for i in read_feature_table(X1, Y1, "day1").ids))
    assert main(["evaluate", "vra", "--day1", str(X1), str(labels), "--out-dir",
                 str(tmp_path)]) == 2
    assert "no row is labelled good" in capsys.readouterr().err
    assert main(["evaluate", "vra", "--day1", str(X1), str(Y1), "--models", "nosuch",
                 "--out-dir", str(tmp_path)]) == 2
    assert "neither a model family" in capsys.readouterr().err


LSST_LIKE = [DATA / "oracle_labelled" / "elasticc_earlysnia.parquet",
             DATA / "labelled" / "s82_rrlyrae_window.jsonl.gz",
             DATA / "fink" / "rubin_sample_data_10_0.parquet",
             DATA / "fink" / "fink_lsst_part-2-918301.avro"]


def test_alert_form_applies_the_context_rules(tmp_path):
    rc = main(["evaluate", "vra", "--alerts", *map(str, LSST_LIKE), "--labels",
               str(DATA / "labelled" / "labels.csv"), "--models", "duck", "--out-dir",
               str(tmp_path), "--bootstrap", "20", "--repeats", "1", "--quiet"])
    assert rc == 0
    rep = json.loads((tmp_path / "report.json").read_text())
    labels = rep["data"]["day1"]["labels"]
    assert labels == {"galactic": 483, "garbage": 19, "good": 318}
    # the 5 known asteroids among the garbage rows (duck scores 5.5-6.6 alone) are ranked 0
    # by the rule and garbaged on their first visit, like the low-reliability alerts
    garbage = rep["policy_outcomes"]["duck"]["garbage"]
    assert garbage["garbage"] == 1.0 and math.isclose(garbage["eyeballed"], 0.0)
