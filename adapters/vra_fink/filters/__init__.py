"""The Fink filters of the VRA, and how the job applies them the way Fink does.

Fink (``fink_utils.spark.utils``) binds each argument of a filter function to the schema entry
of the same name (a top-level column or the leaf of a struct, which must be unique), wraps the
function in a pandas UDF returning booleans and keeps the rows where it is true.
:func:`apply` does the same with the DataFrames of ``vra fink run``.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any, Callable, Dict, List

#: Filter name -> module (``filter_<name>/filter.py`` defining ``<name>``).
FILTERS: Dict[str, str] = {
    name: f"{__name__}.rubin.livestream.filter_{name}.filter"
    for name in ("vra_fast_track", "vra_extragalactic")
}


def load(name: str) -> Callable[..., Any]:
    """The filter function ``name``; its module also has ``DESCRIPTION`` and ``HBASE_SUPPORT``."""
    return getattr(importlib.import_module(FILTERS[name]), name)


def _leaves(schema: Any, prefix: str = "") -> List[str]:
    from pyspark.sql import types as T

    out = []
    for field in schema.fields:
        path = prefix + field.name
        out.append(path)
        if isinstance(field.dataType, T.StructType):
            out.extend(_leaves(field.dataType, path + "."))
    return out


def resolve(df: Any, argname: str) -> str:
    """The column path an argument binds to (Fink's rule: the entry named ``argname``, the
    top-level one if several); ValueError if none or several."""
    paths = [p for p in _leaves(df.schema) if p.split(".")[-1] == argname]
    if len(paths) > 1 and argname in paths:
        return argname
    if len(paths) != 1:
        raise ValueError(f"filter argument {argname!r} matches "
                         f"{'no column' if not paths else 'several: ' + ', '.join(paths)}")
    return paths[0]


def apply(df: Any, func: Callable[..., Any]) -> Any:
    """The rows of ``df`` for which the filter ``func`` is true."""
    from pyspark.sql import functions as F
    from pyspark.sql.functions import pandas_udf

    names = list(inspect.signature(func).parameters)
    udf = pandas_udf(func, "boolean")
    return df.filter(F.coalesce(udf(*[F.col(resolve(df, n)) for n in names]), F.lit(False)))
