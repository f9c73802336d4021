"""The README's Python API examples run as written (from a clone's root)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _api_blocks():
    text = (ROOT / "README.md").read_text()
    section = text.split("## Python API", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_the_python_api_section_has_examples():
    assert len(_api_blocks()) >= 3


@pytest.mark.parametrize("index", range(len(_api_blocks())))
def test_readme_python_api_example_runs(index, tmp_path):
    (tmp_path / "tests").symlink_to(ROOT / "tests")
    code = _api_blocks()[index]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip(), "the example printed nothing"
