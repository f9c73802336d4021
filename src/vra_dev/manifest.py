"""Maintain ``registry.json``, the manifest of every shipped artifact (maintainers only).

``python -m vra_dev.manifest check``    every listed file exists and matches its sha256
``python -m vra_dev.manifest refresh``  rewrite the sha256 of every listed file (after a
                                        converter or exporter rewrote model files)

Entries are added by editing ``registry.json`` by hand (name, version, kind, path, files,
primary, licence, licence_file, card, meta) and then running ``refresh``; the converters in
``tools/`` call :func:`refresh` themselves.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

from vra_filters.registry import MANIFEST, models_dir, sha256_file


def _load(root: Path) -> Dict[str, Any]:
    return json.loads((root / MANIFEST).read_text(encoding="utf-8"))


def _dump(root: Path, data: Dict[str, Any]) -> None:
    text = json.dumps(data, indent=1, ensure_ascii=False) + "\n"
    (root / MANIFEST).write_text(text, encoding="utf-8")


def problems(root: Optional[Path] = None) -> List[str]:
    """What is wrong with the manifest (missing files, sha256 mismatches, missing cards,
    licences, routes to unknown models); empty when all is well."""
    root = Path(root) if root else models_dir()
    data = _load(root)
    out: List[str] = []
    seen = set()
    oracle_models = set()
    for e in data.get("artifacts", []):
        key = (e["name"], e["version"])
        if key in seen:
            out.append(f"{e['name']} {e['version']}: listed twice")
        seen.add(key)
        if e.get("kind") == "oracle-weights" or e.get("kind") == "oracle-tflite":
            oracle_models.add(e.get("meta", {}).get("model"))
        folder = root / e["path"]
        if e.get("primary") not in e["files"]:
            out.append(f"{e['name']}: primary file {e.get('primary')!r} is not among its files")
        for rel, sha in e["files"].items():
            path = folder / rel
            if not path.is_file():
                out.append(f"{e['name']}: {path} is missing")
            elif sha256_file(path) != sha:
                out.append(f"{e['name']}: {path} does not match its sha256")
        for key_ in ("card", "licence_file"):
            if e.get(key_) and not (root / e[key_]).is_file():
                out.append(f"{e['name']}: {key_} {e[key_]} is missing")
    for survey, model in data.get("routing", {}).get("oracle", {}).items():
        if model is not None and model not in oracle_models:
            out.append(f"routing: {survey} -> {model!r}, which no artifact provides")
    for survey, model in data.get("routing", {}).get("oracle_without_metadata", {}).items():
        if model is not None and model not in oracle_models:
            out.append(f"routing without metadata: {survey} -> {model!r}, which no artifact "
                       "provides")
    return out


def refresh(root: Optional[Path] = None) -> int:
    """Rewrite every listed file's sha256 from the bytes on disk; returns how many changed.
    A listed file that is missing is an error (FileNotFoundError)."""
    root = Path(root) if root else models_dir()
    data = _load(root)
    changed = 0
    for e in data.get("artifacts", []):
        for rel in list(e["files"]):
            path = root / e["path"] / rel
            if not path.is_file():
                raise FileNotFoundError(f"{e['name']}: {path} is missing")
            sha = sha256_file(path)
            if e["files"][rel] != sha:
                e["files"][rel] = sha
                changed += 1
    _dump(root, data)
    return changed


def files_below(folder: str, root: Optional[Path] = None) -> Dict[str, Dict[str, Any]]:
    """``{file name: {"sha256", "bytes"}}`` of the registered files in ``folder`` (a path
    relative to the models root, e.g. ``"oracle/bts"``), for cards and reports."""
    root = Path(root) if root else models_dir()
    out: Dict[str, Dict[str, Any]] = {}
    for e in _load(root).get("artifacts", []):
        for rel, sha in e["files"].items():
            path = root / e["path"] / rel
            if path.parent == root / folder:
                out[path.name] = {"sha256": sha, "bytes": path.stat().st_size}
    return dict(sorted(out.items()))


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m vra_dev.manifest", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("action", choices=["check", "refresh"])
    ap.add_argument("--root", type=Path, default=None, help="models folder (default: the "
                                                            "registry's models_dir())")
    args = ap.parse_args(argv)
    if args.action == "refresh":
        print(f"{refresh(args.root)} sha256 updated in {(args.root or models_dir()) / MANIFEST}")
        return 0
    found = problems(args.root)
    for p in found:
        print(p, file=sys.stderr)
    print(f"{len(found)} problem(s)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
