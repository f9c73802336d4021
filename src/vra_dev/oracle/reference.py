"""Reader for the ORACLE reference set (``reference_vectors.npz``: 44 light curves with upstream
inputs/outputs, see tests/data/oracle/PROVENANCE.md) as core LightCurves.

Used by the parity tests, the quantization representative data, the agreement report and the
benchmark, so all of them run on the same real light curves. The SNANA-style raw rows map back to
the core model exactly as an LSST reader would produce them: flux (nJy) = FLUXCAL x 10**1.56
(~36.3078), detection = PHOTFLAG bit 4096, saturated = bit 1024, band lower-case; the 18
ELAsTiCC static values go to ``context.extra`` under their HEAD names.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vra_filters.oracle.inputs import (
    ELASTICC_STATIC_NAMES,
    FLUXCAL_PER_NJY,
    PHOTFLAG_DETECTION,
    PHOTFLAG_SATURATED,
)


def default_path() -> Path:
    """tests/data/oracle/reference_vectors.npz of the source checkout vra_dev is run from."""
    root = Path(__file__).resolve().parents[3]
    return root / "tests" / "data" / "oracle" / "reference_vectors.npz"


def load_arrays(path: Path | None = None) -> dict:
    with np.load(path or default_path(), allow_pickle=False) as d:
        return {k: d[k] for k in d.files}


def lightcurve_from_raw(d: dict, i: int, n_raw: int | None = None):
    """Sample ``i`` (optionally only its first ``n_raw`` raw rows) as a core LightCurve."""
    from vra_filters.lightcurve import Context, LightCurve, flux_to_mag, fluxerr_to_magerr

    lo, hi = int(d["raw_offsets"][i]), int(d["raw_offsets"][i + 1])
    if n_raw is not None:
        hi = lo + int(n_raw)
    flux = d["raw_fluxcal"][lo:hi] / FLUXCAL_PER_NJY
    err = d["raw_fluxcalerr"][lo:hi] / FLUXCAL_PER_NJY
    flag = d["raw_photflag"][lo:hi].astype(np.int64)
    extra = {name: float(v) for name, v in zip(ELASTICC_STATIC_NAMES, d["raw_static"][i])}
    survey = "lsst"
    return LightCurve(
        object_id=str(d["sample_names"][i]), survey=survey,
        mjd=d["raw_mjd"][lo:hi], mag=flux_to_mag(flux), magerr=fluxerr_to_magerr(flux, err),
        band=np.char.lower(d["raw_band"][lo:hi].astype(str)),
        is_det=(flag & PHOTFLAG_DETECTION) > 0,
        flux=flux, fluxerr=err, saturated=(flag & PHOTFLAG_SATURATED) > 0,
        context=Context(extra=extra),
    )


def reference_lightcurves(d: dict | None = None) -> list:
    d = d if d is not None else load_arrays()
    return [lightcurve_from_raw(d, i) for i in range(len(d["sample_names"]))]


def model_inputs(d: dict, prefix: str = "in") -> tuple:
    """(list of (T, 5) float32 arrays, (N, 18) static) exactly as stored (``in`` or
    ``trainconv_in``)."""
    off = d["in_offsets"]
    ts = [d[f"{prefix}_ts"][off[i]:off[i + 1]] for i in range(len(off) - 1)]
    return ts, d[f"{prefix}_static"]


def sample_alert_files(root: Path | None = None) -> list:
    """The project's LSST alert samples under tests/data (Lasair JSON, Rubin/ELAsTiCC avro and
    parquet), for agreement checks on every alert, not only the 44 reference curves."""
    root = Path(root) if root else Path(__file__).resolve().parents[3] / "tests" / "data"
    out = []
    for sub in ("lasair", "rubin"):
        for path in sorted((root / sub).glob("*")):
            name = path.name
            if name.endswith((".json", ".json.gz", ".avro", ".avro.gz", ".parquet")):
                out.append(path)
    return out


def sample_alert_lightcurves(root: Path | None = None) -> list:
    """Every LSST alert of :func:`sample_alert_files` the readers turn into a light curve."""
    from vra_filters.lightcurve import LightCurve
    from vra_filters.readers import read

    return [lc for lc in read(sample_alert_files(root))
            if isinstance(lc, LightCurve) and lc.survey == "lsst"]
