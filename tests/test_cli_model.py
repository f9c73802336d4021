"""``vra model {list, import-sklearn, predict}`` (vra_filters.cli_model), run through its own
argparse registration as the CLI does."""

from __future__ import annotations

import argparse
import csv
import json
import warnings

import numpy as np
import pytest

from vra_filters import registry
from vra_filters.cli_model import add_subparser, predict_csv
from vra_filters.trees import ModelFormatError


def run(capsys, *argv):
    parser = argparse.ArgumentParser(prog="vra")
    add_subparser(parser.add_subparsers(dest="command"))
    args = parser.parse_args([str(a) for a in argv])
    code = args.func(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def bare(tmp_path_factory):
    """A model fitted on a bare array (no feature names: sklearn calls them x0, x1, x2), the
    estimator, and its portable conversion."""
    ensemble = pytest.importorskip("sklearn.ensemble")
    from vra_filters.trees import from_sklearn

    rng = np.random.default_rng(3)
    x = rng.normal(size=(500, 3))
    y = (x[:, 0] - 0.7 * x[:, 2] > 0).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = ensemble.HistGradientBoostingClassifier(max_iter=15, random_state=0).fit(x, y)
    model = from_sklearn(est, name="bare", version="1")
    assert model.feature_names == ["x0", "x1", "x2"]
    folder = tmp_path_factory.mktemp("bare") / "m"
    model.save(folder)
    return est, folder, x[:40]


def _write(path, header, rows):
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


def _probs(text):
    rows = list(csv.reader(text.splitlines()))
    return rows[0], np.array([[float(v) for v in r[-2:]] for r in rows[1:]])


def test_bare_array_model_takes_the_columns_in_order(bare, tmp_path, capsys):
    est, folder, x = bare
    _write(tmp_path / "f.csv", ["flux", "colour", "age"], x.tolist())
    code, out, err = run(capsys, "model", "predict", folder, tmp_path / "f.csv")
    assert code == 0
    header, p = _probs(out)
    assert header == ["p_0", "p_1"]
    np.testing.assert_allclose(p, est.predict_proba(x), rtol=0, atol=1e-12)
    assert "without feature names" in err and "flux -> x0" in err and "age -> x2" in err


def test_bare_array_model_column_count_mismatch(bare, tmp_path):
    _, folder, x = bare
    _write(tmp_path / "f.csv", ["id", "flux", "colour", "age"],
           [[f"r{i}"] + row for i, row in enumerate(x.tolist())])
    with pytest.raises(ModelFormatError, match=r"exactly 3 columns.*x0 \.\.\. x2") as info:
        predict_csv(folder, tmp_path / "f.csv", tmp_path / "out.csv")
    assert "4 column(s) (id, flux, colour, age)" in str(info.value)
    assert not (tmp_path / "out.csv").exists()


def test_bare_array_model_with_named_columns_matches_by_name(bare, tmp_path, capsys):
    est, folder, x = bare
    # named x0..x2 in another order, plus an id column: matched by name, id copied, no note
    _write(tmp_path / "f.csv", ["x2", "id", "x0", "x1"],
           [[r[2], f"r{i}", r[0], r[1]] for i, r in enumerate(x.tolist())])
    code, out, err = run(capsys, "model", "predict", folder, tmp_path / "f.csv")
    assert code == 0 and err == ""
    header, p = _probs(out)
    assert header == ["id", "p_0", "p_1"]
    np.testing.assert_allclose(p, est.predict_proba(x), rtol=0, atol=1e-12)
    # some generated names present but not all: ambiguous, so the missing ones are named
    _write(tmp_path / "g.csv", ["x0", "x1", "age"], x.tolist())
    with pytest.raises(ModelFormatError, match="missing column.*x2"):
        predict_csv(folder, tmp_path / "g.csv", "-")


def test_named_model_still_needs_its_columns(tmp_path):
    (tmp_path / "in.csv").write_text("a,b,c\n1,2,3\n")
    with pytest.raises(ModelFormatError, match="missing column.*magdet_std"):
        predict_csv(registry.load_trees("vra/duck/day1/real"), tmp_path / "in.csv", "-")


def test_predict_with_a_shipped_model_name(tmp_path, capsys):
    model = registry.load_trees("vra/duck/day1/gal")
    x = np.random.default_rng(0).normal(size=(5, model.n_features))
    _write(tmp_path / "f.csv", model.feature_names, x.tolist())
    code, out, _ = run(capsys, "model", "predict", "vra/duck/day1/gal", tmp_path / "f.csv")
    assert code == 0
    _, p = _probs(out)
    np.testing.assert_allclose(p, model.predict_proba(x), rtol=0, atol=1e-15)
    with pytest.raises(FileNotFoundError, match="vra/duck/day1/real"):
        run(capsys, "model", "predict", "vra/duck/day9/gal", tmp_path / "f.csv")


def test_model_list_prints_the_registry(capsys):
    code, out, _ = run(capsys, "model", "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[1].split() == ["name", "version", "kind", "licence", "sha256", "card"]
    arts = registry.artifacts()
    body = lines[2:2 + len(arts)]
    for art, line in zip(arts, body):
        cells = line.split()
        assert cells[:5] == [art.name, art.version, art.kind, art.licence, art.sha256[:12]]
        assert cells[5].endswith("MODEL_CARD.md")
    assert "lsst -> elasticc" in lines[-1] and "atlas -> none" in lines[-1]
    code, out, _ = run(capsys, "model", "list", "--json")
    data = json.loads(out)
    assert [a["name"] for a in data["artifacts"]] == [a.name for a in arts]
    assert data["oracle_routing"]["ztf"] == "bts"


def test_model_without_action_prints_usage(capsys):
    code, _, err = run(capsys, "model")
    assert code == 2 and "list" in err and "predict" in err
