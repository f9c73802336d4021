"""The science modules' input columns, selected from a Fink DataFrame (Spark side).

:func:`rubin_columns` / :func:`ztf_columns` give the argument list of
``vra_rubin`` / ``vra_ztf``. They pass only the fields the core's readers use (a Rubin
``diaSource`` has 98 fields, ``prvDiaSources`` hundreds of entries of them: projecting in the JVM
keeps the Arrow batches small), replace a null integer id by 0 (the readers' "no id", and it
keeps the id column int64 in pandas, see :mod:`vra_fink.packets`), and find Fink's cross-match
columns wherever they are -- flat (inside fink-broker, before the ``xm``/``pred`` structs are
built) or nested (``xm.tns_fullname`` in the science and data-transfer files) -- and pass them
as one ``xm`` struct (and Rubin's ``pred``). A column the DataFrame does not have is a typed
null.
"""

from __future__ import annotations

from typing import Any, List, Optional, Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from vra_filters.readers.rubin import ELASTICC_STATIC
from vra_filters.readers.ztf import BTS_METADATA

#: Fields of a Rubin source / forced source the reader reads (newest schema names first).
RUBIN_POINT = ("diaSourceId", "visit", "midpointMjdTai", "midPointTai", "band", "filterName",
               "psfFlux", "psFlux", "psfFluxErr", "psFluxErr", "ra", "dec", "decl",
               "reliability", "pixelFlags_saturatedCenter")
RUBIN_TRIGGER = RUBIN_POINT + ("diaObjectId", "ssObjectId")
RUBIN_OBJECT = ("diaObjectId", "ra", "dec", "decl") + tuple(
    alias for _, aliases in ELASTICC_STATIC for alias in aliases)
ZTF_POINT = ("candid", "jd", "fid", "magpsf", "sigmapsf", "diffmaglim", "isdiffpos", "ra",
             "dec", "drb", "rb")
#: The candidate also gives ZTF's own solar-system match (``ssnamenr`` / ``ssdistnr``).
ZTF_CANDIDATE = ZTF_POINT + tuple(f for f in BTS_METADATA if f not in ZTF_POINT) + (
    "ssnamenr", "ssdistnr")
#: Integer ids whose null becomes 0 (the readers treat 0 as "no id").
NULL_IS_ZERO = ("diaSourceId", "diaObjectId", "ssObjectId", "candid")

#: Fink's cross-matches the readers use: (field, where Fink keeps it, Spark type if absent).
RUBIN_XM = (("tns_fullname", ("tns_fullname", "xm.tns_fullname"), "string"),
            ("tns_type", ("tns_type", "xm.tns_type"), "string"),
            ("mangrove_lum_dist", ("mangrove_lum_dist", "xm.mangrove_lum_dist"), "double"),
            ("simbad_otype", ("simbad_otype", "xm.simbad_otype"), "string"),
            ("gcvs_type", ("gcvs_type", "xm.gcvs_type"), "string"),
            ("vsx_Type", ("vsx_Type", "xm.vsx_Type"), "string"))
RUBIN_PRED = (("is_sso", ("is_sso", "pred.is_sso"), "boolean"),)
ZTF_XM = (("tns", ("tns",), "string"), ("cdsxmatch", ("cdsxmatch",), "string"),
          ("roid", ("roid",), "int"), ("gcvs", ("gcvs",), "string"),
          ("vsx", ("vsx",), "string"))


def survey_of(df: DataFrame) -> str:
    """``"lsst"`` (Rubin columns) or ``"ztf"``; ValueError naming what is missing."""
    names = set(df.columns)
    if "diaSource" in names:
        return "lsst"
    if "candidate" in names:
        return "ztf"
    raise ValueError("not a Fink alert table: no diaSource (Rubin) or candidate (ZTF) column; "
                     f"columns are {', '.join(sorted(names)[:20])}")


def _field_type(df: DataFrame, path: str) -> Optional[T.DataType]:
    kind: Any = df.schema
    for part in path.split("."):
        if not isinstance(kind, T.StructType) or part not in kind.fieldNames():
            return None
        kind = kind[part].dataType
    return kind


def _value(expr: Column, name: str, kind: T.DataType) -> Column:
    if name in NULL_IS_ZERO and isinstance(kind, (T.LongType, T.IntegerType)):
        return F.coalesce(expr, F.lit(0).cast(kind)).alias(name)
    return expr.alias(name)


def struct_of(df: DataFrame, name: str, fields: Sequence[str]) -> Column:
    """A struct column with the fields of ``name`` among ``fields`` (null ids -> 0)."""
    kind = _field_type(df, name)
    if not isinstance(kind, T.StructType):
        raise ValueError(f"column {name} is not a struct")
    have = [f for f in fields if f in kind.fieldNames()]
    if not have:
        raise ValueError(f"column {name} has none of the fields {', '.join(fields)}")
    return F.struct(*[_value(F.col(name)[f], f, kind[f].dataType) for f in have]).alias(name)


def list_of(df: DataFrame, name: str, fields: Sequence[str]) -> Column:
    """An array-of-struct column keeping only ``fields`` of each entry (null when absent)."""
    kind = _field_type(df, name)
    if kind is None:
        return F.lit(None).cast(f"array<struct<{fields[0]}: double>>").alias(name)
    if not isinstance(kind, T.ArrayType):
        raise ValueError(f"column {name} is not an array")
    if not isinstance(kind.elementType, T.StructType):
        # A list Parquet stored as list<null> (never any entry) reads back as array<int>: pass
        # it as it is; the reader drops null entries and rejects any other non-record.
        return F.col(name).alias(name)
    element = kind.elementType
    have = [f for f in fields if f in element.fieldNames()]
    if not have:
        raise ValueError(f"entries of {name} have none of the fields {', '.join(fields)}")
    return F.transform(F.col(name), lambda x: F.struct(*[x[f].alias(f) for f in have])) \
        .alias(name)


def found(df: DataFrame, name: str, paths: Sequence[str], kind: str) -> Column:
    """The first of ``paths`` the DataFrame has, else a null of type ``kind``."""
    for path in paths:
        have = _field_type(df, path)
        if have is not None:
            return _value(F.col(path), name, have)
    return F.lit(None).cast(kind).alias(name)


def _lum_dist(df: DataFrame) -> Column:
    """Fink ZTF's Mangrove host distance as text (Fink has stored ``mangrove`` as a struct and
    as a map of strings)."""
    kind = _field_type(df, "mangrove")
    if isinstance(kind, T.StructType) and "lum_dist" in kind.fieldNames():
        return F.col("mangrove.lum_dist").cast("string").alias("lum_dist")
    if isinstance(kind, T.MapType):
        return F.col("mangrove")["lum_dist"].cast("string").alias("lum_dist")
    return F.lit(None).cast("string").alias("lum_dist")


def record(df: DataFrame, name: str, entries: Sequence[Any], extra: Sequence[Column] = ()
           ) -> Column:
    """A struct column ``name`` of the cross-match fields found in ``df`` (typed nulls for the
    rest), whether Fink keeps them flat or nested."""
    return F.struct(*[found(df, n, p, k) for n, p, k in entries], *extra).alias(name)


def rubin_columns(df: DataFrame) -> List[Column]:
    """Arguments of ``vra_rubin`` for a Fink / raw Rubin alert DataFrame."""
    obj = _field_type(df, "diaObject")
    dia_object = (struct_of(df, "diaObject", RUBIN_OBJECT) if isinstance(obj, T.StructType)
                  else F.lit(None).cast("struct<ra: double, dec: double>").alias("diaObject"))
    return [struct_of(df, "diaSource", RUBIN_TRIGGER),
            list_of(df, "prvDiaSources", RUBIN_POINT),
            list_of(df, "prvDiaForcedSources", RUBIN_POINT),
            dia_object, record(df, "xm", RUBIN_XM), record(df, "pred", RUBIN_PRED)]


def ztf_columns(df: DataFrame) -> List[Column]:
    """Arguments of ``vra_ztf`` for a Fink / raw ZTF alert DataFrame."""
    return [found(df, "objectId", ("objectId",), "string"),
            found(df, "candid", ("candid",), "long"),
            struct_of(df, "candidate", ZTF_CANDIDATE),
            list_of(df, "prv_candidates", ZTF_POINT),
            record(df, "xm", ZTF_XM, [_lum_dist(df)])]


def module_for(df: DataFrame):
    """The science module (pandas UDF) and its argument columns for ``df``'s survey."""
    if survey_of(df) == "lsst":
        from .rubin.vra.processor import vra_rubin
        return vra_rubin, rubin_columns(df)
    from .ztf.vra.processor import vra_ztf
    return vra_ztf, ztf_columns(df)
