"""An ANTARES locus as the core's :class:`LightCurve`, read straight from ``locus.alerts``.

The devkit's ``locus.lightcurve()`` / ``locus.timeseries()`` build astropy tables (60-115 ms a
call, more on big loci); this reads the few alert properties the VRA and ORACLE need into
plain records and hands them to the core's own Rubin / ZTF mapping (``readers.rubin``,
``readers.ztf``), so a locus gives exactly the light curve the core readers give for the same
alerts. Only the alerts of the triggering alert's survey are used (a locus can mix surveys).

* **LSST** (``ant_survey`` 4): one diaSource per alert, from the ``lsst_diaSource_*``
  properties (``midpointMjdTai`` MJD TAI, ``psfFlux``/``psfFluxErr`` nJy, ``band``, ``visit``,
  ``reliability``, ``pixelFlags_saturatedCenter``, ids). ANTARES may report a negative flux as
  a positive value flagged ``isNegative``: such a flux is made negative again (a no-op on
  Rubin's own signed values). Forced photometry, when the triggering alert carries it in
  ``non_persistent_properties["lsst_fp_hists"]`` (a list of diaForcedSource records, bare or
  ``lsst_diaForcedSource_``-prefixed names, or a dict of columns), becomes the packet's
  ``prvDiaForcedSources``: forced-only epochs are upper limits. With any other shape, or with
  values the core cannot read, the forced photometry is left out.
  Context: position from ``lsst_diaObject_ra/dec`` (else the source), ``rb`` = the trigger's
  reliability. ``object_id`` = diaObjectId (``sso_<ssObjectId>`` for solar-system sources).
* **ZTF** (``ant_survey`` 1 = candidate, 2 = upper limit): the ``ztf_*`` candidate fields
  (``ztf_`` + the avro name), falling back to ``ant_*`` where a field is absent; upper-limit
  alerts are non-detections at ``ztf_diffmaglim``. The triggering alert is the packet's
  ``candidate`` (with the ORACLE BTS metadata), the others its ``prv_candidates``. A locus whose
  triggering alert is an upper limit has no new detection to score. ``object_id`` =
  ``ztf_object_id`` (else the locus's, else the locus id).
* **Catalogue context** (:func:`catalog_context`): a ``tns_public_objects`` match makes the
  object a known transient (rank 10 under the default policy); the nearest ``sdss_gals`` galaxy
  with a redshift gives the host separation and its redshift (spectroscopic when it has a
  ``specObjID``, else photometric with ``zErr``), and a spectroscopic redshift the distance
  (Hubble law, H0 = 70 km/s/Mpc: it only decides the fast track, < 100 Mpc, where the law holds).

Every problem with the data raises :class:`InputError` with a message naming it; the filter
turns that into a ``Skipped`` status with that reason.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from ._core import Context, InputError, LightCurve, as_float, rubin, ztf

#: ``ant_survey`` codes (antares_devkit.models.SURVEYS) -> survey, and the codes of each survey.
SURVEY_OF_CODE = {1: "ztf", 2: "ztf", 4: "lsst"}
CODES = {"ztf": (1, 2), "lsst": (4,)}
UNSUPPORTED = {3: "decat"}
ZTF_UPPER_LIMIT = 2

LSST_SOURCE_PREFIX = "lsst_diaSource_"
LSST_FORCED_PREFIX = "lsst_diaForcedSource_"
#: diaSource columns the core's Rubin mapping reads.
LSST_SOURCE_FIELDS = ("diaSourceId", "diaObjectId", "ssObjectId", "midpointMjdTai", "band",
                      "psfFlux", "psfFluxErr", "ra", "dec", "reliability",
                      "pixelFlags_saturatedCenter", "visit")
_LSST_KEYS = tuple(LSST_SOURCE_PREFIX + name for name in LSST_SOURCE_FIELDS)
_MJD, _BAND, _FLUX = (LSST_SOURCE_FIELDS.index(k) for k in ("midpointMjdTai", "band", "psfFlux"))
LSST_NEGATIVE = LSST_SOURCE_PREFIX + "isNegative"
#: ANTARES passband -> ZTF filter id (ANTARES writes ZTF r as capital R).
ZTF_FID = {"g": 1, "r": 2, "R": 2, "i": 3}
#: ZTF candidate fields read from ``ztf_<field>`` (upper limits: the first three), and the
#: ANTARES property used when that is absent.
ZTF_FIELDS = ("jd", "fid", "diffmaglim", "magpsf", "sigmapsf", "candid", "isdiffpos", "ra",
              "dec", "drb", "rb")
ZTF_FALLBACK = {"diffmaglim": "ant_maglim", "magpsf": "ant_mag", "sigmapsf": "ant_magerr",
                "ra": "ant_ra", "dec": "ant_dec"}
_ZTF_KEYS = tuple("ztf_" + name for name in ZTF_FIELDS)
_ZTF_LIMIT_KEYS = _ZTF_KEYS[:3]
_ZTF_WITH_FALLBACK = tuple(i for i, name in enumerate(ZTF_FIELDS)
                           if name in ZTF_FALLBACK or name in ("jd", "fid", "candid"))

C_KM_S = 299792.458
H0_KM_S_MPC = 70.0
#: sdss_gals marks a missing redshift with a large negative number.
SDSS_MISSING_Z = -9000.0


def alert_survey(alert: Any) -> str:
    """The survey of an alert from its ``ant_survey`` code (InputError if unknown)."""
    props = alert.properties
    if "ant_survey" not in props:
        raise InputError(f"alert {alert.id}: missing property 'ant_survey'")
    code = props["ant_survey"]
    number = _code_number(code)
    survey = SURVEY_OF_CODE.get(number)
    if survey is None:
        known = UNSUPPORTED.get(number)
        what = f"survey {known!r}" if known else f"unknown survey code {code!r}"
        raise InputError(f"alert {alert.id}: ant_survey={code!r} ({what}); only LSST and ZTF "
                         "are supported")
    return survey


def _code_number(code: Any) -> int | None:
    """An integral ``ant_survey`` value as int (JSON may give 4.0), else None."""
    if isinstance(code, bool) or not isinstance(code, (int, float)):
        return None
    return int(code) if float(code).is_integer() else None


def locus_lightcurve(locus: Any) -> LightCurve:
    """The light curve of the locus's triggering alert (its newest), from that survey's alerts."""
    alerts = locus.alerts
    if not alerts:
        raise InputError(f"locus {locus.id}: no alerts")
    trigger = alerts[-1]
    survey = alert_survey(trigger)
    codes = CODES[survey]
    same = [a for a in alerts if a.properties.get("ant_survey") in codes]
    if survey == "lsst":
        lc = _lsst_lightcurve(same, trigger)
    else:
        lc = _ztf_lightcurve(locus, same, trigger)
    catalog_context(lc.context, locus.catalog_objects, locus.ra, locus.dec)
    return lc


# --------------------------------------------------------------------------------------------
# LSST

def lsst_source(alert: Any) -> dict:
    """The diaSource record of one LSST alert (Rubin column names, signed flux)."""
    props = alert.properties
    values = list(map(props.get, _LSST_KEYS))  # one C-level pass: this runs for every alert
    if values[_MJD] is None:
        values[_MJD] = alert.mjd
    if values[_BAND] is None:
        values[_BAND] = props.get("ant_passband")
    flux = values[_FLUX]
    if props.get(LSST_NEGATIVE) is True and isinstance(flux, (int, float)) and flux > 0:
        values[_FLUX] = -flux
    return dict(zip(LSST_SOURCE_FIELDS, values))


def lsst_forced(alert: Any) -> list:
    """The triggering alert's forced photometry (``lsst_fp_hists``) as diaForcedSource records,
    or ``[]`` when it has none or its shape is not one we know."""
    extra = getattr(alert, "non_persistent_properties", None) or {}
    hist = extra.get("lsst_fp_hists") if isinstance(extra, Mapping) else None
    if isinstance(hist, Mapping):  # a dict of columns
        columns = {k: v for k, v in hist.items() if isinstance(v, (list, tuple))}
        lengths = {len(v) for v in columns.values()}
        if len(lengths) != 1:
            return []
        n = lengths.pop()
        hist = [{k: v[i] for k, v in columns.items()} for i in range(n)]
    if not isinstance(hist, (list, tuple)) or not hist:
        return []
    records = [r for r in hist if isinstance(r, Mapping)]
    if len(records) != len(hist):
        return []
    head = records[0]
    if "psfFlux" in head:
        return records
    if LSST_FORCED_PREFIX + "psfFlux" in head:
        n = len(LSST_FORCED_PREFIX)
        return [{k[n:] if k.startswith(LSST_FORCED_PREFIX) else k: v for k, v in r.items()}
                for r in records]
    return []


def _lsst_lightcurve(alerts: Sequence[Any], trigger: Any) -> LightCurve:
    sources = [lsst_source(a) for a in alerts]
    trig = sources[-1]
    props = trigger.properties
    dia_object = {"diaObjectId": props.get("lsst_diaObject_diaObjectId"),
                  "ra": props.get("lsst_diaObject_ra"), "dec": props.get("lsst_diaObject_dec")}
    object_id = rubin.object_id_of(trig, dia_object)
    forced = lsst_forced(trigger)

    def build(forced: list) -> LightCurve:
        return rubin.build_lightcurve(sources=sources, trigger=trig, forced=forced,
                                      object_id=object_id, alert_id=str(trigger.id),
                                      context=rubin.object_context(dia_object, trig),
                                      where="lsst_diaSource")
    try:
        return build(forced)
    except InputError as exc:
        # The shape of lsst_fp_hists on ANTARES is not published: unreadable forced
        # photometry costs the upper limits, not the alert.
        if forced and str(exc).startswith("prvDiaForcedSources"):
            return build([])
        raise


# --------------------------------------------------------------------------------------------
# ZTF

def ztf_entry(alert: Any, metadata: bool = False) -> dict:
    """One ZTF alert as a ``candidate`` / ``prv_candidates`` entry (ZTF avro names).

    ``metadata`` adds the candidate fields the ORACLE BTS model reads (triggering alert only).
    """
    props = alert.properties
    keys = _ZTF_LIMIT_KEYS if props.get("ant_survey") == ZTF_UPPER_LIMIT else _ZTF_KEYS
    values = list(map(props.get, keys))  # one C-level pass: this runs for every alert
    if None in values:
        for i in _ZTF_WITH_FALLBACK:
            if i < len(values) and values[i] is None:
                values[i] = _ztf_fallback(ZTF_FIELDS[i], alert)
    entry = dict(zip(ZTF_FIELDS, values))
    if metadata:
        for name in ztf.BTS_METADATA:
            value = props.get("ztf_" + name)
            if value is not None:
                entry[name] = value
    return entry


def _ztf_fallback(name: str, alert: Any) -> Any:
    """An absent ``ztf_<name>`` from the ANTARES properties or the alert itself."""
    props = alert.properties
    if name == "jd":
        return alert.mjd + ztf.JD_OFFSET
    if name == "fid":
        return ZTF_FID.get(props.get("ant_passband"))
    if name == "candid":
        return _candid(alert.id)
    fallback = ZTF_FALLBACK.get(name)
    return props.get(fallback) if fallback else None


def _candid(alert_id: str) -> int | None:
    """The candid of a ``ztf_candidate:<candid>`` alert id."""
    head, _, tail = str(alert_id).partition(":")
    return int(tail) if head == "ztf_candidate" and tail.isdigit() else None


def _ztf_lightcurve(locus: Any, alerts: Sequence[Any], trigger: Any) -> LightCurve:
    if trigger.properties.get("ant_survey") == ZTF_UPPER_LIMIT:
        raise InputError(f"alert {trigger.id}: the triggering alert is a ZTF upper limit "
                         "(no new detection to score)")
    candidate = ztf_entry(trigger, metadata=True)
    packet = {"objectId": _ztf_object_id(locus, trigger), "candid": candidate.get("candid"),
              "candidate": candidate, "prv_candidates": [ztf_entry(a) for a in alerts[:-1]]}
    lc = ztf.from_packet(packet)
    lc.alert_id = str(trigger.id)
    return lc


def _ztf_object_id(locus: Any, trigger: Any) -> str:
    for value in (trigger.properties.get("ztf_object_id"), locus.properties.get("ztf_object_id")):
        if isinstance(value, str) and value:
            return value
    return str(locus.id)


# --------------------------------------------------------------------------------------------
# Catalogue context

def catalog_context(context: Context, catalogs: Mapping | None, ra: float, dec: float) -> None:
    """Fill the context the catalogue matches give (only fields the alerts left unknown)."""
    if not catalogs:
        return
    tns = catalogs.get("tns_public_objects")
    if tns and not context.tns_name:
        row = tns[0] if isinstance(tns[0], Mapping) else {}
        name = next((row[k] for k in ("name", "objname", "tns_name") if row.get(k)), "")
        context.tns_name = str(name) or "tns_public_objects match"
    host = _nearest_sdss_galaxy(catalogs.get("sdss_gals") or (), ra, dec)
    if host is None:
        return
    z, z_err, spectroscopic, sep = host
    if math.isnan(context.host_sep_arcsec):
        context.host_sep_arcsec = sep
    if spectroscopic:
        if math.isnan(context.z):
            context.z = z
        if math.isnan(context.distance_mpc) and z > 0:
            context.distance_mpc = C_KM_S * z / H0_KM_S_MPC
    elif math.isnan(context.photoz):
        context.photoz = z
        context.photoz_err = z_err


def _nearest_sdss_galaxy(rows: Sequence, ra: float, dec: float):
    """(z, z_err, spectroscopic?, separation arcsec) of the nearest row with a redshift."""
    best = None
    for row in rows:
        if not isinstance(row, Mapping):
            continue
        z = as_float(row.get("z"))
        if not (math.isfinite(z) and z > SDSS_MISSING_Z):
            continue
        sep = angular_sep_arcsec(ra, dec, as_float(row.get("ra")),
                                 as_float(row.get("dec_", row.get("dec"))))
        if best is None or sep < best[3]:
            spec = as_float(row.get("specObjID"))
            best = (z, as_float(row.get("zErr")), math.isfinite(spec) and spec != 0, sep)
    return best


def angular_sep_arcsec(ra1: float, dec1: float, ra2: float, dec2: float) -> float:
    """Great-circle separation in arcsec (haversine; NaN if a coordinate is unknown)."""
    if not all(math.isfinite(x) for x in (ra1, dec1, ra2, dec2)):
        return math.nan
    p1, p2 = math.radians(dec1), math.radians(dec2)
    dra = math.radians(ra2 - ra1)
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dra / 2) ** 2
    return math.degrees(2 * math.asin(min(1.0, math.sqrt(h)))) * 3600.0
