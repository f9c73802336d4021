"""ORACLE-1 model inputs: SNANA-style tables -> (time series, static) arrays, and the alert
(core :class:`~vra_filters.lightcurve.LightCurve`) -> SNANA-style table builder (SPEC §6-§8).

Two time-origin conventions exist upstream (SPEC §6.5) and both are offered:

* ``"inference"`` (default; what upstream's own pretrained classes do): time is measured from the
  first *detection*; earlier forced-photometry rows get negative times; static missing-value
  sentinels (-9, -99, -999, -9999, 999) become -9. Without a detection there is no input.
* ``"training"`` (what the upstream Dataset fed the network while training): time from the first
  *observation*; static values fed raw (only absent/NaN -> -9).

Everything here is numpy only (Python 3.9 + numpy 1.26 hosts).

Units. Time: days. ELAsTiCC/LSST flux: SNANA FLUXCAL (zero point 27.5 mag), i.e. the nJy flux of
the core light curve times :data:`FLUXCAL_PER_NJY`. Wavelength: micrometres. ZTF (BTS model):
PSF magnitudes and their errors, mag.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..sky import icrs_to_galactic

CONVENTIONS = ("inference", "training")

#: Band -> mean wavelength in micrometres, LSST ugrizY (upstream's table; ``y`` accepted for Y).
BAND_WAVELENGTH_UM: dict[str, float] = {
    "u": 0.36, "g": 0.476, "r": 0.6215, "i": 0.7545, "z": 0.87, "Y": 1.015, "y": 1.015,
}
#: ZTF filter -> wavelength (um) as the BTS model was trained (g, r, i).
ZTF_WAVELENGTH_UM: dict[str, float] = {"g": 0.476, "r": 0.6215, "i": 0.7545}

#: FLUXCAL per nJy: 10**(-0.4 * (31.4 - 27.5)) (zero points 31.4 for nJy, 27.5 for FLUXCAL),
#: i.e. 1 / 36.30780547...; the reference inputs were built with this exact factor (SPEC §8
#: quotes it rounded as "/ 36.3078", which differs by 1.5e-7 relative = 1 float32 ulp).
FLUXCAL_PER_NJY = 10.0 ** (-0.4 * (31.4 - 27.5))

PHOTFLAG_SATURATED = 1024
PHOTFLAG_DETECTION = 4096

#: ELAsTiCC missing-value sentinels mapped to -9 on the inference path (exact equality).
SENTINELS = (-9.0, -99.0, -999.0, -9999.0, 999.0)
MISSING = -9.0

ELASTICC_STATIC_NAMES = (
    "MWEBV", "MWEBV_ERR", "REDSHIFT_HELIO", "REDSHIFT_HELIO_ERR", "HOSTGAL_PHOTOZ",
    "HOSTGAL_PHOTOZ_ERR", "HOSTGAL_SPECZ", "HOSTGAL_SPECZ_ERR", "HOSTGAL_RA", "HOSTGAL_DEC",
    "HOSTGAL_SNSEP", "HOSTGAL_ELLIPTICITY", "HOSTGAL_MAG_u", "HOSTGAL_MAG_g", "HOSTGAL_MAG_r",
    "HOSTGAL_MAG_i", "HOSTGAL_MAG_z", "HOSTGAL_MAG_Y",
)

#: BTS static vector: 8 per-row values (taken from the latest row), then 22 ZTF candidate fields.
BTS_ROW_STATIC = ("l", "b", "W1mag", "W2mag", "W3mag", "W4mag", "W1_minus_W3", "W2_minus_W3")
BTS_META_STATIC = ("sky", "sgscore1", "sgscore2", "distpsnr1", "distpsnr2", "fwhm", "diffmaglim",
                   "ndethist", "nmtchps", "drb", "ncovhist", "chinr", "sharpnr", "scorr",
                   "sgmag1", "srmag1", "simag1", "szmag1", "sgmag2", "srmag2", "simag2",
                   "szmag2")
BTS_STATIC_NAMES = BTS_ROW_STATIC + BTS_META_STATIC

#: Which survey each model reads.
MODEL_SURVEYS = {"elasticc": ("lsst", "elasticc"), "elasticc-lite": ("lsst", "elasticc"),
                 "bts": ("ztf",)}


@dataclass
class SnanaTable:
    """One object's SNANA-style photometry table (SPEC §6.1), time-sorted.

    ``mjd`` days; ``band`` one of u g r i z Y; ``fluxcal``/``fluxcalerr`` FLUXCAL units;
    ``photflag`` SNANA bits (1024 saturated, 4096 detection); ``static`` maps ELAsTiCC HEAD
    names to values (absent names count as missing).
    """

    mjd: np.ndarray
    band: np.ndarray
    fluxcal: np.ndarray
    fluxcalerr: np.ndarray
    photflag: np.ndarray
    static: dict[str, float] = field(default_factory=dict)
    object_id: str = ""


@dataclass
class ModelRows:
    """Preprocessed rows before the time origin is applied (what incremental updates consume).

    ``mjd`` (float64 days) and ``feats`` (float32, columns: flux, flux error, wavelength um,
    detection flag) for the rows the network sees; ``static`` (float32) the static vector.
    """

    mjd: np.ndarray
    feats: np.ndarray
    static: np.ndarray
    n_raw: int
    object_id: str = ""

    def __len__(self) -> int:
        return len(self.mjd)

    def origin(self, convention: str) -> float:
        """Time origin (MJD): first detection (inference) or first row (training); NaN if none."""
        if len(self.mjd) == 0:
            return math.nan
        if convention == "training":
            return float(self.mjd[0])
        det = np.flatnonzero(self.feats[:, 3] > 0)
        return float(self.mjd[det[0]]) if det.size else math.nan

    def timeseries(self, t0: float, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Model rows ``[start:stop]`` as float32 (n, 5): [t - t0, flux, err, wavelength, det].

        The subtraction is done in float64 before the cast (MJD ~ 6e4 in float32 would lose
        ~0.004 d).
        """
        sl = slice(start, stop)
        out = np.empty((len(self.mjd[sl]), 5), dtype=np.float32)
        out[:, 0] = (self.mjd[sl] - t0).astype(np.float32)
        out[:, 1:] = self.feats[sl]
        return out


@dataclass
class OracleInput:
    """The network input of one object: ``ts`` (T, 5) float32, ``static`` (S,) float32.

    ``status`` is ``"ok"``, ``"no_detection"`` (no detection yet: upstream gives no output),
    ``"no_rows"`` or ``"unsupported"`` (wrong survey for the model); ``ts`` is empty then.
    """

    ts: np.ndarray
    static: np.ndarray
    t0: float
    status: str = "ok"
    object_id: str = ""
    n_raw: int = 0
    reason: str = ""


_BAND_KEYS = np.array(sorted(BAND_WAVELENGTH_UM))
_BAND_VALUES = np.array([BAND_WAVELENGTH_UM[b] for b in _BAND_KEYS], dtype=np.float64)


def band_wavelengths(bands: np.ndarray, object_id: str = "") -> np.ndarray:
    """Wavelength (um, float64) per band name, vectorised; unknown bands raise ValueError."""
    bands = np.asarray(bands, dtype=str)
    idx = np.searchsorted(_BAND_KEYS, bands)
    idx = np.minimum(idx, len(_BAND_KEYS) - 1)
    bad = _BAND_KEYS[idx] != bands
    if bad.any():
        raise ValueError(f"{object_id}: band {bands[bad][0]!r} is not an LSST band")
    return _BAND_VALUES[idx]


def static_elasticc(values: Mapping[str, float | None], convention: str = "inference",
                    names: Sequence[str] = ELASTICC_STATIC_NAMES) -> np.ndarray:
    """The 18 ELAsTiCC static features (float32), SPEC §6.3 (inference) or §6.5 (training)."""
    vals = []
    for name in names:
        v = values.get(name)
        try:
            v = float(v)
        except (TypeError, ValueError):
            v = MISSING
        if not math.isfinite(v) or (convention == "inference" and v in SENTINELS):
            v = MISSING
        vals.append(v)
    out = np.array(vals, dtype=np.float32)
    return out


def rows_from_table(table: SnanaTable, convention: str = "inference",
                    static_size: int = 18) -> ModelRows:
    """Drop saturated rows and encode the per-row features (SPEC §6.2 steps 1, 2, 4)."""
    _check_convention(convention)
    flag = np.asarray(table.photflag, dtype=np.int64)
    keep = (flag & PHOTFLAG_SATURATED) == 0
    bands = np.asarray(table.band, dtype=str)[keep]
    wl = band_wavelengths(bands, table.object_id)
    feats = np.empty((len(bands), 4), dtype=np.float32)
    feats[:, 0] = np.asarray(table.fluxcal, dtype=np.float64)[keep]
    feats[:, 1] = np.asarray(table.fluxcalerr, dtype=np.float64)[keep]
    feats[:, 2] = wl
    feats[:, 3] = ((flag[keep] & PHOTFLAG_DETECTION) != 0).astype(np.float32)
    static = (static_elasticc(table.static, convention) if static_size
              else np.zeros(0, dtype=np.float32))
    return ModelRows(np.asarray(table.mjd, dtype=np.float64)[keep], feats, static,
                     n_raw=len(flag), object_id=table.object_id)


def input_from_rows(rows: ModelRows, convention: str = "inference") -> OracleInput:
    t0 = rows.origin(convention)
    if len(rows) == 0:
        return OracleInput(np.zeros((0, 5), np.float32), rows.static, math.nan, "no_rows",
                           rows.object_id, rows.n_raw, "no usable rows")
    if math.isnan(t0):
        return OracleInput(np.zeros((0, 5), np.float32), rows.static, math.nan, "no_detection",
                           rows.object_id, rows.n_raw, "no detection yet")
    return OracleInput(rows.timeseries(t0), rows.static, t0, "ok", rows.object_id, rows.n_raw)


# --------------------------------------------------------------------------------------------
# §8: core LightCurve -> SNANA-style table (LSST / ELAsTiCC)
# --------------------------------------------------------------------------------------------

def _finite(x) -> bool:
    try:
        return x is not None and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def _finite_or_nan(x) -> float:
    return float(x) if _finite(x) else math.nan


def elasticc_static_from_context(ctx) -> dict[str, float]:
    """ELAsTiCC HEAD values for a light curve's context (SPEC §8).

    If a reader put any of the 18 HEAD names in ``context.extra`` (ELAsTiCC/Rubin and Lasair
    readers do), those values are used and nothing is derived. Otherwise, as for the Lasair
    packets of the reference set: MWEBV = E(B-V); MWEBV_ERR = 5 % of it (ELAsTiCC's own
    ratio); REDSHIFT_HELIO = spectroscopic z, else photo-z (with its error), HOSTGAL_SPECZ = z,
    HOSTGAL_PHOTOZ(_ERR) = photo-z (error), HOSTGAL_SNSEP = host separation (arcsec). Everything
    else is missing (-9 after the sentinel rule).
    """
    extra = dict(getattr(ctx, "extra", {}) or {})
    ebv = getattr(ctx, "ebv", math.nan)
    z = getattr(ctx, "z", math.nan)
    pz = getattr(ctx, "photoz", math.nan)
    pze = getattr(ctx, "photoz_err", math.nan)
    sep = getattr(ctx, "host_sep_arcsec", math.nan)
    derived: dict[str, float] = {}
    if _finite(ebv):
        derived["MWEBV"] = float(ebv)
        derived["MWEBV_ERR"] = 0.05 * float(ebv)
    if _finite(z):
        derived["REDSHIFT_HELIO"] = float(z)
        derived["HOSTGAL_SPECZ"] = float(z)
    elif _finite(pz):
        derived["REDSHIFT_HELIO"] = float(pz)
        if _finite(pze):
            derived["REDSHIFT_HELIO_ERR"] = float(pze)
    if _finite(pz):
        derived["HOSTGAL_PHOTOZ"] = float(pz)
    if _finite(pze):
        derived["HOSTGAL_PHOTOZ_ERR"] = float(pze)
    if _finite(sep):
        derived["HOSTGAL_SNSEP"] = float(sep)
    if any(name in extra for name in ELASTICC_STATIC_NAMES):
        # the reader mapped the packet's own fields (ELAsTiCC diaObject, Lasair): use them alone
        return {name: extra[name] for name in ELASTICC_STATIC_NAMES if name in extra}
    return derived


def table_from_lightcurve(lc) -> SnanaTable:
    """SPEC §8 for a core LightCurve (LSST / ELAsTiCC): flux nJy -> FLUXCAL, flags -> PHOTFLAG.

    Rows with a non-finite flux or error are dropped (there is nothing to feed); non-detections
    (forced photometry) stay, flagged 0. Bands stay as the core has them (``y`` = ``Y``).
    """
    flux = np.asarray(lc.flux, dtype=np.float64)
    err = np.asarray(lc.fluxerr, dtype=np.float64)
    ok = np.isfinite(flux) & np.isfinite(err)
    photflag = (np.where(lc.is_det, PHOTFLAG_DETECTION, 0)
                + np.where(lc.saturated, PHOTFLAG_SATURATED, 0)).astype(np.int32)
    bands = np.asarray(lc.band, dtype=str)  # "y" is accepted for "Y" downstream
    return SnanaTable(
        mjd=np.asarray(lc.mjd, dtype=np.float64)[ok],
        band=bands[ok],
        fluxcal=flux[ok] * FLUXCAL_PER_NJY,
        fluxcalerr=err[ok] * FLUXCAL_PER_NJY,
        photflag=photflag[ok],
        static=elasticc_static_from_context(lc.context),
        object_id=str(lc.object_id),
    )


# --------------------------------------------------------------------------------------------
# §7: ZTF LightCurve -> BTS input
# --------------------------------------------------------------------------------------------

def _bts_clean(v) -> float:
    """Training-path missing rule for BTS: NaN/None -> -9, -999 -> -9 (SPEC §7)."""
    if not _finite(v):
        return MISSING
    v = float(v)
    return MISSING if v == -999.0 else v


def bts_static(values: Mapping[str, float | None]) -> np.ndarray:
    return np.asarray([_bts_clean(values.get(n)) for n in BTS_STATIC_NAMES], dtype=np.float32)


def bts_rows_from_lightcurve(lc) -> ModelRows:
    """SPEC §7 for a ZTF light curve, as rows: detections only, feats [magpsf, sigmapsf, wl, 1].

    Static: Galactic (l, b) from the object position unless the reader gave ``l``/``b``; WISE
    magnitudes/colours and the 22 candidate fields from ``context.extra`` (ZTF names); whatever
    is absent is -9. Non-detections (upper limits) are not rows: the BTS model never saw any.
    The time origin is the first detection (= first row), so both conventions agree.
    """
    if getattr(lc, "survey", "ztf") != "ztf":
        raise ValueError(f"BTS model needs ZTF light curves, got {lc.survey!r}")
    bands_all = np.asarray(lc.band, dtype=str)
    det = (np.asarray(lc.is_det, dtype=bool) & np.isfinite(lc.mag) & np.isfinite(lc.magerr)
           & np.isin(bands_all, list(ZTF_WAVELENGTH_UM)))
    feats = np.empty((int(det.sum()), 4), dtype=np.float32)
    feats[:, 0] = np.asarray(lc.mag, dtype=np.float64)[det]
    feats[:, 1] = np.asarray(lc.magerr, dtype=np.float64)[det]
    feats[:, 2] = [ZTF_WAVELENGTH_UM[b] for b in bands_all[det]]
    feats[:, 3] = 1.0
    extra = dict(lc.context.extra or {})
    if "l" not in extra or "b" not in extra:
        l_, b_ = icrs_to_galactic(_finite_or_nan(lc.context.ra), _finite_or_nan(lc.context.dec))
        extra.setdefault("l", float(l_))
        extra.setdefault("b", float(b_))
    return ModelRows(np.asarray(lc.mjd, dtype=np.float64)[det], feats, bts_static(extra),
                     n_raw=len(lc), object_id=str(lc.object_id))


def build_input(lc, model: str, convention: str = "inference") -> OracleInput:
    """Network input for a core LightCurve; ``status`` says why there is none (wrong survey,
    no detection yet, no usable rows)."""
    try:
        rows = rows_from_lightcurve(lc, model, convention)
    except ValueError as exc:
        return OracleInput(np.zeros((0, 5), np.float32), np.zeros(0, np.float32), math.nan,
                           "unsupported", str(getattr(lc, "object_id", "")), len(lc), str(exc))
    return input_from_rows(rows, convention)


def rows_from_lightcurve(lc, model: str, convention: str = "inference") -> ModelRows:
    """The right builder for ``model``; raises ValueError when the survey does not fit."""
    _check_convention(convention)
    survey = getattr(lc, "survey", "")
    if survey not in MODEL_SURVEYS[model]:
        raise ValueError(f"ORACLE model {model!r} reads {'/'.join(MODEL_SURVEYS[model])} light "
                         f"curves, not {survey!r}")
    if model == "bts":
        return bts_rows_from_lightcurve(lc)
    return rows_from_table(table_from_lightcurve(lc), convention,
                           static_size=18 if model == "elasticc" else 0)


def _check_convention(convention: str) -> None:
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown ORACLE convention {convention!r}; choose one of {CONVENTIONS}")
