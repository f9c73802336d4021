"""``pip install .`` (a regular, not editable, install) gives the ``vra`` command with the
adapters' commands, registered through entry points, and a working ``vra demo``.

The project is built (hatchling, offline with ``--no-build-isolation`` when hatchling is
installed, which the test extra does) and installed into a fresh virtualenv layered over this
interpreter's site-packages for the dependencies. The virtualenv's own copy must be the one
imported, not the editable checkout the suite normally runs from.
"""

from __future__ import annotations

import importlib.util
import json
import os
import site
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(cmd, **kw):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VRA_"))}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=env,
                          timeout=300, **kw)


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """A virtualenv holding a regular install of the project (dependencies: this
    interpreter's, through a ``.pth`` file; works whether or not we run in a virtualenv)."""
    if importlib.util.find_spec("pip") is None:
        pytest.skip("pip is not installed for this interpreter")
    base = tmp_path_factory.mktemp("install")
    env_dir = base / "venv"
    made = _run([sys.executable, "-m", "venv", "--without-pip", env_dir])
    assert made.returncode == 0, made.stderr
    py = env_dir / "bin" / "python"
    purelib = _run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
    ours = [p for p in site.getsitepackages() if Path(p).is_dir()]
    (Path(purelib.stdout.strip()) / "_outer_site.pth").write_text(
        "import site; " + "; ".join(f"site.addsitedir({p!r})" for p in ours) + "\n")
    isolation = [] if importlib.util.find_spec("hatchling") is None else ["--no-build-isolation"]
    out = _run([py, "-m", "pip", "install", "--no-deps", "--quiet", *isolation, ROOT],
               cwd=str(base))
    assert out.returncode == 0, out.stderr[-3000:]
    return env_dir


def test_installed_copy_is_the_one_imported(venv):
    out = _run([venv / "bin" / "python", "-c",
                "import json, vra_filters, vra_antares; from vra_filters import registry; "
                "print(json.dumps([vra_filters.__file__, vra_antares.__file__, "
                "str(registry.models_dir())]))"], cwd=str(venv))
    assert out.returncode == 0, out.stderr
    core, adapter, models = (Path(p).resolve() for p in json.loads(out.stdout))
    prefix = venv.resolve()
    for path in (core, adapter, models):
        assert prefix in path.parents, f"{path} is not the installed copy under {prefix}"
    assert (models / "vra" / "duck" / "day1" / "real" / "model.json").is_file()


def test_vra_help_lists_the_adapter_commands(venv):
    out = _run([venv / "bin" / "vra", "--help"], cwd=str(venv))
    assert out.returncode == 0, out.stderr
    for command in ("score", "demo", "antares"):
        assert f"    {command} " in out.stdout, command
    assert "unavailable" not in out.stdout


def test_vra_antares_help(venv):
    out = _run([venv / "bin" / "vra", "antares", "--help"], cwd=str(venv))
    assert out.returncode == 0, out.stderr
    assert "run-locus" in out.stdout and "package" in out.stdout


def test_vra_antares_run_locus(venv):
    if importlib.util.find_spec("antares_devkit") is None:
        pytest.skip("antares-devkit is not installed (pip install '.[test]')")
    locus = ROOT / "tests" / "data" / "antares" / "devkit_small_locus.json"
    out = _run([venv / "bin" / "vra", "antares", "run-locus", "--json", locus], cwd=str(venv))
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["status"] == "Succeeded", report
    assert report["properties"]["vra_visits"] == 1


def test_vra_antares_package_from_the_install(venv, tmp_path):
    """The packager vendors the installed core (not the checkout's) without a check."""
    outdir = tmp_path / "pkg"
    out = _run([venv / "bin" / "vra", "antares", "package", "--no-check", outdir],
               cwd=str(venv))
    assert out.returncode == 0, out.stderr[-3000:]
    vendored = outdir / "virtual_research_assistant" / "_vendor" / "vra_filters"
    assert (vendored / "__init__.py").is_file()
    assert not (vendored / "cli.py").exists()  # the closure of the filter's imports only


def test_vra_model_list_reads_the_installed_registry(venv):
    out = _run([venv / "bin" / "vra", "model", "list"], cwd=str(venv))
    assert out.returncode == 0, out.stderr[-3000:]
    first = out.stdout.splitlines()[0]
    assert str(venv.resolve()) in first or str(venv) in first, first  # the wheel's _models
    manifest = json.loads((ROOT / "models" / "registry.json").read_text())
    listed = {line.split()[0] for line in out.stdout.splitlines()[2:]
              if line.strip() and "/" in line.split()[0]}
    assert listed == {a["name"] for a in manifest["artifacts"]}


def test_vra_demo(venv, tmp_path):
    """The embedded sample is scored from the installed package data (models, sample)."""
    out = _run([venv / "bin" / "vra", "demo"], cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr[-3000:]
    (line,) = [s for s in out.stdout.splitlines() if s.startswith("alerts per tier:")]
    counts = dict(item.rsplit(" ", 1) for item in line.split(":", 1)[1].split(","))
    assert set(k.strip() for k in counts) == {"fast_track", "extragalactic", "galactic",
                                               "purgatory", "garbage"}
    assert sum(int(v) for v in counts.values()) == 44  # the 44 alerts of the sample


# --------------------------------------------------------------------------------------------
# Entry-point discovery (no install needed)


def test_an_adapter_that_fails_to_load_does_not_break_vra(monkeypatch, capsys):
    """A ``vra_filters.commands`` entry point whose import fails (a missing optional
    dependency, say) becomes a stub command saying why; every other command still works, and
    a name listed twice (editable + regular install) is added once."""
    from importlib import metadata

    from vra_filters import cli

    group = "vra_filters.commands"
    points = [metadata.EntryPoint("broken", "vra_no_such_adapter.cli:add_subparser", group),
              metadata.EntryPoint("antares", "vra_antares.cli:add_subparser", group),
              metadata.EntryPoint("antares", "vra_antares.cli:add_subparser", group)]
    monkeypatch.setattr(metadata, "entry_points", lambda: {group: points})
    with pytest.raises(SystemExit) as done:
        cli.main(["--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "broken" in out and "(unavailable: the broken adapter failed to load)" in out
    assert out.count("    antares ") == 1 and "    score " in out
    assert cli.main(["broken"]) == 2
    err = capsys.readouterr().err
    assert "vra broken: the adapter (vra_no_such_adapter.cli:add_subparser) could not be " \
           "loaded: ModuleNotFoundError" in err
    assert cli.main(["antares"]) == 2 and "run-locus" in capsys.readouterr().out
