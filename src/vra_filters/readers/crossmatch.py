"""Broker cross-matches as context: what the policies need to act outside ATLAS and Lasair.

The ATLAS transient server and Lasair hand over Sherlock's verdict (class, host distance and
separation) and the TNS match; Fink adds its own cross-matches to Rubin and ZTF packets, and
the surveys flag solar-system objects themselves. Mapped here onto
:class:`~vra_filters.lightcurve.Context`:

* **solar-system object** -> ``solar_system`` (and ``ss_object_id``): Rubin ``ssObjectId`` on the
  triggering diaSource or an ``ssSource`` record, Fink ``pred.is_sso``; ZTF Fink ``roid`` = 3
  (a known asteroid) or the ZTF pipeline's own match (``ssnamenr`` within
  :data:`ZTF_KNOWN_SSO_ARCSEC` of a known body, ``ssdistnr``). The policies never make such
  an alert a candidate.
* **TNS** -> ``tns_name`` (rank 10): Rubin ``xm.tns_fullname`` (else ``xm.tns_type``); ZTF Fink
  ``tns``, which holds the *type* of the classified TNS object (Fink ZTF has no name column).
* **Mangrove host** -> ``distance_mpc`` (the fast track): Rubin ``xm.mangrove_lum_dist``, ZTF
  ``mangrove.lum_dist`` (luminosity distance in Mpc; a string in Fink ZTF). Mangrove gives no
  host separation, so ``host_sep_arcsec`` stays unknown.
* **Catalogue class** -> ``catalogue_class`` in Sherlock's vocabulary: SIMBAD
  (``xm.simbad_otype`` / ``cdsxmatch``) cataclysmic variables -> ``CV``, variable stars ->
  ``VS``, AGN / QSO / blazars -> ``AGN``; else a GCVS or VSX variable-star match
  (``xm.gcvs_type``, ``xm.vsx_Type``, ``gcvs``, ``vsx``) -> ``CV`` for dwarf novae and novae,
  ``VS`` otherwise. Other SIMBAD types (galaxies, plain stars) leave the class empty.

Fink's placeholders (``None``, ``nan``, ``Unknown``, ``Fail 503``...) count as no value. A value
the reader already has (e.g. Lasair's Sherlock class) is never overwritten by an empty one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Optional

from ..lightcurve import Context
from ._fields import as_float, int_id, label

#: ZTF's known-solar-system match radius used here (arcsec): Fink's ``roid`` = 3 meaning.
ZTF_KNOWN_SSO_ARCSEC = 5.0
#: Fink ZTF ``roid`` value of an alert matched to a known solar-system object.
ZTF_ROID_KNOWN = 3
#: Fink's "no value" strings (lower case); anything starting with "fail" too.
PLACEHOLDERS = frozenset({"", "nan", "none", "null", "unknown", "-999", "-999.0"})

_CV = ("CV*", "CataclyV*", "CV", "DN*", "DwarfNova", "NL*", "NovaLike", "No*", "Nova")
_AGN = ("AGN", "AG?", "QSO", "Q?", "Seyfert", "SyG", "Sy1", "Sy2", "Seyfert1", "Seyfert2",
        "Seyfert_1", "Seyfert_2", "LINER", "LIN", "Blazar", "Bla", "Bz?", "BLLac", "BLL",
        "BL?", "BLLacertae")
_VS = ("V*", "Variable*", "Pu*", "Pulsating*", "RR*", "RRLyr", "RRLyrae", "Ce*", "Cepheid",
       "cC*", "ClassicalCep", "deltaCep", "Type2Cep", "WV*", "RV*", "RVTauV*", "dS*",
       "delSct", "gD*", "gammaDor", "bC*", "betaCepV*", "SX*", "SXPheV*", "Mi*", "Mira",
       "LP*", "LPV*", "LongPeriodV*", "sr*", "SemiRegV*", "EB*", "EclBin", "EllipVar", "El*",
       "Ro*", "RotV*", "RS*", "RSCVnV*", "BY*", "BYDraV*", "Er*", "Eruptive*", "Fl*",
       "FlareStar", "Ir*", "IrregularV*", "Or*", "OrionV*", "TT*", "TTauri*", "YSO", "Y*O",
       "Ae*", "HerbigAe/Be", "ZZ*", "ZZCet", "Sy*", "Symbiotic*", "XB*", "XRB", "LXB", "HXB",
       "LowMassXBin", "HighMassXBin")
#: SIMBAD object type (short and long names) -> Sherlock-style class.
SIMBAD_CLASSES = {**{t: "VS" for t in _VS}, **{t: "CV" for t in _CV},
                  **{t: "AGN" for t in _AGN}}
#: GCVS / VSX type prefixes of cataclysmic variables (dwarf novae, novae, nova-likes, polars).
_CV_VARIABLE_PREFIXES = ("UG", "N", "CV", "AM", "DQ", "IBWD")


def value_text(value: Any) -> str:
    """A catalogue string, or "" for None/NaN and Fink's placeholders."""
    text = label(value).strip()
    low = text.lower()
    return "" if low in PLACEHOLDERS or low.startswith("fail") else text


def distance_mpc(value: Any) -> float:
    """A positive finite distance in Mpc (numeric strings too), else NaN."""
    x = as_float(value)
    return x if math.isfinite(x) and x > 0 else math.nan


def simbad_class(otype: Any) -> str:
    """The Sherlock-style class of a SIMBAD object type ("" when not a star-like variable,
    CV or AGN). Candidate markers (``Candidate_X``, ``X_Candidate``, ``X?``) are dropped."""
    text = value_text(otype)
    if not text:
        return ""
    if text in SIMBAD_CLASSES:
        return SIMBAD_CLASSES[text]
    for prefix in ("Candidate_", "candidate_"):
        if text.startswith(prefix):
            text = text[len(prefix):]
    for suffix in ("_Candidate", "_candidate", "?"):
        if text.endswith(suffix):
            text = text[: -len(suffix)]
    return SIMBAD_CLASSES.get(text, SIMBAD_CLASSES.get(text + "*", ""))


def variable_class(*types: Any) -> str:
    """``CV`` or ``VS`` for the first real GCVS / VSX type given, "" when none is."""
    for value in types:
        text = value_text(value)
        if text:
            upper = text.upper()
            return "CV" if upper.startswith(_CV_VARIABLE_PREFIXES) else "VS"
    return ""


def _section(packet: Mapping, name: str) -> Mapping:
    """Fink's ``xm`` / ``pred`` block: nested, or flattened to ``xm.field`` / bare columns."""
    block = packet.get(name)
    if isinstance(block, Mapping):
        return block
    prefix = name + "."
    flat = {k[len(prefix):]: v for k, v in packet.items()
            if isinstance(k, str) and k.startswith(prefix)}
    return flat or packet


def _set(ctx: Context, *, tns: str = "", distance: float = math.nan, klass: str = "") -> None:
    if tns and not ctx.tns_name:
        ctx.tns_name = tns
    if not math.isnan(distance) and math.isnan(ctx.distance_mpc):
        ctx.distance_mpc = distance
    if klass and not ctx.catalogue_class:
        ctx.catalogue_class = klass


def _flag(value: Any) -> bool:
    return value is True or (isinstance(value, (int, float)) and not isinstance(value, bool)
                             and value == 1)


def rubin_context(ctx: Context, packet: Mapping, trigger: Mapping) -> Context:
    """Fill ``ctx`` from a Rubin packet's solar-system association and Fink's cross-matches
    (``xm``, ``pred``); returns ``ctx``."""
    ss_source = packet.get("ssSource")
    ss = int_id(trigger.get("ssObjectId"))
    if ss is None and isinstance(ss_source, Mapping):
        ss = int_id(ss_source.get("ssObjectId"))
    pred = _section(packet, "pred")
    if ss is not None:
        ctx.solar_system, ctx.ss_object_id = True, str(ss)
    elif _flag(pred.get("is_sso")):
        ctx.solar_system = True
    xm = _section(packet, "xm")
    klass = simbad_class(xm.get("simbad_otype")) or variable_class(xm.get("gcvs_type"),
                                                                   xm.get("vsx_Type"))
    _set(ctx, tns=value_text(xm.get("tns_fullname")) or value_text(xm.get("tns_type")),
         distance=distance_mpc(xm.get("mangrove_lum_dist")), klass=klass)
    return ctx


def _as_mapping(value: Any) -> Optional[Mapping]:
    """A record, or a map as pyarrow returns it from Parquet (a list of (key, value) pairs)."""
    if isinstance(value, Mapping):
        return value
    if isinstance(value, (list, tuple)) and value and all(
            isinstance(p, (list, tuple)) and len(p) == 2 and isinstance(p[0], str)
            for p in value):
        return dict(value)
    return None


def ztf_context(ctx: Context, packet: Mapping, candidate: Mapping) -> Context:
    """Fill ``ctx`` from a ZTF packet's solar-system match and Fink's cross-matches
    (``roid``, ``tns``, ``mangrove``, ``cdsxmatch``, ``gcvs``, ``vsx``); returns ``ctx``."""
    roid = as_float(packet.get("roid"))
    name = value_text(candidate.get("ssnamenr"))
    dist = as_float(candidate.get("ssdistnr"))
    if name and 0.0 <= dist <= ZTF_KNOWN_SSO_ARCSEC:
        ctx.solar_system, ctx.ss_object_id = True, name
    elif roid == ZTF_ROID_KNOWN:
        ctx.solar_system = True
    mangrove = _as_mapping(packet.get("mangrove"))
    lum = mangrove.get("lum_dist") if mangrove is not None else packet.get("mangrove.lum_dist")
    klass = simbad_class(packet.get("cdsxmatch")) or variable_class(packet.get("gcvs"),
                                                                    packet.get("vsx"))
    _set(ctx, tns=value_text(packet.get("tns")), distance=distance_mpc(lum), klass=klass)
    return ctx
