"""The core must run on ANTARES workers (Python 3.9): a static check that it parses as 3.9.

The full suite also runs under a real 3.9 interpreter when the machine has one
(tests/run.sh); this check holds everywhere.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import vra_filters

CORE = Path(vra_filters.__file__).resolve().parent
ADAPTERS = Path(__file__).resolve().parents[1] / "adapters"
FILES = sorted(CORE.rglob("*.py")) + sorted(ADAPTERS.rglob("*.py"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(p.parents[2])))
def test_parses_as_python_39_with_postponed_annotations(path: Path):
    source = path.read_text()
    tree = ast.parse(source, filename=str(path), feature_version=(3, 9))
    body = [n for n in tree.body if not isinstance(n, ast.Expr)]  # skip the docstring
    uses_annotations = any(isinstance(n, (ast.AnnAssign, ast.arg)) and
                           getattr(n, "annotation", None) is not None
                           or isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and
                           n.returns is not None for n in ast.walk(tree))
    if uses_annotations:
        first = body[0] if body else None
        assert (isinstance(first, ast.ImportFrom) and first.module == "__future__"
                and any(a.name == "annotations" for a in first.names)), \
            f"{path.name}: annotations need `from __future__ import annotations` on 3.9"
    for node in ast.walk(tree):
        assert not (hasattr(ast, "Match") and isinstance(node, ast.Match)), "match statement"


def test_core_imports_no_broker_library():
    banned = ("lasair", "fink_client", "fink_science", "antares", "antares_devkit", "slack_sdk",
              "pyspark", "tensorflow", "ai_edge_litert", "torch", "sklearn")
    for path in sorted(CORE.rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                root = name.split(".")[0]
                if root in banned:
                    # heavy ML runtimes are allowed only lazily, inside functions
                    assert root not in ("lasair", "fink_client", "fink_science", "antares",
                                        "antares_devkit", "slack_sdk", "pyspark"), \
                        f"{path.name} imports broker library {name}"
                    assert _inside_function(tree, node), \
                        f"{path.name} imports {name} at module level (must be lazy)"


def _inside_function(tree: ast.AST, target: ast.AST) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if any(child is target for child in ast.walk(node)):
                return True
    return False
