"""Fink's cross-match columns as the core's :class:`vra_filters.Context` fields.

The packets the adapter builds carry Fink's cross-matches where the core's readers look for
them (Rubin ``xm`` / ``pred`` records, ZTF top-level ``tns``, ``mangrove``, ``cdsxmatch``,
``roid``, ``gcvs``, ``vsx``), so a reader that maps them (``vra_filters.readers.crossmatch``,
issue #12: TNS, Mangrove distance, catalogue class, solar-system flag, and the policies' rules)
does so exactly as when it reads a Fink file itself. :func:`apply` then fills, from the same
values, only the fields the reader left empty -- the mapping for a core whose readers do not
read Fink's cross-matches:

* TNS -> ``tns_name`` (the rank-10 rule). Rubin ``xm.tns_fullname``; ZTF ``tns``, which holds
  the *type* of the matched classified TNS object (Fink ZTF has no TNS name), e.g. ``SN Ia``.
* Mangrove host -> ``distance_mpc`` (the fast track): Rubin ``xm.mangrove_lum_dist``, ZTF
  ``mangrove.lum_dist`` (luminosity distance, Mpc; text in Fink ZTF).
* SIMBAD class -> ``catalogue_class``: cataclysmic variables -> ``CV`` (the class a VRA feature
  reads), AGN/QSO/blazars -> ``AGN``; other types are left empty.
* Known solar-system object -> the output field ``known_sso`` (Rubin ``pred.is_sso`` or a
  positive ``diaSource.ssObjectId``; ZTF ``roid == 3``), also when the core's Context has no
  field for it.

Fink's placeholders (``None``, ``nan``, ``Unknown``, ``Fail 503``) are no value. Not mapped:
Legacy Survey photo-z (the nearest source's, often the transient itself or a star) and host
separation (Fink's Mangrove columns give none).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Dict

#: Fink's "no value" strings.
PLACEHOLDERS = frozenset({"", "nan", "none", "null", "unknown"})

#: SIMBAD object types (long and short names) -> the core's catalogue class.
SIMBAD_CLASSES: Dict[str, str] = {
    **{t: "CV" for t in ("CataclyV*", "CV*", "CV?", "CV*_Candidate", "DwarfNova", "DN*",
                          "Nova", "No*", "NovaLike", "NL*")},
    **{t: "AGN" for t in ("AGN", "AG?", "AGN_Candidate", "QSO", "Q?", "QSO_Candidate",
                          "Seyfert", "Seyfert_1", "Sy1", "Seyfert_2", "Sy2", "LINER", "LIN",
                          "Blazar", "Bla", "Bz?", "Blazar_Candidate", "BLLac", "BLL", "BL?",
                          "BLLac_Candidate")},
}

#: Fink ZTF ``roid`` value for an alert matched to a known solar-system object.
ZTF_ROID_KNOWN_SSO = 3


def label(value: Any) -> str:
    """A catalogue string, or "" for None/NaN and Fink's placeholders (``Fail 503`` too)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    text = str(value).strip()
    low = text.lower()
    if low in PLACEHOLDERS or low.startswith("fail"):
        return ""
    return text


def distance(value: Any) -> float:
    """A positive finite distance in Mpc (strings too), else NaN."""
    if value is None or isinstance(value, bool):
        return math.nan
    try:
        x = float(value)
    except (TypeError, ValueError, OverflowError):
        return math.nan
    return x if math.isfinite(x) and x > 0 else math.nan


def catalogue_class(otype: Any) -> str:
    """The core's catalogue class for a SIMBAD object type ("" when not translated)."""
    return SIMBAD_CLASSES.get(label(otype), "")


def _record(value: Any) -> Mapping:
    """A record; a map column read by pyarrow (a list of key/value pairs) too."""
    if isinstance(value, Mapping):
        return value
    if isinstance(value, (list, tuple)):
        try:
            return dict(value)
        except (TypeError, ValueError):
            return {}
    return {}


def _positive(value: Any) -> bool:
    try:
        return value is not None and not isinstance(value, bool) and int(value) > 0
    except (TypeError, ValueError, OverflowError):
        return False


def rubin(packet: Mapping) -> Dict[str, Any]:
    """The cross-match fields of a Rubin packet (``xm``, ``pred`` records)."""
    xm, pred = _record(packet.get("xm")), _record(packet.get("pred"))
    sso = pred.get("is_sso")
    return {"tns_name": label(xm.get("tns_fullname")),
            "distance_mpc": distance(xm.get("mangrove_lum_dist")),
            "catalogue_class": catalogue_class(xm.get("simbad_otype")),
            "known_sso": (sso is True or sso == 1)
            or _positive(_record(packet.get("diaSource")).get("ssObjectId"))}


def ztf(packet: Mapping) -> Dict[str, Any]:
    """The cross-match fields of a ZTF packet (``tns``, ``mangrove``, ``cdsxmatch``, ``roid``)."""
    try:
        roid = packet.get("roid")
        known = roid is not None and int(roid) == ZTF_ROID_KNOWN_SSO
    except (TypeError, ValueError, OverflowError):
        known = False
    return {"tns_name": label(packet.get("tns")),
            "distance_mpc": distance(_record(packet.get("mangrove")).get("lum_dist")),
            "catalogue_class": catalogue_class(packet.get("cdsxmatch")), "known_sso": known}


def apply(lc: Any, fields: Dict[str, Any]) -> Any:
    """``lc`` with the context fields the reader left empty filled from ``fields`` (in place:
    the light curve is the adapter's own, just built by the reader)."""
    ctx = lc.context
    if fields["tns_name"] and not ctx.tns_name:
        ctx.tns_name = fields["tns_name"]
    if not math.isnan(fields["distance_mpc"]) and math.isnan(ctx.distance_mpc):
        ctx.distance_mpc = fields["distance_mpc"]
    if fields["catalogue_class"] and not ctx.catalogue_class:
        ctx.catalogue_class = fields["catalogue_class"]
    return lc


def known_sso(lc: Any, fields: Dict[str, Any]) -> bool:
    """Whether the alert is a known solar-system object (the core's flag, where it has one)."""
    return bool(getattr(lc.context, "solar_system", False) or fields["known_sso"])
