"""The one registry of everything vra_filters ships: tree models, ORACLE weights and TFLite
files, the dust map.

All of them live below one folder, :func:`models_dir`: ``$VRA_MODELS`` if set, else
``vra_filters/_models`` in an installed wheel, else ``models/`` of a source checkout. Its
``registry.json`` lists every artifact -- name, version, kind, files with their sha256, licence,
model card -- plus the survey -> ORACLE model routing (and the model used instead on alerts
without host metadata); it is the only place sha256 sums are recorded, and every load checks
the bytes against it (once per file per process).

>>> from vra_filters import registry
>>> art = registry.get("vra/duck/day1/real")           # an Artifact             # doctest: +SKIP
>>> art.file("trees.npz")                              # verified path          # doctest: +SKIP
>>> registry.load_trees("vra/duck/day1/real")          # a cached TreeEnsemble  # doctest: +SKIP
>>> registry.oracle_model_for("lsst")                  # 'elasticc'             # doctest: +SKIP
>>> registry.oracle_without_metadata()                 # {'lsst': 'elasticc-lite'} # doctest: +SKIP
>>> registry.vra_family_for("atlas")                   # 'duck'                 # doctest: +SKIP

Kinds: ``trees`` (a :class:`~vra_filters.trees.TreeEnsemble` directory), ``oracle-weights``
(``.npz`` + ``.json`` sidecar; the numpy variants), ``oracle-tflite`` (one ``.tflite``; the
LiteRT variants), ``dust-map`` (a HEALPix E(B-V) map).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

__all__ = [
    "ENV_VAR",
    "KINDS",
    "MANIFEST",
    "Artifact",
    "IntegrityError",
    "artifacts",
    "get",
    "list_trees",
    "load_trees",
    "load_vra_family",
    "models_dir",
    "oracle_model_for",
    "oracle_routing",
    "oracle_without_metadata",
    "sha256_file",
    "vra_families",
    "vra_family_for",
    "vra_routes",
    "vra_routing",
]

ENV_VAR = "VRA_MODELS"
MANIFEST = "registry.json"
MANIFEST_FORMAT = "vra_filters.registry"
MANIFEST_VERSION = 1
KINDS = ("trees", "oracle-weights", "oracle-tflite", "dust-map")

_lock = threading.RLock()
_manifests: Dict[str, Tuple[float, Dict[str, Any]]] = {}
_verified: Dict[Tuple[str, str], bool] = {}
_trees: Dict[Tuple[str, str, str], Any] = {}


class IntegrityError(ValueError):
    """A shipped file does not match the sha256 recorded for it in ``registry.json``."""


def models_dir() -> Path:
    """The models root: ``$VRA_MODELS``, else the installed wheel's, else the checkout's."""
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        root = Path(env).expanduser()
        if not root.is_dir():
            raise FileNotFoundError(f"${ENV_VAR}={env}: no such directory")
        return root.resolve()
    try:
        installed = Path(str(resources.files(__package__) / "_models"))
        if installed.is_dir():
            return installed
    except (ModuleNotFoundError, TypeError, ValueError):
        pass
    checkout = Path(__file__).resolve().parents[2] / "models"
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(
        "vra_filters models not found: expected vra_filters/_models in the installed package "
        f"or {checkout} in a source checkout (or set ${ENV_VAR})"
    )


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file: the identity every annotation gives of the model it used."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Artifact:
    """One registry entry. ``path`` is its folder; ``files`` maps each file (relative to
    ``path``) to its sha256; ``primary`` is the file whose sha256 identifies the artifact in
    annotations (:attr:`sha256`); ``meta`` holds kind-specific keys (ORACLE model, checkpoint,
    variant)."""

    name: str
    version: str
    kind: str
    path: Path
    files: Mapping[str, str]
    licence: str
    card: Optional[Path] = None
    licence_file: Optional[Path] = None
    primary: str = ""
    description: str = ""
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def sha256(self) -> str:
        return self.files[self.primary]

    def file(self, relpath: Optional[str] = None, check: bool = True) -> Path:
        """Path of one of the artifact's files (default: the primary one), its sha256 checked
        against the manifest unless ``check`` is false (once per process)."""
        rel = relpath or self.primary
        if rel not in self.files:
            raise KeyError(f"{rel!r} is not a file of {self.name} "
                           f"(files: {', '.join(sorted(self.files))})")
        path = self.path.joinpath(*rel.split("/"))
        if not path.is_file():
            raise FileNotFoundError(f"{path}: file of {self.name} {self.version} is missing "
                                    f"from {self.path.parent}")
        if check:
            _verify(path, self.files[rel], self.name)
        return path

    def verify(self) -> None:
        """Check every file of the artifact (raises :class:`IntegrityError`)."""
        for rel in self.files:
            self.file(rel)


def _verify(path: Path, expected: str, name: str) -> None:
    key = (str(path), expected)
    if _verified.get(key):
        return
    actual = sha256_file(path)
    if actual != expected:
        raise IntegrityError(
            f"{path}: sha256 {actual} does not match {expected} recorded for {name} in "
            f"{MANIFEST}; the file is corrupt or was modified"
        )
    _verified[key] = True


def _manifest(root: Path) -> Dict[str, Any]:
    path = root / MANIFEST
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        raise FileNotFoundError(f"no {MANIFEST} in {root}: not a vra_filters models folder") from None
    with _lock:
        cached = _manifests.get(str(path))
        if cached is not None and cached[0] == mtime:
            return cached[1]
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path}: unreadable registry manifest ({exc})") from None
        if data.get("format") != MANIFEST_FORMAT:
            raise ValueError(f"{path}: not a {MANIFEST_FORMAT} manifest")
        if int(data.get("format_version", -1)) > MANIFEST_VERSION:
            raise ValueError(f"{path}: format_version {data.get('format_version')} is newer than "
                             f"supported ({MANIFEST_VERSION}); upgrade vra_filters")
        _manifests[str(path)] = (mtime, data)
        return data


def _artifact(root: Path, entry: Mapping[str, Any]) -> Artifact:
    def rel(p: Optional[str]) -> Optional[Path]:
        return None if not p else root.joinpath(*p.split("/"))

    try:
        files = dict(entry["files"])
        return Artifact(
            name=entry["name"], version=entry["version"], kind=entry["kind"],
            path=root.joinpath(*entry["path"].split("/")), files=files,
            licence=entry["licence"], card=rel(entry.get("card")),
            licence_file=rel(entry.get("licence_file")),
            primary=entry.get("primary") or sorted(files)[0],
            description=entry.get("description", ""), meta=dict(entry.get("meta") or {}),
        )
    except (KeyError, TypeError, IndexError) as exc:
        raise ValueError(f"{root / MANIFEST}: malformed entry {entry.get('name')!r} "
                         f"({type(exc).__name__}: {exc})") from None


def artifacts(kind: Optional[str] = None) -> List[Artifact]:
    """Every artifact of the manifest (optionally of one kind), in manifest order."""
    if kind is not None and kind not in KINDS:
        raise ValueError(f"unknown artifact kind {kind!r}; choose one of {KINDS}")
    root = models_dir()
    out = [_artifact(root, e) for e in _manifest(root).get("artifacts", [])]
    return [a for a in out if kind is None or a.kind == kind]


def _check_name(name: str) -> None:
    parts = name.split("/") if isinstance(name, str) else [""]
    if any(p in ("", ".", "..") or "\\" in p for p in parts):
        raise ValueError(f"invalid model name {name!r} (expected e.g. 'vra/duck/day1/real')")


def get(name: str, version: Optional[str] = None) -> Artifact:
    """The artifact ``name`` (latest listed version, or exactly ``version``).

    Unknown names raise KeyError listing the known ones; malformed names raise ValueError.
    """
    _check_name(name)
    found = [a for a in artifacts() if a.name == name]
    if not found:
        known = ", ".join(a.name for a in artifacts()) or "none"
        raise KeyError(f"no artifact {name!r} in {models_dir() / MANIFEST} (known: {known})")
    if version is None:
        return found[-1]
    for art in found:
        if art.version == version:
            return art
    raise KeyError(f"{name!r} has no version {version!r} "
                   f"(versions: {', '.join(a.version for a in found)})")


def list_trees() -> List[str]:
    """Names of all shipped tree models."""
    return [a.name for a in artifacts("trees")]


def load_trees(name: str, version: Optional[str] = None):
    """The shipped tree model ``name`` (e.g. ``"vra/duck/dayN/gal"``) as a
    :class:`~vra_filters.trees.TreeEnsemble`, its files checked against the manifest; loaded
    once per process and then shared."""
    from .trees import TreeEnsemble

    _check_name(name)
    root = str(models_dir())
    key = (root, name, version or "")
    model = _trees.get(key)
    if model is not None:
        return model
    with _lock:
        model = _trees.get(key)
        if model is None:
            try:
                art = get(name, version)
            except KeyError:
                known = ", ".join(list_trees()) or "none"
                raise KeyError(f"no tree model {name!r} in {root} (available: {known})") from None
            if art.kind != "trees":
                raise KeyError(f"{name!r} is a {art.kind} artifact, not a tree model")
            art.verify()
            model = TreeEnsemble.load(art.path)
            _trees[key] = model
    return model


def oracle_routing() -> Dict[str, Optional[str]]:
    """Survey -> ORACLE model name (None: no ORACLE for that survey), from the manifest."""
    routing = _manifest(models_dir()).get("routing", {}).get("oracle", {})
    return {str(k): (None if v is None else str(v)) for k, v in routing.items()}


def oracle_model_for(survey: str) -> Optional[str]:
    """The ORACLE model that classifies ``survey``'s alerts (``"lsst"`` -> ``"elasticc"``,
    ``"ztf"`` -> ``"bts"``), or None (ATLAS: its c and o bands are not among ORACLE's). A
    survey the manifest does not know raises KeyError."""
    routing = oracle_routing()
    if survey not in routing:
        raise KeyError(f"no ORACLE routing for survey {survey!r} (known: {', '.join(routing)})")
    return routing[survey]


def oracle_without_metadata() -> Dict[str, str]:
    """Survey -> the ORACLE model that classifies, under ``oracle="auto"``, the alerts whose
    packet lacks the host-galaxy description (magnitudes, shape) the survey's
    :func:`oracle_model_for` model was trained with
    (:meth:`~vra_filters.oracle.Oracle.host_missing`) -- for LSST,
    ``elasticc-lite`` instead of ``elasticc``, which does far worse on them
    (models/oracle/README.md, "Routing"). From the manifest
    (``routing.oracle_without_metadata``); empty when it has none. A value the manifest sets
    to null, or equal to the survey's own model, is left out."""
    routing = _manifest(models_dir()).get("routing", {})
    fallback = routing.get("oracle_without_metadata", {}) or {}
    primary = routing.get("oracle", {}) or {}
    return {str(k): str(v) for k, v in fallback.items()
            if v is not None and v != primary.get(k)}


def vra_families() -> List[str]:
    """Names of the VRA model families shipped (``vra/<family>/<stage>/<kind>`` tree models
    with all four of day1/dayN x real/gal), in manifest order."""
    names = [a.name.split("/") for a in artifacts("trees")]
    found: Dict[str, set] = {}
    for parts in names:
        if len(parts) == 4 and parts[0] == "vra":
            found.setdefault(parts[1], set()).add((parts[2], parts[3]))
    full = {(st, k) for st in ("day1", "dayN") for k in ("real", "gal")}
    return [f for f, have in found.items() if have >= full]


def vra_routing() -> Dict[str, str]:
    """Survey -> VRA model family for ``models="auto"``, from the manifest (``routing.vra``);
    empty when the manifest has no such entry (every survey then uses ``duck``)."""
    routing = _manifest(models_dir()).get("routing", {}).get("vra", {})
    return {str(k): str(v) for k, v in routing.items() if v is not None}


def vra_family_for(survey: str) -> str:
    """The VRA model family that scores ``survey``'s alerts by default (``duck`` unless the
    manifest routes the survey elsewhere)."""
    return vra_routing().get(survey, "duck")


def load_vra_family(family: str) -> List[Any]:
    """The four tree models of a VRA family -- day1 real, day1 gal, dayN real, dayN gal -- by
    its registry name (``vra/<family>/<stage>/<kind>``), else from a directory holding
    ``day1/{real,gal}`` and ``dayN/{real,gal}`` (what ``vra train`` writes). Each must take
    the stage's VRA features in their canonical order (ValueError otherwise)."""
    from .features import DAY1_FEATURES, DAYN_FEATURES
    from .trees import TreeEnsemble

    parts = [(stage, kind) for stage in ("day1", "dayN") for kind in ("real", "gal")]
    known = vra_families()
    if family in known:
        out = [load_trees(f"vra/{family}/{stage}/{kind}") for stage, kind in parts]
    elif os.path.isdir(family):
        out = [TreeEnsemble.load(os.path.join(family, stage, kind)) for stage, kind in parts]
    else:
        raise ValueError(f"VRA models {family!r}: neither a model family of the registry "
                         f"({', '.join(known) or 'none'}) nor a directory with day1/ and "
                         "dayN/ models")
    for (stage, _), model in zip(parts, out):
        names = DAY1_FEATURES if stage == "day1" else DAYN_FEATURES
        if list(model.feature_names) != list(names):
            raise ValueError(f"VRA model {model.name or family} ({stage}) takes "
                             f"{model.feature_names}, not the {stage} features {list(names)} "
                             "in that order")
    return out


def vra_routes(models: Any = "auto") -> Tuple[str, Dict[str, str]]:
    """``(default family, {survey: family})`` for ``Scorer.load(models=...)``: ``"auto"``
    (:func:`vra_routing`), one family or directory for every survey, or ``{survey: family}``.
    Only surveys whose family differs from the default are listed."""
    if isinstance(models, Mapping):
        routes = {str(k): str(v) for k, v in models.items()}
    elif models == "auto":
        routes = vra_routing()
    else:
        return str(models), {}
    values = list(routes.values())
    base = "duck" if "duck" in values or not values else values[0]
    return base, {s: f for s, f in routes.items() if f != base}

