"""Registry of the models shipped with vra_filters.

Models live in the repository's top-level ``models/`` folder; wheels carry the same tree as
``vra_filters/_models``. Names are paths below that folder, e.g. ``"vra/duck/day1/real"``.
Each model is loaded (and its sha256 verified) once per process, then shared.
"""

from __future__ import annotations

import hashlib
import threading
from importlib import resources
from pathlib import Path

from .trees import TreeEnsemble

__all__ = ["list_trees", "load_trees", "models_dir", "sha256_file"]

_cache: dict[str, TreeEnsemble] = {}
_lock = threading.Lock()


def models_dir() -> Path:
    """Folder holding the shipped models (installed wheel first, then the source checkout)."""
    try:
        installed = Path(str(resources.files("vra_filters") / "_models"))
        if installed.is_dir():
            return installed
    except (ModuleNotFoundError, TypeError, ValueError):
        pass
    checkout = Path(__file__).resolve().parents[2] / "models"
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(
        "vra_filters models not found: expected vra_filters/_models in the installed package "
        f"or {checkout} in a source checkout"
    )


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file: the identity every annotation gives of the model it used."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _model_path(name: str) -> Path:
    parts = name.split("/")
    if any(p in ("", ".", "..") or "\\" in p for p in parts):
        raise ValueError(f"invalid model name {name!r} (expected e.g. 'vra/duck/day1/real')")
    return models_dir().joinpath(*parts)


def load_trees(name: str) -> TreeEnsemble:
    """The shipped tree model ``name`` (e.g. ``"vra/duck/dayN/gal"``), cached per process."""
    model = _cache.get(name)
    if model is not None:
        return model
    with _lock:
        model = _cache.get(name)
        if model is None:
            path = _model_path(name)
            if not (path / "model.json").is_file():
                known = ", ".join(list_trees()) or "none"
                raise KeyError(f"no tree model {name!r} in {models_dir()} (available: {known})")
            model = TreeEnsemble.load(path)
            _cache[name] = model
    return model


def list_trees() -> list[str]:
    """Names of all shipped tree models (folders holding ``model.json`` and ``trees.npz``)."""
    root = models_dir()
    return sorted(
        p.parent.relative_to(root).as_posix()
        for p in root.rglob("trees.npz")
        if (p.parent / "model.json").is_file()
    )
