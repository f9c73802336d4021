"""Tests for the shipped-model registry (vra_filters.registry)."""

from __future__ import annotations

import pytest

from vra_filters import registry
from vra_filters.trees import TreeEnsemble


def test_models_dir_holds_the_duck_models():
    root = registry.models_dir()
    assert (root / "vra" / "duck" / "day1" / "real" / "model.json").is_file()
    names = registry.list_trees()
    for stage in ("day1", "dayN"):
        for kind in ("real", "gal"):
            assert f"vra/duck/{stage}/{kind}" in names


def test_load_trees_is_cached():
    a = registry.load_trees("vra/duck/dayN/gal")
    b = registry.load_trees("vra/duck/dayN/gal")
    assert a is b
    assert isinstance(a, TreeEnsemble)
    assert a.feature_names[0] == "dayN" and len(a.feature_names) == 23
    assert len(registry.load_trees("vra/duck/day1/gal").feature_names) == 16
    assert len(a.sha256) == 64


@pytest.mark.parametrize("bad", ["", "/etc", "vra/../vra/duck/day1/real", "vra//duck", "./vra"])
def test_invalid_names(bad):
    with pytest.raises(ValueError):
        registry.load_trees(bad)


def test_unknown_model():
    with pytest.raises(KeyError, match="vra/duck/day1/real"):  # lists what is available
        registry.load_trees("vra/duck/day7/real")
