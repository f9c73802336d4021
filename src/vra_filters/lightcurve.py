"""The survey-agnostic light curve: one object's history at the time of one alert.

Every reader maps its survey's alert onto :class:`LightCurve`; every feature, scorer and policy
reads only this. Points are columns of numpy arrays (one row per observation), time-sorted.
Detections and non-detections share the arrays; ``is_det`` tells them apart. For a
non-detection ``mag`` holds the limiting magnitude (5 sigma where the survey says so).

Units: MJD (days, the survey's own time scale: TAI for Rubin, UTC for ATLAS/ZTF), AB mag,
flux in nJy, angles in degrees, host separation in arcsec, distance in Mpc.

:class:`LightCurveBatch` concatenates many light curves (``offsets`` delimit each) so the
features run over a whole batch in one vectorised pass.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

#: AB zero point for fluxes in nJy: m = 31.4 - 2.5 log10(F / nJy).
NJY_ZEROPOINT = 31.4

#: The bands each survey may report; anything else is an input error.
SURVEY_BANDS: Dict[str, frozenset] = {
    "atlas": frozenset({"c", "o", "t", "h"}),
    "lsst": frozenset({"u", "g", "r", "i", "z", "y"}),
    "ztf": frozenset({"g", "r", "i"}),
}

POINT_FIELDS = ("mjd", "mag", "magerr", "flux", "fluxerr", "band", "is_det", "ra", "dec", "rb",
                "saturated")


class InputError(ValueError):
    """An alert that cannot be turned into a light curve; the message names the bad field."""


def flux_to_mag(flux_njy: np.ndarray) -> np.ndarray:
    """AB magnitude of a flux in nJy (NaN for non-positive flux)."""
    flux = np.asarray(flux_njy, dtype=float)
    out = np.full(flux.shape, np.nan)
    pos = flux > 0
    out[pos] = NJY_ZEROPOINT - 2.5 * np.log10(flux[pos])
    return out


def fluxerr_to_magerr(flux_njy: np.ndarray, fluxerr_njy: np.ndarray) -> np.ndarray:
    """1-sigma magnitude error from flux and flux error (first-order propagation)."""
    flux = np.asarray(flux_njy, dtype=float)
    err = np.asarray(fluxerr_njy, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = 2.5 / math.log(10.0) * np.abs(err / flux)
    out[~np.isfinite(out)] = np.nan
    return out


@dataclass
class Context:
    """What is known about the object besides its photometry (NaN / "" when unknown).

    ``catalogue_class`` is the contextual classifier's label (Sherlock: SN, NT, ORPHAN, CV, VS,
    AGN, BS, UNCLEAR). ``rb`` is the object-level real/bogus score the scorers use (ATLAS
    ``rb_pix``; for Rubin the triggering source's ``reliability``; for ZTF ``drb``/``rb``).
    ``ebv_source`` says where ``ebv`` came from (the alert, ``--ebv``, or which dust map).
    ``extra`` carries survey-specific numbers other models need (e.g. the ELAsTiCC host-galaxy
    fields for ORACLE), keyed by their upstream names. ``solar_system`` marks a known
    solar-system object (an asteroid: Rubin ``ssObjectId``, Fink ``roid``/``is_sso``), whose
    id is ``ss_object_id`` when the survey gives one; the policies never make it a candidate.
    """

    ra: float = math.nan
    dec: float = math.nan
    ebv: float = math.nan
    ebv_source: str = ""
    host_sep_arcsec: float = math.nan
    z: float = math.nan
    photoz: float = math.nan
    photoz_err: float = math.nan
    distance_mpc: float = math.nan
    catalogue_class: str = ""
    tns_name: str = ""
    rb: float = math.nan
    extra: Dict[str, float] = field(default_factory=dict)
    solar_system: bool = False
    ss_object_id: str = ""


def _col(values, dtype) -> np.ndarray:
    if type(values) is np.ndarray and values.ndim == 1 and values.dtype == dtype:
        return values  # what the readers give: as it is (asarray + reshape cost 0.3 us)
    return np.asarray(values, dtype=dtype).reshape(-1)


@dataclass
class LightCurve:
    """One object's photometric history as seen by one alert.

    ``t0`` is the phase zero (MJD) of the VRA features: for ATLAS the object's follow-up flag
    date (midnight UTC), for other surveys midnight of the first detection's night.
    ``alert_mjd`` is the time of the alert (its latest point); ``alert_id`` identifies the
    alert so a re-delivery can be recognised. An alert that carries no id gets one derived from
    its content (:func:`content_alert_id`: object, time, band and flux of its latest point), so
    two different alerts never share an id and a re-delivered one keeps its own.
    """

    object_id: str
    survey: str
    mjd: np.ndarray
    mag: np.ndarray
    magerr: np.ndarray
    band: np.ndarray
    is_det: np.ndarray
    flux: Optional[np.ndarray] = None
    fluxerr: Optional[np.ndarray] = None
    ra: Optional[np.ndarray] = None
    dec: Optional[np.ndarray] = None
    rb: Optional[np.ndarray] = None
    saturated: Optional[np.ndarray] = None
    context: Context = field(default_factory=Context)
    alert_id: str = ""
    t0: float = math.nan
    alert_mjd: float = math.nan

    def __post_init__(self) -> None:
        n = len(np.asarray(self.mjd).reshape(-1))
        nan = np.full(n, np.nan)
        self.mjd = _col(self.mjd, float)
        self.mag = _col(self.mag, float)
        self.magerr = _col(self.magerr, float) if self.magerr is not None else nan.copy()
        self.band = _col(self.band, str)
        self.is_det = _col(self.is_det, bool)
        self.flux = _col(self.flux, float) if self.flux is not None else nan.copy()
        self.fluxerr = _col(self.fluxerr, float) if self.fluxerr is not None else nan.copy()
        self.ra = _col(self.ra, float) if self.ra is not None else nan.copy()
        self.dec = _col(self.dec, float) if self.dec is not None else nan.copy()
        self.rb = _col(self.rb, float) if self.rb is not None else nan.copy()
        self.saturated = (_col(self.saturated, bool) if self.saturated is not None
                          else np.zeros(n, dtype=bool))
        for name in POINT_FIELDS:
            if len(getattr(self, name)) != n:
                raise InputError(f"{self.object_id}: point field {name!r} has "
                                 f"{len(getattr(self, name))} values, mjd has {n}")
        if n > 1 and (self.mjd[1:] < self.mjd[:-1]).any():
            order = np.argsort(self.mjd, kind="stable")
            for name in POINT_FIELDS:
                setattr(self, name, getattr(self, name)[order])
        if math.isnan(self.t0) and self.is_det.any():
            self.t0 = float(np.floor(self.mjd[int(self.is_det.argmax())]))
        if math.isnan(self.alert_mjd) and n:
            self.alert_mjd = float(self.mjd[-1])
        if not self.alert_id:
            self.alert_id = content_alert_id(self)

    def __len__(self) -> int:
        return len(self.mjd)

    @property
    def n_det(self) -> int:
        return int(self.is_det.sum())

    def until(self, mjd: float, alert_id: str = "", keep: Optional[Tuple[int, int]] = None
              ) -> LightCurve:
        """The light curve as it was at ``mjd`` (points at or before it): replays a history.

        The new light curve shares the (read-only) point arrays as views, has a context of
        its own (a shallow copy) and, unless ``alert_id`` is given, an id derived from its
        content. Points are time-sorted, so this is a slice, not a mask. ``keep=(start,
        stop)``: of those points carry only ``start:stop`` (id and time stay the whole
        prefix's)."""
        k = int(np.searchsorted(self.mjd, mjd, side="right"))
        return self.prefix(k, float(mjd), alert_id or content_alert_id(self, float(mjd), k),
                           keep)

    def prefix(self, k: int, mjd: float, alert_id: str,
               keep: Optional[Tuple[int, int]] = None) -> LightCurve:
        """:meth:`until` once the number ``k`` of points at or before ``mjd`` and the id are
        known (a packet replay finds them for every earlier alert at once)."""
        out = self.points(0, k) if keep is None else self.points(keep[0], min(k, keep[1]))
        out.context = _shallow_copy(self.context)
        out.alert_mjd = mjd
        out.alert_id = alert_id
        return out

    def points(self, start: int, stop: int) -> LightCurve:
        """The same alert with only points ``start:stop`` (views; ids, times and context
        shared). For stages that read only some points, such as the VRA features
        (:data:`~vra_filters.features.FEATURE_PHASES`)."""
        out = object.__new__(LightCurve)
        fields = dict(self.__dict__)
        for name in POINT_FIELDS:
            fields[name] = fields[name][start:stop]
        out.__dict__ = fields
        return out


def _shallow_copy(obj: Any) -> Any:
    """``copy.copy`` of a plain dataclass instance, without ``copy``'s generic protocol
    (a replay copies its context once per earlier detection)."""
    out = object.__new__(type(obj))
    out.__dict__.update(obj.__dict__)
    return out


def content_alert_id(lc: LightCurve, alert_mjd: Optional[float] = None,
                     stop: Optional[int] = None) -> str:
    """A stable id for an alert that has none: a hash of the object id and the time, band and
    flux (else magnitude) of the point at the alert's time (its latest detection).
    ``alert_mjd``/``stop``: the id of the alert at that time made of ``lc``'s first ``stop``
    points (a replayed one) instead of ``lc``'s own."""
    t = lc.alert_mjd if alert_mjd is None else alert_mjd
    mjd = lc.mjd if stop is None else lc.mjd[:stop]
    parts = [lc.survey, lc.object_id, repr(float(t))]
    if len(mjd):
        same = mjd == t
        at = np.flatnonzero(same & lc.is_det[:len(mjd)])
        if not len(at):
            at = np.flatnonzero(same)
        i = int(at[-1]) if len(at) else len(mjd) - 1
        parts += [str(lc.band[i]), repr(float(lc.flux[i])), repr(float(lc.mag[i]))]
    return _content_digest(parts)


def replay_alert_ids(lc: LightCurve, times: np.ndarray, at: np.ndarray) -> List[str]:
    """:func:`content_alert_id` of the replayed alerts of ``lc`` at ``times`` (sorted, each a
    detection time), all at once: ``at[j]`` is the index of the last detection at
    ``times[j]``, the point the id hashes (what ``until(times[j])`` finds one by one)."""
    head = [lc.survey, lc.object_id]
    return [_content_digest(head + [repr(t), b, repr(f), repr(m)])
            for t, b, f, m in zip(np.asarray(times, dtype=float).tolist(),
                                  [str(b) for b in lc.band[at].tolist()],
                                  lc.flux[at].astype(float).tolist(),
                                  lc.mag[at].astype(float).tolist())]


def _content_digest(parts: List[str]) -> str:
    digest = hashlib.sha256("|".join(parts).encode("utf-8", "surrogatepass")).hexdigest()
    return "content:" + digest[:20]


@dataclass
class LightCurveBatch:
    """Many light curves as concatenated point arrays; rows of object ``i`` are
    ``offsets[i]:offsets[i+1]``. Built once per batch by :meth:`from_lightcurves`."""

    lightcurves: List[LightCurve]
    offsets: np.ndarray
    points: Dict[str, np.ndarray]

    @classmethod
    def from_lightcurves(cls, lcs: Sequence[LightCurve]) -> LightCurveBatch:
        lcs = list(lcs)
        lengths = np.fromiter((len(lc) for lc in lcs), dtype=np.int64, count=len(lcs))
        offsets = np.zeros(len(lcs) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        points = {}
        for name in POINT_FIELDS:
            if name == "band":
                continue
            arrays = [getattr(lc, name) for lc in lcs]
            dtype = bool if name in ("is_det", "saturated") else float
            points[name] = np.concatenate(arrays) if arrays else np.zeros(0, dtype=dtype)
        return cls(lightcurves=lcs, offsets=offsets, points=points)

    def __len__(self) -> int:
        return len(self.lightcurves)

    def object_column(self, getter, dtype=float) -> np.ndarray:
        """One value per light curve, e.g. ``batch.object_column(lambda lc: lc.context.ebv)``."""
        return np.fromiter((getter(lc) for lc in self.lightcurves), dtype=dtype,
                           count=len(self.lightcurves))
