"""ORACLE-1 model inputs: SNANA-style tables -> (time series, static) arrays, and the alert
(core :class:`~vra_filters.lightcurve.LightCurve`) -> SNANA-style table builder (SPEC §6-§8).

**Conventions.** How an alert becomes an input is a named setting (:func:`convention`), made of
two choices the upstream code leaves open (SPEC §6.5):

* time origin: ``first-detection`` (upstream's inference path: earlier forced photometry gets
  negative times; no input before a detection) or ``first-observation`` (upstream's training
  Dataset: times >= 0 from the first row; still no input before a detection);
* static source (ELAsTiCC model; the lite model has no static input): ``packet`` (the HEAD
  values the packet itself carries, :data:`SENTINELS` -> -9; a packet without any gets -9
  everywhere), ``derived`` (SPEC §8's mapping from the light curve's Context: E(B-V) -- the
  packet's, else the dust map's when the caller filled it --, host z / photo-z and separation;
  the other 12 values -9) or ``none`` (all -9). For the BTS model ``none`` means all 30 values
  -9; ``packet`` and ``derived`` both take the candidate fields and (l, b) from the position.

Names: ``"<origin>/<static>"`` (e.g. ``"first-observation/packet"``), with the alias
``"upstream"`` = ``"first-detection/packet"`` (reproduces upstream's own output for the same
packet), plus ``"upstream-training"`` = upstream's training Dataset exactly (first observation,
static values fed *raw*: alert sentinels such as -999 reach the network; only for parity with
the ``trainconv`` reference vectors -- on alerts it collapses level 2). :data:`DEFAULT_CONVENTION`
is the most accurate on the labelled sets (models/oracle/README.md). The retired names
``inference`` and ``training`` raise with the new name.

**Domain flags.** :func:`domain` says, per input, how many detections it holds and which of
:data:`WARNINGS` apply: the caveats a user needs next to a class.

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

TIME_ORIGINS = ("first-detection", "first-observation")
STATIC_SOURCES = ("packet", "derived", "none")


@dataclass(frozen=True)
class Convention:
    """How alerts become ORACLE inputs (module docstring). ``raw_sentinels``: feed static
    sentinels as they are (upstream's training Dataset) instead of mapping them to -9."""

    name: str
    time_origin: str
    static: str
    raw_sentinels: bool = False

    @property
    def from_first_observation(self) -> bool:
        return self.time_origin == "first-observation"


_PRESETS = {f"{o}/{s}": Convention(f"{o}/{s}", o, s) for o in TIME_ORIGINS for s in STATIC_SOURCES}
_PRESETS["upstream"] = Convention("upstream", "first-detection", "packet")
del _PRESETS["first-detection/packet"]
_PRESETS["upstream-training"] = Convention("upstream-training", "first-observation", "packet",
                                           raw_sentinels=True)
_ALIASES = {"first-detection/packet": "upstream"}
_RETIRED = {"inference": "upstream",
            "training": "upstream-training (or first-observation/packet, which maps sentinels)"}
#: Every accepted convention name (canonical forms).
CONVENTIONS = tuple(sorted(_PRESETS))
#: Chosen by accuracy on the labelled sets (models/oracle/README.md, ``vra evaluate oracle``).
DEFAULT_CONVENTION = "first-observation/packet"


def convention(name: str | Convention | None = None) -> Convention:
    """The :class:`Convention` called ``name`` (None: :data:`DEFAULT_CONVENTION`)."""
    if isinstance(name, Convention):
        return name
    key = DEFAULT_CONVENTION if name is None else _ALIASES.get(str(name), str(name))
    if key in _PRESETS:
        return _PRESETS[key]
    if key in _RETIRED:
        raise ValueError(f"ORACLE convention {key!r} was retired: use {_RETIRED[key]}")
    raise ValueError(f"unknown ORACLE convention {key!r}; choose one of "
                     f"{', '.join(CONVENTIONS)}")

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

#: Domain-flag codes (:func:`domain`), each a caveat to show next to the class.
WARNINGS = ("too_few_points", "missing_metadata", "bands_outside_training",
            "length_outside_training", "noise_outside_training")
#: Fewer detections than this: ``too_few_points`` (on the labelled sets the leaf recall at
#: 1-2 detections is far below that at 3+; models/oracle/README.md).
MIN_DETECTIONS = 3
#: Longest stretch after the first detection any training input covered (days): upstream's
#: ELAsTiCC training cut every light curve at a random 2**U(0, 11) < 2048 d after its first
#: detection. None: no bound known (BTS was cut by a fraction of its points).
MAX_DAYS_AFTER_DETECTION = {"elasticc": 2048.0, "elasticc-lite": 2048.0, "bts": None}
#: Median flux error (FLUXCAL) below which the noise is unlike anything the ELAsTiCC model saw:
#: 0.05 FLUXCAL = 1.8 nJy, 50x below the smallest errors of the ELAsTiCC alerts (>= 2.5 on the
#: labelled set) and below every real Rubin alert of the samples (medians >= 0.12); idealised
#: noise-free simulations (the PLAsTiCC SNANA sample: 0.005-0.01) fall under it.
MIN_MEDIAN_FLUXERR = {"elasticc": 0.05, "elasticc-lite": 0.05, "bts": None}


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
    ``dropped_mjd``: times of rows left out for a band the model was not trained on;
    ``missing_metadata``: the static part the model relies on is entirely missing.
    """

    mjd: np.ndarray
    feats: np.ndarray
    static: np.ndarray
    n_raw: int
    object_id: str = ""
    model: str = ""
    dropped_mjd: np.ndarray = field(default_factory=lambda: np.zeros(0))
    missing_metadata: bool = False

    def __len__(self) -> int:
        return len(self.mjd)

    def origin(self, conv: str | Convention | None = None) -> float:
        """Time origin (MJD): the first detection, or the first row when the convention counts
        from the first observation; NaN without a detection (no input then, either way)."""
        det = np.flatnonzero(self.feats[:, 3] > 0)
        if not det.size:
            return math.nan
        return float(self.mjd[0 if convention(conv).from_first_observation else det[0]])

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
    ``domain``: :func:`domain` of the rows (None when unsupported).
    """

    ts: np.ndarray
    static: np.ndarray
    t0: float
    status: str = "ok"
    object_id: str = ""
    n_raw: int = 0
    reason: str = ""
    domain: dict | None = None


def domain(rows: ModelRows, n: int | None = None) -> dict:
    """``{"n_detections", "warnings"}`` for the first ``n`` rows (default all): detections the
    network sees, and which caveats of :data:`WARNINGS` apply."""
    n = len(rows) if n is None else int(n)
    det = np.flatnonzero(rows.feats[:n, 3] > 0)
    warnings = []
    if det.size < MIN_DETECTIONS:
        warnings.append("too_few_points")
    if rows.missing_metadata:
        warnings.append("missing_metadata")
    last = rows.mjd[n - 1] if n else math.inf
    if len(rows.dropped_mjd) and np.any(rows.dropped_mjd <= last):
        warnings.append("bands_outside_training")
    limit = MAX_DAYS_AFTER_DETECTION.get(rows.model)
    if limit is not None and det.size and last - rows.mjd[det[0]] > limit:
        warnings.append("length_outside_training")
    floor = MIN_MEDIAN_FLUXERR.get(rows.model)
    if floor is not None and n and float(np.median(rows.feats[:n, 1])) < floor:
        warnings.append("noise_outside_training")
    return {"n_detections": int(det.size), "warnings": warnings}


def band_wavelengths(bands: np.ndarray) -> np.ndarray:
    """Wavelength (um, float64) per band name, vectorised; NaN for a band ORACLE was not
    trained on (anything but u g r i z Y / y)."""
    bands = np.asarray(bands, dtype=str)
    out = np.full(bands.shape, np.nan)
    for name in np.unique(bands):
        out[bands == name] = BAND_WAVELENGTH_UM.get(str(name), np.nan)
    return out


def _float_or_missing(v) -> float:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return MISSING
    return v if math.isfinite(v) else MISSING


def static_elasticc(values: Mapping[str, float | None], raw_sentinels: bool = False,
                    names: Sequence[str] = ELASTICC_STATIC_NAMES) -> np.ndarray:
    """The 18 ELAsTiCC static features (float32), SPEC §6.3: absent/NaN -> -9, and the
    :data:`SENTINELS` -> -9 unless ``raw_sentinels`` (upstream's training Dataset, §6.5)."""
    vals = [_float_or_missing(values.get(name)) for name in names]
    if not raw_sentinels:
        vals = [MISSING if v in SENTINELS else v for v in vals]
    return np.array(vals, dtype=np.float32)


def rows_from_table(table: SnanaTable, conv: str | Convention | None = None,
                    static_size: int = 18, model: str = "") -> ModelRows:
    """Drop saturated rows and rows in bands ORACLE does not know, and encode the per-row
    features (SPEC §6.2 steps 1, 2, 4)."""
    c = convention(conv)
    flag = np.asarray(table.photflag, dtype=np.int64)
    mjd = np.asarray(table.mjd, dtype=np.float64)
    wl_all = band_wavelengths(table.band)
    unsat = (flag & PHOTFLAG_SATURATED) == 0
    keep = unsat & np.isfinite(wl_all)
    feats = np.empty((int(keep.sum()), 4), dtype=np.float32)
    feats[:, 0] = np.asarray(table.fluxcal, dtype=np.float64)[keep]
    feats[:, 1] = np.asarray(table.fluxcalerr, dtype=np.float64)[keep]
    feats[:, 2] = wl_all[keep]
    feats[:, 3] = ((flag[keep] & PHOTFLAG_DETECTION) != 0).astype(np.float32)
    static = (static_elasticc(table.static, c.raw_sentinels) if static_size
              else np.zeros(0, dtype=np.float32))
    return ModelRows(mjd[keep], feats, static, n_raw=len(flag), object_id=table.object_id,
                     model=model, dropped_mjd=mjd[unsat & ~np.isfinite(wl_all)],
                     missing_metadata=bool(static_size) and bool(np.all(static == MISSING)))


def input_from_rows(rows: ModelRows, conv: str | Convention | None = None) -> OracleInput:
    t0 = rows.origin(conv)
    dom = domain(rows)
    if len(rows) == 0:
        return OracleInput(np.zeros((0, 5), np.float32), rows.static, math.nan, "no_rows",
                           rows.object_id, rows.n_raw, "no usable rows", dom)
    if math.isnan(t0):
        return OracleInput(np.zeros((0, 5), np.float32), rows.static, math.nan, "no_detection",
                           rows.object_id, rows.n_raw, "no detection yet", dom)
    return OracleInput(rows.timeseries(t0), rows.static, t0, "ok", rows.object_id, rows.n_raw,
                       domain=dom)


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


def elasticc_static_from_context(ctx, source: str = "packet") -> dict[str, float]:
    """ELAsTiCC HEAD values of a light curve's context, by static source (module docstring).

    ``packet``: the HEAD names a reader put in ``context.extra`` (ELAsTiCC/Rubin diaObject
    fields, Lasair's E(B-V) and Sherlock values), nothing else. ``derived``: SPEC §8's Lasair
    mapping from Context fields: MWEBV = E(B-V); MWEBV_ERR = 5 % of it (ELAsTiCC's own ratio);
    REDSHIFT_HELIO = spectroscopic z, else photo-z (with its error), HOSTGAL_SPECZ = z,
    HOSTGAL_PHOTOZ(_ERR) = photo-z (error), HOSTGAL_SNSEP = host separation (arcsec).
    ``none``: nothing. Whatever is absent becomes -9.
    """
    if source == "none":
        return {}
    if source == "packet":
        extra = getattr(ctx, "extra", {}) or {}
        return {name: extra[name] for name in ELASTICC_STATIC_NAMES if name in extra}
    if source != "derived":
        raise ValueError(f"unknown static source {source!r}; choose one of {STATIC_SOURCES}")
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
    return derived


def table_from_lightcurve(lc, static_source: str = "packet") -> SnanaTable:
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
        static=elasticc_static_from_context(lc.context, static_source),
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


def bts_rows_from_lightcurve(lc, static_source: str = "packet") -> ModelRows:
    """SPEC §7 for a ZTF light curve, as rows: detections only, feats [magpsf, sigmapsf, wl, 1].

    A negative-difference detection (the core light curve's mag < 0, ATLAS style) is fed as its
    PSF magnitude ``magpsf`` = |mag|: the BTS training light curves are ZTF alert magnitudes,
    which are positive whatever the sign of the difference. Static: Galactic (l, b) from the
    object position unless the reader gave ``l``/``b``; WISE magnitudes/colours and the 22
    candidate fields from ``context.extra`` (ZTF names); whatever is absent is -9 (static
    source ``none``: everything). Non-detections (upper limits) are not rows: the BTS model
    never saw any. The first row is the first detection, so both time origins agree.
    """
    if getattr(lc, "survey", "ztf") != "ztf":
        raise ValueError(f"BTS model needs ZTF light curves, got {lc.survey!r}")
    bands_all = np.asarray(lc.band, dtype=str)
    det = np.asarray(lc.is_det, dtype=bool) & np.isfinite(lc.mag) & np.isfinite(lc.magerr)
    known = np.isin(bands_all, list(ZTF_WAVELENGTH_UM))
    mjd = np.asarray(lc.mjd, dtype=np.float64)
    use = det & known
    feats = np.empty((int(use.sum()), 4), dtype=np.float32)
    feats[:, 0] = np.abs(np.asarray(lc.mag, dtype=np.float64)[use])
    feats[:, 1] = np.asarray(lc.magerr, dtype=np.float64)[use]
    feats[:, 2] = [ZTF_WAVELENGTH_UM[b] for b in bands_all[use]]
    feats[:, 3] = 1.0
    extra = {} if static_source == "none" else dict(lc.context.extra or {})
    if static_source != "none" and ("l" not in extra or "b" not in extra):
        l_, b_ = icrs_to_galactic(_finite_or_nan(lc.context.ra), _finite_or_nan(lc.context.dec))
        extra.setdefault("l", float(l_))
        extra.setdefault("b", float(b_))
    static = bts_static(extra)
    return ModelRows(mjd[use], feats, static, n_raw=len(lc), object_id=str(lc.object_id),
                     model="bts", dropped_mjd=mjd[det & ~known],
                     missing_metadata=bool(np.all(static[len(BTS_ROW_STATIC):] == MISSING)))


def build_input(lc, model: str, conv: str | Convention | None = None) -> OracleInput:
    """Network input for a core LightCurve; ``status`` says why there is none (wrong survey,
    no detection yet, no usable rows)."""
    try:
        rows = rows_from_lightcurve(lc, model, conv)
    except ValueError as exc:
        return OracleInput(np.zeros((0, 5), np.float32), np.zeros(0, np.float32), math.nan,
                           "unsupported", str(getattr(lc, "object_id", "")), len(lc), str(exc))
    return input_from_rows(rows, conv)


def rows_from_lightcurve(lc, model: str, conv: str | Convention | None = None) -> ModelRows:
    """The right builder for ``model``; raises ValueError when the survey does not fit."""
    c = convention(conv)
    survey = getattr(lc, "survey", "")
    if survey not in MODEL_SURVEYS[model]:
        raise ValueError(f"ORACLE model {model!r} reads {'/'.join(MODEL_SURVEYS[model])} light "
                         f"curves, not {survey!r}")
    if model == "bts":
        return bts_rows_from_lightcurve(lc, c.static)
    return rows_from_table(table_from_lightcurve(lc, c.static), c,
                           static_size=18 if model == "elasticc" else 0, model=model)
