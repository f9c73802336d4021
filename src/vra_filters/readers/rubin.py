"""Rubin/LSST alert packets (and the ELAsTiCC simulations) as light curves.

Sources: JSON (one packet per file, a list, or JSON lines), Avro container files (Rubin /
fink-client data-transfer files, ``.avro`` or ``.avro.gz``), Parquet (Fink files, one packet per
row; a Spark folder of parts also works). Schemas: Rubin alert schema v7-v10 (``diaSource``,
``prvDiaSources``, ``prvDiaForcedSources``, ``diaObject``, ``ssSource``) and ELAsTiCC v0.9
(``midPointTai``, ``filterName``, ``psFlux``, ``decl``, ``prvDiaNondetectionLimits``,
``diaObject.hostgal_*``), handled by field aliases.

One packet = one :class:`~vra_filters.lightcurve.LightCurve` = the object's history as that alert
shows it. The mapping (all fluxes nJy, times MJD TAI, mags AB with m = 31.4 - 2.5 log10 F):

* **Detections** = ``diaSource`` + ``prvDiaSources``, deduplicated on ``diaSourceId``.
  mag = 31.4 - 2.5 log10 F and magerr = 1.0857 sigma_F / F from the diaSource ``psfFlux``.
  A negative difference flux stays a detection with the ATLAS convention
  mag = -(31.4 - 2.5 log10 |F|): the VRA features need a number, and the sign keeps "faded below
  the template" distinguishable from "brightened". A diaSource with no finite flux is dropped.
* **Forced photometry** (``prvDiaForcedSources``), matched to detections on the epoch key
  (``visit``, band) when both sides carry ``visit``, else (time rounded to 1e-5 d, band):

  - at a detection epoch the point is not added again, but its ``flux``/``fluxerr`` become the
    forced values (fixed-position photometry, the input ORACLE expects, ORACLE SPEC section 8)
    while ``mag``/``magerr`` keep the diaSource measurement (what the alert and the brokers
    report). So at such epochs ``flux_to_mag(flux)`` need not equal ``mag``;
  - a forced-only epoch is an upper limit: ``is_det`` False, mag = 31.4 - 2.5 log10(5 sigma_F)
    (the 5-sigma limit), flux/fluxerr kept for ORACLE. This holds even above 5 sigma: a
    detection is what the survey's own pipeline detected (a diaSource), which is also the
    detection flag ORACLE was given (SPEC section 8), so the VRA and ORACLE agree on it;
  - forced points without a finite flux and a positive finite error are dropped.
* **Non-detection limits** (``prvDiaNondetectionLimits``, ELAsTiCC / older Rubin schemas): an
  upper limit mag = 31.4 - 2.5 log10(5 diaNoise), fluxerr = diaNoise, flux NaN, unless the epoch
  already has a detection or forced point.
* Per-point ``rb`` = ``reliability`` (NaN if absent), ``saturated`` = ``pixelFlags_saturatedCenter``,
  ra/dec only for diaSources (NaN otherwise). ``band`` is lower-cased (ELAsTiCC's ``Y`` -> ``y``).
* ``object_id`` = ``diaObjectId`` (taken from the diaSource, which is an exact int64; some Fink
  files store ``diaObject.diaObjectId`` as a double). Solar-system alerts have no diaObject:
  their ``object_id`` is ``"sso_<ssObjectId>"`` (the prefix keeps the two id spaces apart).
  ``alert_id`` = triggering ``diaSourceId`` (else ``alertId``); ``alert_mjd`` = its time.
* Context: ra/dec from ``diaObject`` (else the triggering source), ``rb`` = the triggering
  source's ``reliability``. ELAsTiCC-schema ``diaObject`` host fields go to ``Context.extra`` under
  the SNANA HEAD names ORACLE uses (raw values, sentinels such as -9/999 left as they are) and,
  sentinel-free, to ``ebv``/``z``/``photoz``/``photoz_err``/``host_sep_arcsec``. The solar-system
  association (``ssObjectId``) and Fink's cross-matches (``xm``, ``pred``) are mapped by
  :mod:`.crossmatch`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..lightcurve import NJY_ZEROPOINT, Context, InputError, LightCurve
from ._fields import (
    all_distinct,
    as_dict_list,
    as_float,
    check_not_bad,
    first_key,
    first_occurrence,
    int_id,
    kind,
)
from ._files import iter_packet_records
from ._rubin_columns import (  # noqa: F401 - MAX_ABS_MJD, times, bands: rubin's API
    BAND_CODE,
    FLUX_KEYS,
    MAX_ABS_MJD,
    TIME_KEYS,
    bands,
    detections,
    forced_columns,
    latest_index,
    limit_columns,
    times,
)
from .crossmatch import rubin_context

SURVEY = "lsst"
#: 2.5 / ln(10): sigma_m = this * sigma_F / F.
MAGERR_FACTOR = 2.5 / math.log(10.0)
#: ELAsTiCC missing-value sentinels (ORACLE SPEC section 6.3).
SENTINELS = (-9.0, -99.0, -999.0, -9999.0, 999.0)

#: ``Context.extra`` name (SNANA HEAD, as ORACLE's static input) -> diaObject field aliases.
ELASTICC_STATIC: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("MWEBV", ("mwebv",)),
    ("MWEBV_ERR", ("mwebv_err",)),
    ("REDSHIFT_HELIO", ("z_final",)),
    ("REDSHIFT_HELIO_ERR", ("z_final_err",)),
    # The early ELAsTiCC test schema had only hostgal_z / hostgal_z_err (a photo-z).
    ("HOSTGAL_PHOTOZ", ("hostgal_zphot", "hostgal_z")),
    ("HOSTGAL_PHOTOZ_ERR", ("hostgal_zphot_err", "hostgal_z_err")),
    ("HOSTGAL_SPECZ", ("hostgal_zspec",)),
    ("HOSTGAL_SPECZ_ERR", ("hostgal_zspec_err",)),
    ("HOSTGAL_RA", ("hostgal_ra",)),
    ("HOSTGAL_DEC", ("hostgal_dec",)),
    ("HOSTGAL_SNSEP", ("hostgal_snsep",)),
    ("HOSTGAL_ELLIPTICITY", ("hostgal_ellipticity",)),
) + tuple((f"HOSTGAL_MAG_{b}", (f"hostgal_mag_{b}", f"hostgal_mag_{b.lower()}"))
          for b in ("u", "g", "r", "i", "z", "Y"))
_ELASTICC_KEYS = frozenset(alias for _, aliases in ELASTICC_STATIC for alias in aliases)


# --------------------------------------------------------------------------------------------
# Small helpers: all numeric work on whole columns.

def clean_float(value: Any) -> float:
    """Like :func:`as_float`, but the ELAsTiCC sentinels (-9, 999, ...) also become NaN."""
    x = as_float(value)
    return math.nan if x in SENTINELS else x


def epoch_keys(mjd: np.ndarray, band: np.ndarray, visit: np.ndarray | None) -> np.ndarray:
    """One int64 per point identifying its (epoch, band): by visit id, else by time (1e-5 d)."""
    code = _band_code_array(band)
    base = visit.astype(np.int64) if visit is not None else np.round(mjd * 1e5).astype(np.int64)
    return base * 8 + code


#: Band code by character code, for one-letter band arrays (what the readers make).
_CODE_OF_CHAR = np.full(128, -1, dtype=np.int64)
_CODE_OF_CHAR[[ord(b) for b in BAND_CODE]] = list(BAND_CODE.values())


def _band_code_array(band: np.ndarray) -> np.ndarray:
    if not len(band):
        return np.zeros(0, dtype=np.int64)
    if band.dtype == "<U1":  # one UCS-4 code unit per band: a table lookup, no sorting
        chars = band.view(np.uint32)
        if chars.max() < 128:
            codes = _CODE_OF_CHAR[chars]
            if codes.min() >= 0:
                return codes
    uniq, inverse = np.unique(band, return_inverse=True)
    codes = np.array([BAND_CODE[str(b)] for b in uniq], dtype=np.int64)
    return codes[inverse.reshape(-1)]


def signed_mag(flux: np.ndarray) -> np.ndarray:
    """AB mag of |F| in nJy, negated for negative flux (ATLAS convention); NaN for F = 0/NaN."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return _signed_mag(flux)


def magerr_from_flux(flux: np.ndarray, fluxerr: np.ndarray) -> np.ndarray:
    """sigma_m = 1.0857 sigma_F / |F| (NaN where undefined)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return _magerr(flux, fluxerr)


# The two without their own np.errstate (3 us each), for build_lightcurve's single one.

def _signed_mag(flux: np.ndarray) -> np.ndarray:
    mag = NJY_ZEROPOINT - 2.5 * np.log10(np.abs(flux))
    np.negative(mag, out=mag, where=flux < 0)
    mag[~np.isfinite(mag)] = np.nan
    return mag


def _magerr(flux: np.ndarray, fluxerr: np.ndarray) -> np.ndarray:
    err = MAGERR_FACTOR * np.abs(fluxerr / flux)
    err[~np.isfinite(err)] = np.nan
    return err


def limit_mag(sigma: np.ndarray, nsigma: float = 5.0) -> np.ndarray:
    """The n-sigma limiting AB magnitude of a flux error in nJy."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return NJY_ZEROPOINT - 2.5 * np.log10(nsigma * sigma)


# --------------------------------------------------------------------------------------------
# The mapping.

def build_lightcurve(*, sources: Sequence[Mapping], trigger: Mapping,
                     forced: Sequence[Mapping] = (), limits: Sequence[Mapping] = (),
                     object_id: str, alert_id: str, context: Context,
                     where: str = "diaSource") -> LightCurve:
    """The light curve of one alert from its (already extracted) packet lists.

    ``sources`` are all diaSources of the alert including ``trigger``. ``context`` is filled in
    by the caller except ``rb``, which comes from the trigger. Shared by the Rubin and Lasair
    readers so both apply exactly the same photometric rules.
    """
    sources = list(sources)
    if not sources:
        raise InputError(f"{object_id}: empty history (no diaSource)")
    # --- detections ------------------------------------------------------------------------
    det, ids, d_visit = detections(sources, where)
    keep = np.isfinite(det["flux"])
    if not all_distinct(ids):
        keep &= first_occurrence(ids)
    if not keep.all():
        det = {k: v[keep] for k, v in det.items()}
        if d_visit is not None:
            d_visit = d_visit[keep]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        det["mag"] = _signed_mag(det["flux"])
        det["magerr"] = _magerr(det["flux"], det["fluxerr"])
    det["is_det"] = np.ones(len(det["mjd"]), dtype=bool)
    parts = [det]

    # --- forced photometry -----------------------------------------------------------------
    forced = list(forced)
    if forced:
        f_mjd, f_band, f_flux, f_err, f_visit = forced_columns(forced, "prvDiaForcedSources")
        use_visit = d_visit is not None and f_visit is not None
        ok = np.isfinite(f_flux) & np.isfinite(f_err) & (f_err > 0)
        f_keys = epoch_keys(f_mjd, f_band, f_visit if use_visit else None)
        ok &= _first_of_each(f_keys)
        f_mjd, f_band, f_flux, f_err, f_keys = (a[ok] for a in (f_mjd, f_band, f_flux, f_err,
                                                                 f_keys))
        d_keys = epoch_keys(det["mjd"], det["band"], d_visit if use_visit else None)
        det_index, matched = _match(d_keys, f_keys)
        # Forced flux at detection epochs: homogeneous fixed-position photometry for ORACLE.
        det["flux"][det_index] = f_flux[matched]
        det["fluxerr"][det_index] = f_err[matched]
        only = ~matched
        if only.any():
            flux, err = f_flux[only], f_err[only]
            n = int(only.sum())
            is_det = np.zeros(n, dtype=bool)
            mag = limit_mag(err)
            magerr = np.full(n, np.nan)
            parts.append({"mjd": f_mjd[only], "band": f_band[only], "flux": flux,
                          "fluxerr": err, "mag": mag, "magerr": magerr, "is_det": is_det,
                          "ra": np.full(n, np.nan), "dec": np.full(n, np.nan),
                          "rb": np.full(n, np.nan), "saturated": np.zeros(n, dtype=bool)})

    # --- non-detection limits (ELAsTiCC, older Rubin schemas) -------------------------------
    limits = list(limits)
    if limits:
        l_mjd, l_band, noise = limit_columns(limits, "prvDiaNondetectionLimits")
        l_keys = epoch_keys(l_mjd, l_band, None)
        taken = epoch_keys(np.concatenate([p["mjd"] for p in parts]),
                           np.concatenate([p["band"] for p in parts]), None)
        ok = np.isfinite(noise) & (noise > 0) & ~np.isin(l_keys, taken)
        ok &= _first_of_each(l_keys)
        n = int(ok.sum())
        if n:
            parts.append({"mjd": l_mjd[ok], "band": l_band[ok], "flux": np.full(n, np.nan),
                          "fluxerr": noise[ok], "mag": limit_mag(noise[ok]),
                          "magerr": np.full(n, np.nan), "is_det": np.zeros(n, dtype=bool),
                          "ra": np.full(n, np.nan), "dec": np.full(n, np.nan),
                          "rb": np.full(n, np.nan), "saturated": np.zeros(n, dtype=bool)})

    points = parts[0] if len(parts) == 1 else {k: np.concatenate([p[k] for p in parts])
                                               for k in parts[0]}
    if not len(points["mjd"]):
        raise InputError(f"{object_id}: empty history (no usable point)")
    if not points["is_det"].any():
        raise InputError(f"{object_id}: empty history (no detection with a finite psfFlux)")
    context.rb = as_float(trigger.get("reliability"))
    # The trigger is one of ``sources``, whose times were validated above.
    alert_mjd = as_float(trigger.get(first_key([trigger], TIME_KEYS) or TIME_KEYS[0]))
    return LightCurve(object_id=object_id, survey=SURVEY, context=context, alert_id=alert_id,
                      alert_mjd=alert_mjd, **points)


def _first_of_each(keys: np.ndarray) -> np.ndarray:
    """Mask keeping the first point of each distinct int64 epoch key (vectorised)."""
    keep = np.zeros(len(keys), dtype=bool)
    if len(keys):
        keep[np.unique(keys, return_index=True)[1]] = True
    return keep


def _match(d_keys: np.ndarray, f_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each forced key, whether a detection has it, and those detections' indices."""
    if not len(d_keys) or not len(f_keys):
        return np.zeros(0, dtype=np.int64), np.zeros(len(f_keys), dtype=bool)
    order = np.argsort(d_keys, kind="stable")
    sorted_keys = d_keys[order]
    pos = np.clip(np.searchsorted(sorted_keys, f_keys), 0, len(sorted_keys) - 1)
    matched = sorted_keys[pos] == f_keys
    return order[pos[matched]], matched


def object_context(dia_object: Mapping | None, trigger: Mapping) -> Context:
    """Context from a ``diaObject`` (position; ELAsTiCC host fields), falling back to the
    triggering source's position when the object is absent (solar-system alerts)."""
    obj = dia_object or {}
    ra = as_float(obj.get("ra"))
    dec = as_float(obj.get("dec", obj.get("decl")))
    if not (math.isfinite(ra) and math.isfinite(dec)):
        ra = as_float(trigger.get("ra"))
        dec = as_float(trigger.get("dec", trigger.get("decl")))
    extra: dict[str, float] = {}
    for name, aliases in ELASTICC_STATIC if not obj.keys().isdisjoint(_ELASTICC_KEYS) else ():
        for alias in aliases:
            if alias in obj:
                value = obj[alias]
                if type(value) is not float:  # as_float would return a float as it is
                    value = as_float(value)
                if not math.isnan(value):
                    extra[name] = value
                break
    if not extra:  # no host fields: the defaults (NaN) are what the conversions would give
        return Context(ra=ra, dec=dec, extra=extra)
    return Context(
        ra=ra, dec=dec,
        ebv=clean_float(extra.get("MWEBV")),
        z=_redshift(extra.get("HOSTGAL_SPECZ")),
        photoz=_redshift(extra.get("HOSTGAL_PHOTOZ")),
        photoz_err=clean_float(extra.get("HOSTGAL_PHOTOZ_ERR")),
        host_sep_arcsec=clean_float(extra.get("HOSTGAL_SNSEP")),
        extra=extra,
    )


def _redshift(value: Any) -> float:
    z = clean_float(value)
    return z if z >= 0 else math.nan


def object_id_of(trigger: Mapping, dia_object: Mapping | None = None,
                 ss_source: Mapping | None = None) -> str:
    """The object id of an alert: the triggering diaSource's ``diaObjectId`` (else the
    diaObject's), else ``"sso_<ssObjectId>"`` for a solar-system alert; InputError if none is
    a positive 64-bit integer. ``dia_object``/``ss_source`` may be None or junk (ignored)."""
    ident = int_id(trigger.get("diaObjectId"))
    if ident is None and isinstance(dia_object, Mapping):
        ident = int_id(dia_object.get("diaObjectId"))
    if ident is not None:
        return str(ident)
    ss = int_id(trigger.get("ssObjectId"))
    if ss is None and isinstance(ss_source, Mapping):
        ss = int_id(ss_source.get("ssObjectId"))
    if ss is not None:
        return f"sso_{ss}"
    raise InputError("diaSource.diaObjectId: missing or not a positive integer "
                     "(and no ssObjectId)")


def trigger_of(sources: Sequence[Mapping], where: str) -> Mapping:
    """The triggering source of a list-only packet: the latest one (last on ties)."""
    i = latest_index(sources)
    if i is not None:
        return sources[i]
    mjd = times(sources, where)
    return sources[int(len(mjd) - 1 - np.argmax(mjd[::-1]))]


def from_packet(packet: Mapping) -> LightCurve:
    """One Rubin / Fink / ELAsTiCC alert packet (a dict) as a light curve."""
    if not isinstance(packet, Mapping):
        raise InputError(f"packet: expected a record, got {kind(packet)}")
    if "diaSourcesList" in packet:  # a bare Lasair ``alert`` packet
        sources = as_dict_list(packet["diaSourcesList"], "diaSourcesList")
        if not sources:
            raise InputError("diaSourcesList: empty history (no diaSource)")
        trigger = trigger_of(sources, "diaSourcesList")
        forced = as_dict_list(packet.get("diaForcedSourcesList"), "diaForcedSourcesList")
        limits = as_dict_list(packet.get("diaNondetectionLimitsList"),
                              "diaNondetectionLimitsList")
        where = "diaSourcesList"
    else:
        trigger = packet.get("diaSource")
        if trigger is None:
            if any(k in packet for k in TIME_KEYS) and any(k in packet for k in FLUX_KEYS):
                trigger = packet  # Fink flattened the triggering source to the top level
            else:
                raise InputError("diaSource: missing")
        if not isinstance(trigger, Mapping):
            raise InputError("diaSource: not a record")
        sources = as_dict_list(packet.get("prvDiaSources"), "prvDiaSources") + [trigger]
        forced = as_dict_list(packet.get("prvDiaForcedSources"), "prvDiaForcedSources")
        limits = as_dict_list(packet.get("prvDiaNondetectionLimits"), "prvDiaNondetectionLimits")
        where = "diaSource/prvDiaSources"
    dia_object = packet.get("diaObject")
    if dia_object is not None and not isinstance(dia_object, Mapping):
        raise InputError("diaObject: not a record")
    object_id = object_id_of(trigger, dia_object, packet.get("ssSource"))
    alert = int_id(trigger.get("diaSourceId")) or int_id(packet.get("alertId")) \
        or int_id(packet.get("diaSourceId"))
    return build_lightcurve(sources=sources, trigger=trigger, forced=forced, limits=limits,
                            object_id=object_id, alert_id=str(alert) if alert else "",
                            context=rubin_context(object_context(dia_object, trigger), packet,
                                                  trigger), where=where)


# --------------------------------------------------------------------------------------------
# Reader contract.

#: The alert packets of a JSON / Avro / Parquet file, one record per alert.
iter_records = iter_packet_records


def from_record(data: Any) -> LightCurve:
    """One record of :func:`iter_records` as a light curve (InputError names the bad field)."""
    check_not_bad(data)
    return from_packet(data)
