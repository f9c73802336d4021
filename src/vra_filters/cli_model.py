"""``vra model {list, import-sklearn, predict}``: the shipped models, and bringing your own.

* ``list``: the model registry (``models/registry.json``): every shipped artifact with its
  version, kind, licence, sha256 and model card.
* ``import-sklearn``: a joblib-saved ``HistGradientBoostingClassifier`` -> the portable,
  pickle-free tree format (this opens a pickle: trusted files only).
* ``predict``: class probabilities for the rows of a features CSV (:func:`predict_csv`).

Everything here is imported only when ``vra model ...`` runs; the core never imports it.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, List, Optional, TextIO, Tuple, Union

import numpy as np

from .trees import ModelFormatError, TreeEnsemble

__all__ = ["add_subparser", "class_column", "predict_csv"]

PathLike = Union[str, Path]

_NAN_TOKENS = {"", "nan", "none", "null", "na", "n/a"}
_BOOL_TOKENS = {"true": 1.0, "false": 0.0}


def class_column(label: Any) -> str:
    """Output column name for a class label: ``p_<label>`` (``1.0`` is written ``p_1``)."""
    if isinstance(label, (float, np.floating)) and float(label).is_integer():
        label = int(label)
    return "p_" + str(label)


def _parse_cell(text: str, line: int, column: str) -> float:
    t = text.strip()
    low = t.lower()
    if low in _NAN_TOKENS:
        return math.nan
    if low in _BOOL_TOKENS:
        return _BOOL_TOKENS[low]
    try:
        return float(t)
    except ValueError:
        raise ValueError(f"line {line}, column {column!r}: not a number: {text!r}") from None


def _csv_blocks(reader: Any, n_fields: int, source: Any, size: int) -> Iterator[list]:
    """Yield lists of (line number, row) of at most ``size`` rows; blank lines are skipped."""
    block = []
    for line_no, row in enumerate(reader, start=2):
        if not row:
            continue
        if len(row) != n_fields:
            raise ValueError(f"{source}, line {line_no}: {len(row)} fields, header has {n_fields}")
        block.append((line_no, row))
        if len(block) >= size:
            yield block
            block = []
    if block:
        yield block


def _generated_names(names: Sequence[str]) -> bool:
    """True for the names scikit-learn gives features fitted from a bare array: x0, x1, ..."""
    return bool(names) and list(names) == [f"x{i}" for i in range(len(names))]


def _short_list(names: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def feature_columns(model: TreeEnsemble, header: Sequence[str], source: Any,
                    label: str) -> Tuple[List[int], Optional[str]]:
    """Indices of the model's features in ``header``, and a note when taken by position.

    Columns are matched by name. A model fitted on a bare array (feature names ``x0..x{n-1}``,
    which scikit-learn makes up) whose names the header does not use at all takes the CSV's
    columns in order instead, which then must be exactly ``n`` columns.
    """
    names = model.feature_names
    if all(f in header for f in names):
        return [list(header).index(f) for f in names], None
    n = len(names)
    if _generated_names(names) and not set(names) & set(header):
        if len(header) != n:
            raise ModelFormatError(
                f"{source}: model {label} was fitted without feature names, so its {n} "
                f"features are read from the CSV's columns in order, but the CSV has "
                f"{len(header)} column(s) ({_short_list(list(header))}); give exactly {n} "
                f"columns in the training order, or name them x0 ... x{n - 1}"
            )
        pairs = [f"{h} -> x{i}" for i, h in enumerate(header)]
        note = (f"model {label} was fitted without feature names: taking the CSV's {n} "
                f"columns in order as its features ({_short_list(pairs)})")
        return list(range(n)), note
    missing = [f for f in names if f not in header]
    raise ModelFormatError(
        f"{source}: missing column(s) needed by model {label}: " + ", ".join(missing)
    )


def predict_csv(
    model_dir: PathLike | TreeEnsemble,
    features_csv: PathLike,
    out: PathLike,
    chunk_rows: int = 65536,
    notes: Optional[TextIO] = None,
) -> int:
    """Score a CSV of features; write the input's other columns plus one ``p_<class>`` each.

    ``out`` is a file path (written whole or not at all) or ``"-"`` for standard output.

    Columns are matched by header name (order free); a model fitted without feature names
    takes the columns in order (see :func:`feature_columns`; the note goes to ``notes``,
    default standard error). Empty/NaN/None/null cells are missing values, True/False are 1/0.
    Rows are streamed in chunks; the output appears only once complete. Returns the number of
    rows scored.
    """
    model = model_dir if isinstance(model_dir, TreeEnsemble) else TreeEnsemble.load(model_dir)
    label = model.name or str(model_dir)
    n_rows = 0
    with open(features_csv, newline="", encoding="utf-8-sig") as fin:
        reader = csv.reader(fin)
        header = [h.strip() for h in next(reader, [])]
        if not header:
            raise ValueError(f"{features_csv}: empty file (a header row is required)")
        feat_idx, note = feature_columns(model, header, features_csv, label)
        if note:
            print(f"vra model predict: {note}", file=notes or sys.stderr)
        used = set(feat_idx)
        extra_idx = [i for i in range(len(header)) if i not in used]

        def write(fout: Any) -> int:
            n = 0
            writer = csv.writer(fout, lineterminator="\n")
            writer.writerow(
                [header[i] for i in extra_idx] + [class_column(c) for c in model.classes]
            )
            for block in _csv_blocks(reader, len(header), features_csv, chunk_rows):
                x = np.array(
                    [[_parse_cell(row[i], line, header[i]) for i in feat_idx]
                     for line, row in block],
                    dtype=np.float64,
                ).reshape(len(block), len(feat_idx))
                for (_, row), p in zip(block, model.predict_proba(x).tolist()):
                    writer.writerow([row[i] for i in extra_idx] + [repr(v) for v in p])
                n += len(block)
            return n

        if str(out) == "-":  # standard output, streamed
            return write(sys.stdout)
        out = Path(out)
        tmp = out.with_name(out.name + ".partial")
        try:
            with open(tmp, "w", newline="", encoding="utf-8") as fout:
                n_rows = write(fout)
            os.replace(tmp, out)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    return n_rows


# ---------------------------------------------------------------------- commands


def _resolve_model(spec: str) -> TreeEnsemble | str:
    """A model directory, or the registry name of a shipped tree model."""
    if Path(spec).is_dir():
        return spec
    from . import registry

    if spec in registry.list_trees():
        return registry.load_trees(spec)
    raise FileNotFoundError(
        f"{spec}: neither a model directory (trees.npz + model.json) nor a shipped tree model "
        f"({', '.join(registry.list_trees())})"
    )


def cmd_list(args: argparse.Namespace) -> int:
    from . import registry

    root = registry.models_dir()
    rows = []
    for art in registry.artifacts():
        card = "" if art.card is None else art.card.relative_to(root).as_posix()
        rows.append({"name": art.name, "version": art.version, "kind": art.kind,
                     "licence": art.licence, "sha256": art.sha256, "card": card})
    if args.json:
        import json

        print(json.dumps({"models_dir": str(root), "artifacts": rows,
                          "oracle_routing": registry.oracle_routing(),
                          "oracle_without_metadata": registry.oracle_without_metadata()},
                         indent=2))
        return 0
    cols = ("name", "version", "kind", "licence", "sha256", "card")
    table = [[r[c][:12] if c == "sha256" else r[c] for c in cols] for r in rows]
    widths = [max(len(c), *(len(t[i]) for t in table)) if table else len(c)
              for i, c in enumerate(cols)]
    print(f"models in {root} ({registry.MANIFEST}; ${registry.ENV_VAR} overrides)")
    print("  ".join(c.ljust(w) for c, w in zip(cols, widths)).rstrip())
    for t in table:
        print("  ".join(v.ljust(w) for v, w in zip(t, widths)).rstrip())
    routes = ", ".join(f"{s} -> {m or 'none'}" for s, m in registry.oracle_routing().items())
    fallback = ", ".join(f"{s} -> {m}" for s, m in registry.oracle_without_metadata().items())
    if fallback:
        routes += f"; packets without host galaxy magnitudes: {fallback}"
    print(f"ORACLE per survey (oracle='auto'): {routes}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from .trees import import_sklearn

    model = import_sklearn(args.model, args.outdir, name=args.name, version=args.version)
    print(f"wrote {args.outdir}: {model.name} {model.version} sha256 {model.sha256} "
          f"({len(model.feature_names)} features)")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    predict_csv(_resolve_model(args.model_dir), args.features, args.out or "-")
    return 0


def add_subparser(sub: Any) -> argparse.ArgumentParser:
    """Register ``vra model {list, import-sklearn, predict}`` on ``sub`` (add_subparsers)."""
    p = sub.add_parser("model", help="the shipped models; bring your own scorer",
                       description="The models shipped with vra_filters (list), and your own "
                                   "scikit-learn scorers in the portable format "
                                   "(import-sklearn, predict).")
    msub = p.add_subparsers(dest="model_command", metavar="ACTION")

    def usage(args: argparse.Namespace) -> int:
        p.print_help(sys.stderr)
        return 2

    p.set_defaults(func=usage)

    q = msub.add_parser("list", help="the shipped models: version, kind, licence, sha256, card",
                        description="Every artifact listed in the model registry "
                                    "(models/registry.json, or $VRA_MODELS/registry.json).")
    q.add_argument("--json", action="store_true", help="print one JSON object")
    q.set_defaults(func=cmd_list)

    q = msub.add_parser("import-sklearn",
                        help="convert a fitted HistGradientBoostingClassifier (joblib)",
                        description="Convert a fitted scikit-learn "
                                    "HistGradientBoostingClassifier saved with joblib into "
                                    "the portable, pickle-free format. This opens a pickle: "
                                    "only use it on a file you trust.")
    q.add_argument("model", help="the .joblib file")
    q.add_argument("outdir", help="output directory (trees.npz + model.json)")
    q.add_argument("--name", default=None)
    q.add_argument("--version", default=None)
    q.set_defaults(func=cmd_import)

    q = msub.add_parser("predict", help="class probabilities for a features CSV",
                        description="Class probabilities (CSV) for the rows of a CSV whose "
                                    "header names the model's features (any order; the other "
                                    "columns are copied). A model fitted without feature "
                                    "names (x0, x1, ...) takes the columns in order.")
    q.add_argument("model_dir", help="model directory, or a shipped tree model's name "
                                     "(vra model list)")
    q.add_argument("features", help="CSV with a header row")
    q.add_argument("--out", default=None, help="output CSV (default: stdout)")
    q.set_defaults(func=cmd_predict)
    return p
