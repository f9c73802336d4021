"""Labels for ``vra evaluate oracle``: a CSV or Parquet file mapping object ids to class labels.

The id and label columns are named on the command line or found among common names (the
first present wins). Labels go through the one table of
:data:`vra_filters.oracle.taxonomy.LABEL_TABLE` (ELAsTiCC GENTYPE codes and model names,
TNS / ZTF BTS types, ALeRCE classes); ids are compared as text, an integer-valued number
written as an integer (``1702305.0`` -> ``1702305``).
"""

from __future__ import annotations

import csv
from pathlib import Path

ID_COLUMNS = ("object_id", "objectId", "diaObjectId", "SNID", "ZTFID", "oid", "id")
LABEL_COLUMNS = ("label", "class", "classALeRCE", "GENTYPE", "type", "tnsclass", "bts_class")
#: Label values that mean "not labelled" (the row is ignored).
NO_LABEL = frozenset({"", "-", "?", "none", "nan", "null", "unknown", "(tns) unknown"})


class LabelError(ValueError):
    """A labels file that cannot be used; the message says why."""


def object_key(value) -> str:
    """An object id as text, the way the readers write ids (no ``.0`` on integers)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip()
    try:
        x = float(text)
    except ValueError:
        return text
    return str(int(x)) if x.is_integer() and "e" not in text.lower() else text


def _pick(names, wanted: str | None, candidates, what: str, path: Path) -> str:
    if wanted:
        if wanted not in names:
            raise LabelError(f"{path.name}: no {what} column {wanted!r} (columns: "
                             f"{', '.join(names)})")
        return wanted
    for name in candidates:
        if name in names:
            return name
    raise LabelError(f"{path.name}: no {what} column among {', '.join(candidates)}; name it "
                     f"with --{what}-column (columns: {', '.join(names)})")


def read_labels(path, id_column: str | None = None,
                label_column: str | None = None) -> dict[str, str]:
    """``{object id: label}`` from a CSV (with a header row) or Parquet file. Rows without a
    label (empty, ``unknown``: :data:`NO_LABEL`) are left out; an id given twice with
    different labels is an error (the same label twice -- several alerts -- is fine)."""
    path = Path(path)
    if not path.exists():
        raise LabelError(f"labels file not found: {path}")
    if path.suffix.lower() in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        names = pq.read_schema(path).names
        ic = _pick(names, id_column, ID_COLUMNS, "id", path)
        lc = _pick(names, label_column, LABEL_COLUMNS, "label", path)
        table = pq.read_table(path, columns=[ic, lc])
        pairs = zip(table.column(ic).to_pylist(), table.column(lc).to_pylist())
    else:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            names = reader.fieldnames or []
            ic = _pick(names, id_column, ID_COLUMNS, "id", path)
            lc = _pick(names, label_column, LABEL_COLUMNS, "label", path)
            pairs = [(r[ic], r[lc]) for r in reader]
    out: dict[str, str] = {}
    for oid, label in pairs:
        if oid is None or label is None or str(label).strip().lower() in NO_LABEL:
            continue
        key, text = object_key(oid), object_key(label)
        if out.get(key, text) != text:
            raise LabelError(f"{path.name}: object {key} has two labels, {out[key]!r} and "
                             f"{text!r}")
        out[key] = text
    if not out:
        raise LabelError(f"{path.name}: no labelled object")
    return out
