"""ATLAS transient-server JSON (one object per file, or a list of objects).

Fields read (everything else is ignored, as the ATLAS VRA does):

* ``object``: ``id``, ``followup_flag_date`` (phase zero: midnight UTC of that date), ``ra``,
  ``dec``, ``rb_pix`` (CNN real/bogus score), ``sherlockClassification``, ``other_designation``;
* ``lc`` — every row is a detection (``mjd``, ``mag``, ``magerr``, ``ra``, ``dec``,
  ``filter``); negative magnitudes mark negative-flux difference detections and are kept;
* ``lcnondets`` — non-detections (``mjd``, ``mag5sig`` = 5-sigma limit, ``filter``);
* ``sherlock_crossmatches[0]``: ``z``, ``photoz``, ``photozerr``, ``separationarcsec``,
  ``distance`` (Mpc, else ``direct_distance``);
* ``tns_crossmatches``: a match makes the object a known transient (its TNS name).

E(B-V) is not in the JSON; the pipeline looks it up (or takes ``--ebv``).
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, List, Mapping

import numpy as np

from ..lightcurve import NJY_ZEROPOINT, SURVEY_BANDS, Context, InputError, LightCurve
from . import Record
from ._fields import as_float, check_not_bad, kind, label, record_list, shown, text_id
from ._files import iter_json_documents
from .rubin import MAX_ABS_MJD

_MJD_EPOCH = datetime(1858, 11, 17, tzinfo=timezone.utc)


def iso_to_mjd(text: str) -> float:
    """MJD (UTC) of an ISO date or date-time string such as ``2020-09-15T00:00:00``."""
    try:
        if not isinstance(text, str):
            raise ValueError(text)
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"object.followup_flag_date: not an ISO date: {shown(text)}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return (when - _MJD_EPOCH).total_seconds() / 86400.0


def iter_records(path: Path) -> Iterator[Record]:
    """One record per object: a file holds one object, a list of them, or JSON lines."""
    for source, data in iter_json_documents(Path(path)):
        yield Record(source, data)


def _column(rows: List[Mapping], key: str, where: str) -> np.ndarray:
    """One photometry field of every row (None -> NaN); a missing field or a value that is
    not a number names the list and the field."""
    try:
        values = [r[key] for r in rows]
    except KeyError:
        raise InputError(f"{where}: a row has no {key!r}") from None
    try:
        out = np.array(values, dtype=float)
    except (TypeError, ValueError, OverflowError, RecursionError):
        raise InputError(f"{where}.{key}: not a number") from None
    if out.ndim != 1:  # equal-length lists where numbers should be
        raise InputError(f"{where}.{key}: not a number")
    return out


def _bands(rows: List[Mapping], where: str) -> List[str]:
    out = [r.get("filter", "") for r in rows]
    if not set(map(type, out)) <= {str}:
        bad = next(v for v in out if not isinstance(v, str))
        raise InputError(f"{where}.filter: {kind(bad)} is not a band name")
    return out


def from_record(data: Mapping) -> LightCurve:
    check_not_bad(data)
    if not isinstance(data, Mapping):
        raise InputError(f"not an ATLAS object: expected a record, got {kind(data)}")
    if "object" not in data:
        raise InputError("not an ATLAS object: no 'object' field")
    obj = data["object"]
    if not isinstance(obj, Mapping):
        raise InputError(f"object: expected a record, got {kind(obj)}")
    object_id = text_id(obj.get("id"), "object.id")
    if obj.get("followup_flag_date") is None:
        raise InputError(f"{object_id}: object.followup_flag_date is missing")
    t0 = iso_to_mjd(obj["followup_flag_date"])
    dets = record_list(data.get("lc"), "lc")
    nondets = record_list(data.get("lcnondets"), "lcnondets")
    if not dets:
        raise InputError(f"{object_id}: lc has no detection (empty history)")

    det_mag = _column(dets, "mag", "lc")
    det_err = _column(dets, "magerr", "lc")
    non_mag = _column(nondets, "mag5sig", "lcnondets")
    mjd = np.concatenate([_column(dets, "mjd", "lc"), _column(nondets, "mjd", "lcnondets")])
    if not (np.abs(mjd) < MAX_ABS_MJD).all():  # NaN and inf fail it too
        if not np.isfinite(mjd).all():
            raise InputError(f"{object_id}: lc/lcnondets.mjd has a non-finite time")
        raise InputError(f"{object_id}: lc/lcnondets.mjd: time out of range (not an MJD)")
    band = np.array(_bands(dets, "lc") + _bands(nondets, "lcnondets"))
    unknown = sorted(set(band.tolist()) - SURVEY_BANDS["atlas"])
    if unknown:
        raise InputError(f"{object_id}: filter {shown(unknown[0])} is not an ATLAS band")
    nd = len(dets)
    nn = len(nondets)
    mag = np.concatenate([det_mag, non_mag])
    # Negative magnitudes are negative fluxes: keep the sign in the flux.
    with np.errstate(over="ignore"):
        flux = np.sign(mag) * 10.0 ** (-0.4 * (np.abs(mag) - NJY_ZEROPOINT))
    flux[nd:] = np.nan
    nan_n = np.full(nn, np.nan)

    crossmatches = record_list(data.get("sherlock_crossmatches"), "sherlock_crossmatches")
    xm = crossmatches[0] if crossmatches else {}
    tns = record_list(data.get("tns_crossmatches"), "tns_crossmatches")
    tns_name = ""
    if tns:
        tns_name = (label(tns[0].get("external_designation"))
                    or label(obj.get("other_designation")) or "TNS")
    distance = as_float(xm.get("distance"))
    if math.isnan(distance):
        distance = as_float(xm.get("direct_distance"))
    context = Context(
        ra=as_float(obj.get("ra")),
        dec=as_float(obj.get("dec")),
        rb=as_float(obj.get("rb_pix")),
        catalogue_class=label(obj.get("sherlockClassification")),
        z=as_float(xm.get("z")),
        photoz=as_float(xm.get("photoz")),
        photoz_err=as_float(xm.get("photozerr")),
        host_sep_arcsec=as_float(xm.get("separationarcsec")),
        distance_mpc=distance,
        tns_name=tns_name,
    )
    return LightCurve(
        object_id=object_id,
        survey="atlas",
        mjd=mjd,
        mag=mag,
        magerr=np.concatenate([det_err, nan_n]),
        band=band,
        is_det=np.concatenate([np.ones(nd, bool), np.zeros(nn, bool)]),
        flux=flux,
        ra=np.concatenate([_column(dets, "ra", "lc"), nan_n]),
        dec=np.concatenate([_column(dets, "dec", "lc"), nan_n]),
        context=context,
        t0=t0,
    )
