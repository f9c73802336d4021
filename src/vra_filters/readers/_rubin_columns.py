"""The lists of a Rubin alert packet (diaSources, forced photometry, non-detection limits) as
numpy columns, shared by the Rubin and Lasair readers (:mod:`.rubin` maps them to points).

Two paths give the same arrays: a fast one for well-formed lists of plain dicts (what JSON,
Avro and Parquet give: one pass over the list, one float conversion for all numeric fields),
and field by field, whose errors name the bad field. The fast path returns None whenever the
field-by-field path might give anything else, an error included, so bad input is reported
exactly as before.

numpy and the standard library only (the ANTARES filter vendors this module).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..lightcurve import SURVEY_BANDS, InputError
from ._fields import column, first_key, plain_values, shown

SURVEY = "lsst"
#: Band order used to pack (epoch, band) into one integer key.
BAND_ORDER = ("u", "g", "r", "i", "z", "y")
BAND_CODE = {b: i for i, b in enumerate(BAND_ORDER)}

# Field aliases, newest schema first (Rubin v10 / ELAsTiCC v0.9).
TIME_KEYS = ("midpointMjdTai", "midPointTai")
BAND_KEYS = ("band", "filterName")
FLUX_KEYS = ("psfFlux", "psFlux")
FLUXERR_KEYS = ("psfFluxErr", "psFluxErr")
RA_KEYS = ("ra",)
DEC_KEYS = ("dec", "decl")
NOISE_KEYS = ("diaNoise",)

#: Times beyond this are garbage, not dates (MJD +-1e6 spans ~880 BC to AD 4600).
MAX_ABS_MJD = 1e6


def times(items: Sequence[Mapping], where: str) -> np.ndarray:
    """The time column (MJD); a missing field or a non-finite value is an input error."""
    key = first_key(items, TIME_KEYS)
    if key is None:
        raise InputError(f"{where}: missing field {'/'.join(TIME_KEYS)}")
    mjd = column(items, key, where)
    if not (np.abs(mjd) < MAX_ABS_MJD).all():  # one test: NaN and inf fail it too
        if not np.isfinite(mjd).all():
            raise InputError(f"{where}.{key}: non-finite time")
        raise InputError(f"{where}.{key}: time out of range (not an MJD)")
    return mjd


def bands(items: Sequence[Mapping], where: str,
          allowed: frozenset = SURVEY_BANDS[SURVEY]) -> np.ndarray:
    """The band column, lower-cased; any band outside the survey's set is an input error."""
    key = first_key(items, BAND_KEYS)
    if key is None:
        raise InputError(f"{where}: missing field {'/'.join(BAND_KEYS)}")
    try:
        raw = [d.get(key) for d in items]
    except AttributeError as exc:
        raise InputError(f"{where}: list entries are not records") from exc
    try:
        arr = np.array(raw, dtype=str)
    except (TypeError, ValueError, RecursionError):
        arr = np.zeros((0, 0), dtype=str)
    if arr.ndim != 1:  # lists where band names should be
        raise InputError(f"{where}.{key}: a band is not a name")
    uniq, inverse = np.unique(arr, return_inverse=True)
    lowered = np.char.lower(uniq)
    bad = [str(u) for u, low in zip(uniq, lowered) if low not in allowed]
    if bad:
        raise InputError(f"{where}.{key}: unknown band {shown(bad[0])}")
    return lowered[inverse.reshape(-1)]


def _visits(items: Sequence[Mapping]) -> np.ndarray | None:
    """The ``visit`` column if every entry has an integer visit id, else None."""
    if not items or "visit" not in items[0]:
        return None
    return _visit_array([d.get("visit") for d in items])


def _visit_array(values: Sequence[Any]) -> np.ndarray | None:
    if set(map(type, values)) != {int} and any(v is None for v in values):
        return None
    try:
        visits = np.array(values, dtype=np.int64)
    except (TypeError, ValueError, OverflowError, RecursionError):
        return None
    return visits if visits.ndim == 1 else None


_BAND_NAMES = np.array(BAND_ORDER)
#: Band name as a packet may spell it -> index in :data:`BAND_ORDER`.
_BAND_INDEX = {**{b.upper(): i for i, b in enumerate(BAND_ORDER)}, **BAND_CODE}


def _fast_columns(items: Sequence[Mapping], floats: Sequence[str | None],
                  others: Sequence[str | None] = ()) -> tuple | None:
    """(times and ``floats`` as one float array, bands, ``others`` as tuples) or None. A key
    None is a field the list does not have (NaN / None throughout)."""
    tkey, bkey = first_key(items, TIME_KEYS), first_key(items, BAND_KEYS)
    if tkey is None or bkey is None:
        return None
    keys = (tkey, *floats, bkey, *others)
    got = plain_values(items, [k for k in keys if k is not None])
    if got is None:
        return None
    absent = (None,) * len(items)
    it = iter(got)
    cols = [absent if k is None else next(it) for k in keys]
    nf = 1 + len(floats)
    try:
        num = np.array(cols[:nf], dtype=float)
        band = _BAND_NAMES[list(map(_BAND_INDEX.__getitem__, cols[nf]))]
    except Exception:  # noqa: BLE001 - the field-by-field path reports it
        return None
    if num.ndim != 2 or not (np.abs(num[0]) < MAX_ABS_MJD).all():
        return None
    return num, band, cols[nf + 1:]


def detections(items: Sequence[Mapping], where: str) -> tuple[dict, Sequence, Any]:
    """The diaSource columns (mjd, band, flux, fluxerr, ra, dec, rb, saturated), the
    diaSourceIds and the visit column (None unless every source has an integer visit)."""
    head = items[0]
    rel = "reliability" if "reliability" in head else None
    sat = "pixelFlags_saturatedCenter" if "pixelFlags_saturatedCenter" in head else None
    floats = [first_key(items, a) for a in (FLUX_KEYS, FLUXERR_KEYS, RA_KEYS, DEC_KEYS)]
    fast = _fast_columns(items, floats + [rel],
                         (sat, "diaSourceId", "visit" if "visit" in head else None))
    if fast is not None:
        num, band, (sat_col, ids, visit_col) = fast
        try:
            saturated = np.array(sat_col if set(map(type, sat_col)) == {bool}
                                 else [bool(v) for v in sat_col], dtype=bool)
        except Exception:  # noqa: BLE001
            fast = None
    if fast is None:
        fields = {
            "mjd": times(items, where), "band": bands(items, where),
            "flux": column(items, first_key(items, FLUX_KEYS), where),
            "fluxerr": column(items, first_key(items, FLUXERR_KEYS), where),
            "ra": column(items, first_key(items, RA_KEYS), where),
            "dec": column(items, first_key(items, DEC_KEYS), where),
            "rb": column(items, rel, where),
            "saturated": column(items, sat, where, dtype=bool),
        }
        return fields, [d.get("diaSourceId") for d in items], _visits(items)
    fields = {"mjd": num[0], "band": band, "flux": num[1], "fluxerr": num[2], "ra": num[3],
              "dec": num[4], "rb": num[5], "saturated": saturated}
    return fields, ids, _visit_array(visit_col) if "visit" in head else None


def forced_columns(items: Sequence[Mapping], where: str) -> tuple:
    """mjd, band, flux, fluxerr and visit (or None) of forced photometry."""
    visit = "visit" if "visit" in items[0] else None
    fast = _fast_columns(items, [first_key(items, FLUX_KEYS), first_key(items, FLUXERR_KEYS)],
                         (visit,))
    if fast is None:
        return (times(items, where), bands(items, where),
                column(items, first_key(items, FLUX_KEYS), where),
                column(items, first_key(items, FLUXERR_KEYS), where), _visits(items))
    num, band, (visit_col,) = fast
    return num[0], band, num[1], num[2], _visit_array(visit_col) if visit else None


def limit_columns(items: Sequence[Mapping], where: str) -> tuple:
    """mjd, band and diaNoise of non-detection limits."""
    noise_key = first_key(items, NOISE_KEYS)
    fast = _fast_columns(items, [noise_key]) if noise_key is not None else None
    if fast is None:
        mjd, band = times(items, where), bands(items, where)
        if noise_key is None:
            raise InputError(f"{where}: missing field diaNoise")
        return mjd, band, column(items, noise_key, where)
    num, band, _ = fast
    return num[0], band, num[1]


def latest_index(items: Sequence[Mapping]) -> int | None:
    """Index of the latest entry (the last on ties) when every time is a float MJD, else None
    (then :func:`times` says what is wrong). Plain Python: cheaper than numpy for one column."""
    key = first_key(items, TIME_KEYS)
    got = plain_values(items, [key]) if key is not None else None
    if got is None:
        return None
    mjd = got[0]
    if set(map(type, mjd)) != {float} or not all(-MAX_ABS_MJD < t < MAX_ABS_MJD for t in mjd):
        return None
    return len(mjd) - 1 - mjd[::-1].index(max(mjd))
