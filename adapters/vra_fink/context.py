"""Fink's cross-match columns as the core's :class:`vra_filters.Context` fields.

What is mapped (each value taken only when it is a real value, not Fink's placeholders
``None``/``nan``/``Unknown``/``Fail ...``):

* TNS -> ``tns_name`` (the rank-10 rule). Rubin: ``xm.tns_fullname`` (the TNS name). ZTF: the
  ``tns`` column, which holds the *type* of the matched classified TNS object (Fink ZTF has no
  TNS name column), so ``tns_name`` is that type, e.g. ``"SN Ia"``.
* Mangrove host galaxy -> ``distance_mpc`` (the fast track): Rubin ``xm.mangrove_lum_dist``,
  ZTF ``mangrove.lum_dist`` (luminosity distance, Mpc; Fink ZTF stores it as a string).
* SIMBAD class -> ``catalogue_class``: Rubin ``xm.simbad_otype``, ZTF ``cdsxmatch``. Only
  cataclysmic variables (``CV``: the one class the VRA features read) and AGN/QSO/blazars
  (``AGN``) are translated to the Sherlock-style labels the core uses; anything else is left
  empty.
* Known solar-system object -> ``known_sso`` (an output field only: the core's
  :class:`~vra_filters.Context` has no field for it yet, so no VRA rule uses it). Rubin: Fink's
  ``pred.is_sso`` or a positive ``diaSource.ssObjectId``; ZTF: ``roid == 3`` (Fink's "known
  solar-system object").

Not mapped: Legacy Survey photo-z (``legacydr8_zphot`` is the nearest source's, often the
transient or a star, not its host) and host separation (Fink's Mangrove columns give none).
"""

from __future__ import annotations

import math
from typing import Any, Dict, Optional

#: Fink's "no value" strings.
PLACEHOLDERS = frozenset({"", "nan", "none", "null", "unknown", "fail"})

#: SIMBAD object types (long and short names) -> the core's catalogue class.
SIMBAD_CLASSES: Dict[str, str] = {
    **{t: "CV" for t in ("CataclyV*", "CV*", "CV?", "CV*_Candidate", "DwarfNova", "DN*",
                          "Nova", "No*", "NovaLike", "NL*")},
    **{t: "AGN" for t in ("AGN", "AG?", "AGN_Candidate", "QSO", "Q?", "QSO_Candidate",
                          "Seyfert", "Sy*", "Seyfert_1", "Sy1", "Seyfert_2", "Sy2", "LINER",
                          "LIN", "Blazar", "Bla", "Bz?", "Blazar_Candidate", "BLLac", "BLL",
                          "BL?", "BLLac_Candidate")},
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


def _flag(value: Any) -> bool:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    return bool(value)


def _positive_id(value: Any) -> bool:
    try:
        return value is not None and not isinstance(value, bool) and int(value) > 0
    except (TypeError, ValueError, OverflowError):
        return False


def rubin(tns_fullname: Any = None, mangrove_lum_dist: Any = None, simbad_otype: Any = None,
          is_sso: Any = None, ss_object_id: Any = None) -> Dict[str, Any]:
    """Context fields (and ``known_sso``) of one Rubin alert from Fink's columns."""
    return {"tns_name": label(tns_fullname), "distance_mpc": distance(mangrove_lum_dist),
            "catalogue_class": catalogue_class(simbad_otype),
            "known_sso": _flag(is_sso) or _positive_id(ss_object_id)}


def ztf(tns: Any = None, lum_dist: Any = None, cdsxmatch: Any = None,
        roid: Optional[Any] = None) -> Dict[str, Any]:
    """Context fields (and ``known_sso``) of one ZTF alert from Fink's columns."""
    try:
        known = roid is not None and int(roid) == ZTF_ROID_KNOWN_SSO
    except (TypeError, ValueError, OverflowError):
        known = False
    return {"tns_name": label(tns), "distance_mpc": distance(lum_dist),
            "catalogue_class": catalogue_class(cdsxmatch), "known_sso": known}


def apply(lc: Any, fields: Dict[str, Any]) -> Any:
    """``lc`` with the cross-match context set (in place: the light curve is the adapter's
    own, just built by the reader). Values the reader already set are kept when Fink has
    none."""
    ctx = lc.context
    if fields["tns_name"]:
        ctx.tns_name = fields["tns_name"]
    if not math.isnan(fields["distance_mpc"]):
        ctx.distance_mpc = fields["distance_mpc"]
    if fields["catalogue_class"]:
        ctx.catalogue_class = fields["catalogue_class"]
    return lc
