"""ZTF alert packets (``objectId``, ``candid``, ``candidate``, ``prv_candidates``) as light curves.

Sources: JSON (one packet, a list, or JSON lines), Avro container files (ZTF / fink-client
data-transfer files, optionally gzipped), Parquet (Fink ZTF files, one alert per row; the
cutout columns are not read). Schemas 3.x and the Fink-enriched packets share these fields.

Mapping (times MJD UTC = jd - 2400000.5, AB mags, fluxes nJy):

* Detections: ``candidate`` and the ``prv_candidates`` entries with a ``candid`` and a
  ``magpsf``, deduplicated on ``candid``. ``isdiffpos`` 'f'/'0' (the source is fainter than in
  the reference) gives a negative flux and, following ATLAS, a negative magnitude
  mag = -magpsf; 't'/'1' (or absent) a positive one. flux = +-10^(-0.4 (magpsf - 31.4)),
  fluxerr = |flux| sigmapsf / 1.0857, magerr = sigmapsf.
* Non-detections: ``prv_candidates`` entries without ``magpsf`` but with ``diffmaglim`` (the
  5-sigma limit): ``is_det`` False, mag = diffmaglim, flux/fluxerr NaN. Entries with neither are
  dropped.
* ``band``: fid 1/2/3 -> g/r/i; any other fid is an input error. Per-point ra/dec (NaN for
  non-detections) and rb = ``drb`` if present, else ``rb``; ZTF has no saturation flag.
* ``object_id`` = ``objectId``, ``alert_id`` = ``candid``, ``alert_mjd`` = the candidate's time.
* Context: ra/dec and ``rb`` (``drb`` else ``rb``) from the candidate; ``Context.extra`` carries the
  candidate metadata the ORACLE BTS model reads (:data:`BTS_METADATA`, ZTF names, raw values),
  for those present. The known-asteroid match (``roid``, ``ssnamenr``/``ssdistnr``) and Fink's
  cross-matches (``tns``, ``mangrove``, ``cdsxmatch``, ``gcvs``, ``vsx``) are mapped by
  :mod:`.crossmatch`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..lightcurve import NJY_ZEROPOINT, SURVEY_BANDS, Context, InputError, LightCurve
from ._fields import (
    as_dict_list,
    as_float,
    check_not_bad,
    column,
    first_occurrence,
    int_id,
    kind,
    shown,
    text_id,
)
from ._files import iter_packet_records
from .crossmatch import ztf_context
from .rubin import MAGERR_FACTOR, MAX_ABS_MJD

SURVEY = "ztf"
#: JD -> MJD.
JD_OFFSET = 2400000.5
#: ZTF filter ids.
FID_BANDS = {1: "g", 2: "r", 3: "i"}
#: ``isdiffpos`` values meaning a negative difference flux.
NEGATIVE_DIFF = frozenset({"f", "0", "false", "n", "no", "-"})
POSITIVE_DIFF = frozenset({"t", "1", "true", "y", "yes", "+", "none", ""})
#: The 22 candidate fields ORACLE's BTS model takes as metadata (ORACLE SPEC section 7).
BTS_METADATA = ("sky", "sgscore1", "sgscore2", "distpsnr1", "distpsnr2", "fwhm", "diffmaglim",
                "ndethist", "nmtchps", "drb", "ncovhist", "chinr", "sharpnr", "scorr", "sgmag1",
                "srmag1", "simag1", "szmag1", "sgmag2", "srmag2", "simag2", "szmag2")


def _bands(fid: np.ndarray, entries: Sequence[Mapping]) -> np.ndarray:
    """fid -> band name for every entry; an unknown fid names the entry that carries it."""
    uniq, inverse = np.unique(fid, return_inverse=True)
    names = []
    for value in uniq:
        band = FID_BANDS.get(int(value)) if np.isfinite(value) and value == int(value) \
            else None
        if band is None or band not in SURVEY_BANDS[SURVEY]:
            index = int(np.flatnonzero((fid == value) | (np.isnan(fid) & np.isnan(value)))[0])
            where = "candidate" if index == 0 else "prv_candidates"
            fid_value = shown(entries[index].get("fid"))
            raise InputError(f"{where}.fid: unknown ZTF filter id {fid_value}")
        names.append(band)
    return np.array(names)[inverse.reshape(-1)]


def _flag_text(value: Any) -> str:
    if isinstance(value, str):
        return value.strip().lower()
    if value is None or isinstance(value, (int, float)):
        return str(value).lower()
    return kind(value)  # a list or a record: reported as an unknown value


def _signs(entries: Sequence[Mapping]) -> np.ndarray:
    """+1 / -1 per entry from ``isdiffpos`` (absent -> +1)."""
    raw = np.array([_flag_text(d.get("isdiffpos")) for d in entries])
    uniq, inverse = np.unique(raw, return_inverse=True)
    signs = []
    for value in uniq:
        if value in NEGATIVE_DIFF:
            signs.append(-1.0)
        elif value in POSITIVE_DIFF:
            signs.append(1.0)
        else:
            raise InputError(f"isdiffpos: unknown value {shown(value)}")
    return np.array(signs)[inverse.reshape(-1)]


def from_packet(packet: Mapping) -> LightCurve:
    """One ZTF alert packet (a dict) as a light curve."""
    if not isinstance(packet, Mapping):
        raise InputError(f"packet: expected a record, got {kind(packet)}")
    candidate = packet.get("candidate")
    if candidate is None:
        raise InputError("candidate: missing")
    if not isinstance(candidate, Mapping):
        raise InputError(f"candidate: expected a record, got {kind(candidate)}")
    object_id = text_id(packet.get("objectId"), "objectId")
    prv = as_dict_list(packet.get("prv_candidates"), "prv_candidates")
    # The candidate first, so a copy of it in prv_candidates (with fewer fields) is the dupe.
    entries = [candidate] + prv
    jd = column(entries, "jd", "prv_candidates")
    if not (np.abs(jd - JD_OFFSET) < MAX_ABS_MJD).all():  # NaN and inf fail it too
        if not math.isfinite(jd[0]):
            raise InputError("candidate.jd: non-finite time")
        if not np.isfinite(jd).all():
            raise InputError("prv_candidates.jd: non-finite time")
        raise InputError("candidate/prv_candidates.jd: time out of range (not a JD)")
    magpsf = column(entries, "magpsf", "prv_candidates")
    if not math.isfinite(magpsf[0]):
        raise InputError("candidate.magpsf: missing or non-finite")
    candid = [d.get("candid") for d in entries]
    is_det = np.isfinite(magpsf) & np.array([c is not None for c in candid])
    is_det &= first_occurrence(candid)
    is_det[0] = True  # the alert's own candidate is a detection even without a candid
    maglim = column(entries, "diffmaglim", "prv_candidates")
    is_lim = ~np.isfinite(magpsf) & np.isfinite(maglim)
    keep = is_det | is_lim
    entries_kept = [d for d, k in zip(entries, keep) if k] if not keep.all() else entries
    fid = column(entries_kept, "fid", "prv_candidates")
    band = _bands(fid, entries_kept)
    jd, magpsf, maglim, is_det = jd[keep], magpsf[keep], maglim[keep], is_det[keep]
    sigmapsf = column(entries_kept, "sigmapsf", "prv_candidates")
    det_idx = np.flatnonzero(is_det)
    sign = np.ones(len(jd))
    if len(det_idx):
        sign[det_idx] = _signs([entries_kept[i] for i in det_idx])
    drb = column(entries_kept, "drb", "prv_candidates")
    rb = np.where(np.isfinite(drb), drb, column(entries_kept, "rb", "prv_candidates"))
    with np.errstate(over="ignore", invalid="ignore"):
        flux = np.where(is_det, sign * 10.0 ** (-0.4 * (magpsf - NJY_ZEROPOINT)), np.nan)
        fluxerr = np.where(is_det, np.abs(flux) * sigmapsf / MAGERR_FACTOR, np.nan)
    mag = np.where(is_det, sign * magpsf, maglim)
    magerr = np.where(is_det, sigmapsf, np.nan)
    ra = np.where(is_det, column(entries_kept, "ra", "prv_candidates"), np.nan)
    dec = np.where(is_det, column(entries_kept, "dec", "prv_candidates"), np.nan)
    rb = np.where(is_det, rb, np.nan)
    if not is_det.any():
        raise InputError(f"{object_id}: empty history (no detection)")
    extra = {}
    for name in BTS_METADATA:
        if name in candidate:
            value = as_float(candidate[name])
            if not math.isnan(value):
                extra[name] = value
    cand_rb = as_float(candidate.get("drb"))
    if math.isnan(cand_rb):
        cand_rb = as_float(candidate.get("rb"))
    context = ztf_context(Context(ra=as_float(candidate.get("ra")),
                                  dec=as_float(candidate.get("dec")), rb=cand_rb, extra=extra),
                          packet, candidate)
    alert = int_id(packet.get("candid")) or int_id(candidate.get("candid"))
    return LightCurve(object_id=object_id, survey=SURVEY, mjd=jd - JD_OFFSET, mag=mag,
                      magerr=magerr, band=band, is_det=is_det, flux=flux, fluxerr=fluxerr,
                      ra=ra, dec=dec, rb=rb, context=context,
                      alert_id=str(alert) if alert else "",
                      alert_mjd=float(jd[0]) - JD_OFFSET)


#: The alert packets of a JSON / Avro / Parquet file, one record per alert.
iter_records = iter_packet_records


def from_record(data: Any) -> LightCurve:
    """One record of :func:`iter_records` as a light curve (InputError names the bad field)."""
    check_not_bad(data)
    return from_packet(data)
