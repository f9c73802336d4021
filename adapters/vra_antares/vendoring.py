"""Which core modules the packaged ANTARES filter needs, found by reading imports.

The filter's own files (``filter.py``, ``locus.py``, ``_core.py``) name the ``vra_filters``
modules they use; every core module those reach through imports -- at module level or inside
functions, relative or absolute -- is vendored, and nothing else. No list of core modules to
leave out: the maintainer-only code (Keras, training, TFLite export, benchmarks) lives outside
the runtime package (``vra_dev``), so nothing the filter reaches can pull it in.

A vendored module must import nothing but the standard library and numpy when it is imported
(an ANTARES worker has nothing else), and neither ``vra_filters`` by absolute name nor an
adapter anywhere (the vendored copy is neither). Imports of other libraries inside functions are
the optional paths the filter never takes (reading Avro files, the LiteRT runtime, maintainer
tools); they are reported (in ``CHECK.json`` and the package README), not refused.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Set, Tuple

CORE = "vra_filters"
#: What the vendored core must never import by absolute name, not even inside a function: the
#: core itself (the vendored copy is not ``vra_filters``) and the adapters.
FOREIGN = frozenset({CORE, "vra_antares", "adapters"})
ALLOWED_THIRD_PARTY = frozenset({"numpy"})


class VendoringError(RuntimeError):
    """The filter's imports reach something that cannot be vendored."""


def _imports(tree: ast.AST, package: Path) -> Iterator[Tuple[Optional[Path], List[str], bool,
                                                             int]]:
    """Every import of a module: (path below the top package or None when absolute and
    outside it, imported names, absolute?, line). ``package`` is the module's folder below
    the top package (relative imports are resolved from it)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Path(*alias.name.split(".")), [], True, node.lineno
        elif isinstance(node, ast.ImportFrom):
            names = [a.name for a in node.names]
            if not node.level:
                yield Path(*(node.module or "").split(".")), names, True, node.lineno
                continue
            base = package
            for _ in range(node.level - 1):
                base = base.parent
            parts = node.module.split(".") if node.module else []
            yield (base.joinpath(*parts) if parts else base), names, False, node.lineno


def _module_file(root: Path, target: Path) -> Optional[str]:
    if (root / target).with_suffix(".py").is_file():
        return target.with_suffix(".py").as_posix()
    if (root / target / "__init__.py").is_file():
        return (target / "__init__.py").as_posix()
    return None


def _resolve(root: Path, target: Path, names: Sequence[str]) -> List[str]:
    """Core module files an import of ``target`` (below the core) with ``names`` loads,
    parent packages included (``from .a import b`` loads ``a/__init__.py`` and, when it is
    a module, ``a/b.py``)."""
    found = []
    module = _module_file(root, target)
    if module:
        found.append(module)
    for name in names:
        if name != "*":
            sub = _module_file(root, target / name)
            if sub:
                found.append(sub)
    parent = target
    while parent != Path():
        parent = parent.parent
        init = _module_file(root, parent)
        if init:
            found.append(init)
    return found


def entry_modules(files: Sequence[Path], root: Path) -> List[str]:
    """Core modules (paths below the core package ``root``) the given adapter files import
    with ``import vra_filters...`` / ``from vra_filters... import ...``."""
    found: Set[str] = {"__init__.py"}
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for target, names, absolute, line in _imports(tree, Path()):
            if not absolute or target is None or target.parts[:1] != (CORE,):
                continue
            below = Path(*target.parts[1:])
            hits = _resolve(root, below, names)
            if not hits or (below != Path() and not _module_file(root, below)):
                raise VendoringError(f"{path.name}:{line} imports {'.'.join(target.parts)}, "
                                     f"which is not a module of {root}")
            found.update(hits)
    return sorted(found)


def closure(entry: Sequence[str], root: Path) -> List[str]:
    """``entry`` and every core module they reach through imports of the core (relative or
    ``vra_filters...``), at module level or inside functions."""
    todo = list(entry)
    seen: Set[str] = set()
    while todo:
        rel = todo.pop()
        if rel in seen:
            continue
        if not (root / rel).is_file():
            raise VendoringError(f"core module {rel} not found in {root}")
        seen.add(rel)
        tree = ast.parse((root / rel).read_text(encoding="utf-8"), filename=rel)
        for target, names, absolute, _ in _imports(tree, Path(rel).parent):
            if absolute:
                if target.parts[:1] != (CORE,):
                    continue
                target = Path(*target.parts[1:])
            todo.extend(m for m in _resolve(root, target, names) if m not in seen)
    return sorted(seen)


def module_level_imports(path: Path) -> List[str]:
    """Top-level names of the absolute imports a module runs when it is imported (imports
    inside functions and classes' methods excluded; ``try``/``if``/``with`` blocks at module
    level included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: List[str] = []

    def visit(body: Sequence[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.Import):
                names.extend(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names.append(node.module.split(".")[0])
            elif isinstance(node, (ast.If, ast.Try, ast.With, ast.ClassDef)):
                for field in ("body", "orelse", "finalbody"):
                    visit(getattr(node, field, []) or [])
                for handler in getattr(node, "handlers", []) or []:
                    visit(handler.body)
    visit(tree.body)
    return names


def all_absolute_imports(path: Path) -> List[str]:
    """Top-level names of every absolute import in a module, wherever it sits."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [t.parts[0] for t, _, absolute, _ in _imports(tree, Path())
            if absolute and t.parts]


def stdlib() -> frozenset:
    names = getattr(sys, "stdlib_module_names", None)
    if names:
        return frozenset(names)
    # Python 3.9 has no list: the standard modules the core may use.
    return frozenset("""__future__ abc argparse ast base64 binascii bisect collections contextlib
        copy csv dataclasses datetime enum functools gzip hashlib heapq importlib io itertools
        json logging math numbers operator os pathlib platform random re shutil sqlite3
        statistics string struct subprocess sys tempfile textwrap threading time traceback types
        typing uuid warnings zipfile zlib""".split())


def optional_imports(root: Path, modules: Sequence[str]) -> Dict[str, List[str]]:
    """Modules importing something besides the standard library and numpy at module level
    (they would break on an ANTARES worker): ``{module: [names]}``."""
    std = stdlib()
    bad = {}
    for rel in modules:
        names = sorted({n for n in module_level_imports(root / rel)
                        if n not in std and n not in ALLOWED_THIRD_PARTY})
        if names:
            bad[rel] = names
    return bad


def foreign_imports(root: Path, modules: Sequence[str]) -> Dict[str, List[str]]:
    """Modules importing ``vra_filters`` by absolute name or an adapter, anywhere in the
    module (the vendored copy has neither)."""
    bad = {}
    for rel in modules:
        names = sorted({n for n in all_absolute_imports(root / rel) if n in FOREIGN})
        if names:
            bad[rel] = names
    return bad


def lazy_imports(root: Path, modules: Sequence[str]) -> Dict[str, List[str]]:
    """Libraries other than the standard library and numpy imported inside functions (paths
    the filter does not take): ``{module: [names]}``."""
    std = stdlib()
    out = {}
    for rel in modules:
        eager = set(module_level_imports(root / rel))
        names = sorted({n for n in all_absolute_imports(root / rel)
                        if n not in std and n not in ALLOWED_THIRD_PARTY
                        and n not in FOREIGN and n not in eager})
        if names:
            out[rel] = names
    return out


def vendored_modules(files: Sequence[Path], root: Path) -> Tuple[List[str], Dict[str, List[str]]]:
    """The core modules to vendor for ``files`` and the lazy third-party imports among them;
    :class:`VendoringError` naming each module that imports what a worker does not have."""
    modules = closure(entry_modules(files, root), root)
    problems = []
    for rel, names in sorted(optional_imports(root, modules).items()):
        problems.append(f"{rel} imports {', '.join(names)} at module level")
    for rel, names in sorted(foreign_imports(root, modules).items()):
        problems.append(f"{rel} imports {', '.join(names)} (not vendored; use relative "
                        "imports of the core only)")
    if problems:
        raise VendoringError("the core modules the filter needs cannot all be vendored "
                             "(numpy and the standard library only): " + "; ".join(problems))
    return modules, lazy_imports(root, modules)
