"""SNANA FITS light curves (``*_HEAD.FITS[.gz]`` + ``*_PHOT.FITS[.gz]``) as core light curves.

The format of the ELAsTiCC / PLAsTiCC training and simulation files: a HEAD binary table (one
row per object: ``SNID``, ``RA``/``DEC``, ``MWEBV``, ``HOSTGAL_*``, truth ``SIM_*``, and
``PTROBS_MIN``/``PTROBS_MAX``, 1-based row pointers into PHOT) and a PHOT binary table (``MJD``,
``BAND``, ``FLUXCAL``, ``FLUXCALERR``, ``PHOTFLAG``; a row with ``MJD = -777`` ends each light
curve). Read with numpy alone (no astropy), so it runs wherever the core does.

Mapping: flux nJy = FLUXCAL / ``FLUXCAL_PER_NJY`` (zero point 27.5 -> 31.4), detection = PHOTFLAG
bit 4096, saturated = bit 1024, band lower-cased (``Y`` -> ``y``), mag from the flux (NaN when
not positive). Context: position, E(B-V) = ``MWEBV`` (sentinels -> unknown), host photo-z,
spec-z and separation, and every one of ORACLE's 18 HEAD names present in ``Context.extra``
(raw values, as the Rubin reader gives them), so ORACLE reads these files as it reads alerts.
"""

from __future__ import annotations

import gzip
import math
import re
from pathlib import Path
from typing import Iterator, Union

import numpy as np

from ..lightcurve import Context, LightCurve, flux_to_mag, fluxerr_to_magerr
from ..oracle.inputs import (
    ELASTICC_STATIC_NAMES,
    FLUXCAL_PER_NJY,
    PHOTFLAG_DETECTION,
    PHOTFLAG_SATURATED,
    SENTINELS,
)
from ..readers import Skip

BLOCK = 2880
_TFORM = re.compile(r"^\s*(\d*)([LXBIJKAEDCM])")
_DTYPE = {"L": "i1", "B": "u1", "I": ">i2", "J": ">i4", "K": ">i8", "E": ">f4", "D": ">f8"}


class FitsError(ValueError):
    """A file that is not a readable FITS binary table."""


def is_snana(path) -> bool:
    """True for a file named like an SNANA HEAD table (``..._HEAD.FITS`` or ``.FITS.gz``)."""
    return re.search(r"HEAD\.FITS(\.GZ)?$", Path(path).name.upper()) is not None


def _raw(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def _header(data: bytes, pos: int) -> tuple[dict, int]:
    cards: dict = {}
    while True:
        if pos + BLOCK > len(data):
            raise FitsError("truncated FITS header")
        block = data[pos:pos + BLOCK].decode("ascii", "replace")
        pos += BLOCK
        for k in range(0, BLOCK, 80):
            card = block[k:k + 80]
            key = card[:8].strip()
            if key == "END":
                return cards, pos
            if card[8:10] == "= ":
                value = card[10:].split("/", 1)[0].strip() if "'" not in card[10:] else \
                    card[10:].split("'")[1].strip()
                cards[key] = value


def read_bintable(path) -> dict:
    """The first binary-table extension of a FITS file as ``{column: numpy array}`` (native
    byte order; strings as ``str`` arrays, stripped)."""
    data = _raw(Path(path))
    if not data.startswith(b"SIMPLE"):
        raise FitsError(f"{Path(path).name}: not a FITS file")
    head, pos = _header(data, 0)
    size = abs(int(head.get("BITPIX", 8))) // 8
    n = 1
    for k in range(1, int(head.get("NAXIS", 0)) + 1):
        n *= int(head[f"NAXIS{k}"])
    pos += -(-(size * n if int(head.get("NAXIS", 0)) else 0) // BLOCK) * BLOCK
    ext, pos = _header(data, pos)
    if ext.get("XTENSION") != "BINTABLE":
        raise FitsError(f"{Path(path).name}: first extension is not a binary table")
    names, formats = [], []
    for k in range(1, int(ext["TFIELDS"]) + 1):
        m = _TFORM.match(ext[f"TFORM{k}"])
        if m is None or m.group(2) not in _DTYPE and m.group(2) != "A":
            raise FitsError(f"unsupported column format {ext[f'TFORM{k}']!r}")
        rep = int(m.group(1) or 1)
        code = m.group(2)
        names.append(ext[f"TTYPE{k}"])
        formats.append(f"S{rep}" if code == "A" else
                       (_DTYPE[code] if rep == 1 else (_DTYPE[code], (rep,))))
    dtype = np.dtype({"names": names, "formats": formats})
    if dtype.itemsize != int(ext["NAXIS1"]):
        raise FitsError(f"{Path(path).name}: row size {dtype.itemsize} != NAXIS1")
    nrows = int(ext["NAXIS2"])
    table = np.frombuffer(data, dtype=dtype, count=nrows, offset=pos)
    out = {}
    for k, name in enumerate(names):
        col = table[name]
        if col.dtype.kind == "S":
            col = np.char.strip(col.astype(str))
        else:
            col = col.astype(col.dtype.newbyteorder("="))
            zero = ext.get(f"TZERO{k + 1}")
            if zero not in (None, "0", "0.0"):
                col = col + float(zero)
        out[name] = col
    return out


def _value(x) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return math.nan
    return math.nan if not math.isfinite(v) or v in SENTINELS else v


def read_snana(head_path) -> Iterator[Union[LightCurve, Skip]]:
    """Every object of an SNANA HEAD/PHOT pair as a LightCurve (``survey`` ``lsst``), or a Skip
    with the reason (missing PHOT file, damaged table, object without a detection)."""
    head_path = Path(head_path)
    phot_path = head_path.with_name(re.sub("HEAD", "PHOT", head_path.name, flags=re.I))
    try:
        head = read_bintable(head_path)
        phot = read_bintable(phot_path)
    except (OSError, FitsError, KeyError, ValueError) as exc:
        yield Skip(head_path.name, f"cannot read the SNANA files: {exc}")
        return
    for col in ("SNID", "PTROBS_MIN", "PTROBS_MAX"):
        if col not in head:
            yield Skip(head_path.name, f"HEAD table has no {col} column")
            return
    for col in ("MJD", "BAND", "FLUXCAL", "FLUXCALERR", "PHOTFLAG"):
        if col not in phot:
            yield Skip(phot_path.name, f"PHOT table has no {col} column")
            return
    dec_col = "DEC" if "DEC" in head else "DECL"
    for i in range(len(head["SNID"])):
        snid = str(head["SNID"][i]).strip()
        lo, hi = int(head["PTROBS_MIN"][i]) - 1, int(head["PTROBS_MAX"][i])
        sl = slice(max(lo, 0), max(hi, 0))
        mjd = phot["MJD"][sl].astype(float)
        ok = mjd != -777.0  # the end-of-light-curve separator rows
        flag = phot["PHOTFLAG"][sl].astype(np.int64)[ok]
        flux = phot["FLUXCAL"][sl].astype(float)[ok] / FLUXCAL_PER_NJY
        err = phot["FLUXCALERR"][sl].astype(float)[ok] / FLUXCAL_PER_NJY
        is_det = (flag & PHOTFLAG_DETECTION) != 0
        if not is_det.any():
            yield Skip(f"{head_path.name}:{snid}", "no detection (PHOTFLAG 4096) in its rows")
            continue
        extra = {name: float(head[name][i]) for name in ELASTICC_STATIC_NAMES if name in head}
        ctx = Context(
            ra=_value(head["RA"][i]) if "RA" in head else math.nan,
            dec=_value(head[dec_col][i]) if dec_col in head else math.nan,
            ebv=_value(extra.get("MWEBV")), z=_value(extra.get("HOSTGAL_SPECZ")),
            photoz=_value(extra.get("HOSTGAL_PHOTOZ")),
            photoz_err=_value(extra.get("HOSTGAL_PHOTOZ_ERR")),
            host_sep_arcsec=_value(extra.get("HOSTGAL_SNSEP")), extra=extra)
        yield LightCurve(
            object_id=snid, survey="lsst", mjd=mjd[ok], mag=flux_to_mag(flux),
            magerr=fluxerr_to_magerr(flux, err), band=np.char.lower(phot["BAND"][sl][ok]),
            is_det=is_det, flux=flux, fluxerr=err,
            saturated=(flag & PHOTFLAG_SATURATED) != 0, context=ctx)
