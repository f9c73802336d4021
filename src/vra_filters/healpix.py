"""HEALPix RING-scheme geometry with numpy alone, following the HEALPix C++ conventions that
healpy uses: pixel <-> angle, NESTED -> RING renumbering, and the 4-pixel bilinear interpolation
weights of ``healpy.get_interp_val`` (two pixels in the ring above and two in the ring below,
linear in longitude within each ring, then linear in colatitude between the rings, with the usual
special case around the poles). Used by :mod:`vra_filters.dust` to read E(B-V) maps.

Angles are radians: ``theta`` colatitude in [0, pi], ``phi`` longitude.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

__all__ = ["ang2pix_ring", "interp_weights_ring", "nest2ring", "pix2ang_ring"]


def _check_nside(nside: int) -> int:
    nside = int(nside)
    if nside < 1:
        raise ValueError(f"NSIDE must be >= 1, got {nside}")
    return nside


@functools.lru_cache(maxsize=8)
def _ring_tables(nside: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-ring first pixel, pixel count, colatitude (rad) and half-pixel shift (0 or 0.5).

    Indexed by ring number 1..4*NSIDE-1; entries 0 and 4*NSIDE (no such ring) are filled with
    the nearest real ring and must not be used. Cached (read-only) since every lookup needs them.
    """
    nl4 = 4 * nside
    npix = 12 * nside * nside
    ncap = 2 * nside * (nside - 1)
    fact2 = 4.0 / npix
    fact1 = (2 * nside) * fact2
    ring = np.clip(np.arange(nl4 + 1, dtype=np.int64), 1, nl4 - 1)
    north = np.where(ring > 2 * nside, nl4 - ring, ring)
    cap = north < nside
    tmp = (north * north) * fact2
    theta_cap = np.arctan2(np.sqrt(tmp * (2.0 - tmp)), 1.0 - tmp)
    theta_belt = np.arccos(np.clip((2 * nside - north) * fact1, -1.0, 1.0))
    theta = np.where(cap, theta_cap, theta_belt)
    count = np.where(cap, 4 * north, nl4)
    shift = np.where(cap | (((north - nside) & 1) == 0), 0.5, 0.0)
    start = np.where(cap, 2 * north * (north - 1), ncap + (north - nside) * nl4)
    south = north != ring
    theta = np.where(south, np.pi - theta, theta)
    start = np.where(south, npix - start - count, start)
    for arr in (start, count, theta, shift):
        arr.flags.writeable = False
    return start, count, theta, shift


def _ring_above(nside: int, z: np.ndarray) -> np.ndarray:
    """Number of the ring at or north of cos(colatitude) ``z`` (0 = north of ring 1)."""
    az = np.abs(z)
    equatorial = (nside * (2.0 - 1.5 * z)).astype(np.int64)
    polar = (nside * np.sqrt(3.0 * (1.0 - az))).astype(np.int64)
    polar = np.where(z > 0, polar, 4 * nside - polar - 1)
    return np.where(az <= 2.0 / 3.0, equatorial, polar)


def _thetaphi(theta: Any, phi: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    theta, phi = np.broadcast_arrays(
        np.asarray(theta, dtype=np.float64), np.asarray(phi, dtype=np.float64)
    )
    ok = np.isfinite(theta) & np.isfinite(phi) & (theta >= 0.0) & (theta <= np.pi)
    phi = np.where(ok, phi, 0.0) % (2.0 * np.pi)
    phi = np.where(phi >= 2.0 * np.pi, 0.0, phi)  # x % 2pi can round up to 2pi for x = -tiny
    return np.where(ok, theta, 0.0), phi, ok


def interp_weights_ring(
    nside: int, theta: Any, phi: Any
) -> tuple[np.ndarray, np.ndarray]:
    """RING pixel numbers and weights of the 4-point bilinear interpolation (healpy scheme).

    ``theta`` colatitude and ``phi`` longitude in radians (broadcast together). Returns
    ``(pix, weights)``, each of shape ``(4,) + shape``; weights sum to 1. Invalid positions
    (non-finite or theta outside [0, pi]) get pixel 0 and NaN weights. Equivalent to
    ``healpy.get_interp_weights(nside, theta, phi)``.
    """
    nside = _check_nside(nside)
    theta, phi, ok = _thetaphi(theta, phi)
    start, count, ring_theta, shift = _ring_tables(nside)
    nl4 = 4 * nside
    npix = 12 * nside * nside
    ir1 = _ring_above(nside, np.cos(theta))
    ir2 = ir1 + 1

    def in_ring(ir: np.ndarray):
        ir = np.clip(ir, 1, nl4 - 1)
        sp, nr, sh = start[ir], count[ir], shift[ir]
        dphi = (2.0 * np.pi) / nr
        tmp = phi / dphi - sh
        i1 = np.trunc(tmp).astype(np.int64) - (tmp < 0)
        w = (phi - (i1 + sh) * dphi) / dphi
        i2 = i1 + 1
        i1 = np.where(i1 < 0, i1 + nr, i1)
        i2 = np.where(i2 >= nr, i2 - nr, i2)
        return sp + i1, sp + i2, 1.0 - w, w, ring_theta[ir]

    p0, p1, w0, w1, theta1 = in_ring(ir1)
    p2, p3, w2, w3, theta2 = in_ring(ir2)

    north = ir1 == 0
    south = ir2 == nl4
    with np.errstate(invalid="ignore", divide="ignore"):
        wt_mid = (theta - theta1) / (theta2 - theta1)
        wt_north = theta / theta2
        wt_south = (theta - theta1) / (np.pi - theta1)
    wt = np.where(north, wt_north, np.where(south, wt_south, wt_mid))
    fac = np.where(north, (1.0 - wt) * 0.25, np.where(south, wt * 0.25, 0.0))
    w0 = np.where(north, fac, w0 * (1.0 - wt) + fac)
    w1 = np.where(north, fac, w1 * (1.0 - wt) + fac)
    w2 = np.where(south, fac, w2 * wt + fac)
    w3 = np.where(south, fac, w3 * wt + fac)
    # Near a pole the "other" ring is ring 1 (or 4*NSIDE-1) seen across the pole.
    p0 = np.where(north, (p2 + 2) & 3, p0)
    p1 = np.where(north, (p3 + 2) & 3, p1)
    p2 = np.where(south, ((p0 + 2) & 3) + npix - 4, p2)
    p3 = np.where(south, ((p1 + 2) & 3) + npix - 4, p3)

    pix = np.where(ok, np.stack([p0, p1, p2, p3]), 0)
    weights = np.where(ok, np.stack([w0, w1, w2, w3]), np.nan)
    return pix, weights


@functools.lru_cache(maxsize=8)
def _ring_lists(nside: int) -> tuple[list, list, list, list]:
    return tuple(a.tolist() for a in _ring_tables(nside))  # type: ignore[return-value]


def interp_weights_ring_one(nside: int, theta: float, phi: float
                            ) -> tuple[tuple[int, ...], tuple[float, ...]] | None:
    """:func:`interp_weights_ring` for one position, in plain Python floats (a batch of one
    costs ~60 numpy calls there): the same operations in the same order, so the same pixels
    and, to the last bit or so, the same weights. None for an invalid position."""
    if not (math.isfinite(theta) and math.isfinite(phi) and 0.0 <= theta <= math.pi):
        return None
    two_pi = 2.0 * math.pi
    phi = phi % two_pi
    if phi >= two_pi:
        phi = 0.0
    start, count, ring_theta, shift = _ring_lists(nside)
    nl4 = 4 * nside
    npix = 12 * nside * nside
    z = math.cos(theta)
    az = abs(z)
    if az <= 2.0 / 3.0:
        ir1 = int(nside * (2.0 - 1.5 * z))
    else:
        polar = int(nside * math.sqrt(3.0 * (1.0 - az)))
        ir1 = polar if z > 0 else 4 * nside - polar - 1
    ir2 = ir1 + 1

    def in_ring(ir: int):
        ir = min(max(ir, 1), nl4 - 1)
        sp, nr, sh = start[ir], count[ir], shift[ir]
        dphi = two_pi / nr
        tmp = phi / dphi - sh
        i1 = int(tmp) - (tmp < 0)  # int() truncates like np.trunc
        w = (phi - (i1 + sh) * dphi) / dphi
        i2 = i1 + 1
        if i1 < 0:
            i1 += nr
        if i2 >= nr:
            i2 -= nr
        return sp + i1, sp + i2, 1.0 - w, w, ring_theta[ir]

    p0, p1, w0, w1, theta1 = in_ring(ir1)
    p2, p3, w2, w3, theta2 = in_ring(ir2)
    north = ir1 == 0
    south = ir2 == nl4
    if north:
        wt = theta / theta2
        fac = (1.0 - wt) * 0.25
    elif south:
        wt = (theta - theta1) / (math.pi - theta1)
        fac = wt * 0.25
    else:
        wt = (theta - theta1) / (theta2 - theta1)
        fac = 0.0
    w0 = fac if north else w0 * (1.0 - wt) + fac
    w1 = fac if north else w1 * (1.0 - wt) + fac
    w2 = fac if south else w2 * wt + fac
    w3 = fac if south else w3 * wt + fac
    if north:
        p0, p1 = (p2 + 2) & 3, (p3 + 2) & 3
    if south:
        p2, p3 = ((p0 + 2) & 3) + npix - 4, ((p1 + 2) & 3) + npix - 4
    return (p0, p1, p2, p3), (w0, w1, w2, w3)


def ang2pix_ring(nside: int, theta: Any, phi: Any) -> np.ndarray:
    """RING pixel containing colatitude ``theta`` and longitude ``phi`` (radians); -1 if invalid."""
    nside = _check_nside(nside)
    theta, phi, ok = _thetaphi(theta, phi)
    nl4 = 4 * nside
    npix = 12 * nside * nside
    ncap = 2 * nside * (nside - 1)
    z = np.cos(theta)
    za = np.abs(z)
    tt = phi / (0.5 * np.pi)  # in [0, 4)

    # equatorial belt
    t1 = nside * (0.5 + tt)
    t2 = nside * z * 0.75
    jp = (t1 - t2).astype(np.int64)
    jm = (t1 + t2).astype(np.int64)
    ir = nside + 1 + jp - jm
    kshift = 1 - (ir & 1)
    ip = ((jp + jm - nside + kshift + 1) // 2) % nl4
    pix_eq = ncap + (ir - 1) * nl4 + ip

    # polar caps
    tp = tt - np.floor(tt)
    near_pole = (theta < 0.01) | (theta > np.pi - 0.01)  # as HEALPix C++: better precision
    with np.errstate(invalid="ignore"):
        tmp = np.where(
            near_pole,
            nside * np.sin(theta) / np.sqrt((1.0 + za) / 3.0),
            nside * np.sqrt(3.0 * (1.0 - za)),
        )
    jp = (tp * tmp).astype(np.int64)
    jm = ((1.0 - tp) * tmp).astype(np.int64)
    ir = np.maximum(jp + jm + 1, 1)
    ip = (tt * ir).astype(np.int64) % (4 * ir)
    pix_pol = np.where(z > 0, 2 * ir * (ir - 1) + ip, npix - 2 * ir * (ir + 1) + ip)

    pix = np.where(za <= 2.0 / 3.0, pix_eq, pix_pol)
    return np.where(ok, pix, -1)


def _isqrt(x: np.ndarray) -> np.ndarray:
    s = np.floor(np.sqrt(x.astype(np.float64))).astype(np.int64)
    s = np.where(s * s > x, s - 1, s)
    return np.where((s + 1) * (s + 1) <= x, s + 1, s)


def pix2ang_ring(nside: int, pix: Any) -> tuple[np.ndarray, np.ndarray]:
    """Colatitude and longitude (radians) of the centres of RING pixels ``pix``."""
    nside = _check_nside(nside)
    pix = np.asarray(pix, dtype=np.int64)
    npix = 12 * nside * nside
    if np.any((pix < 0) | (pix >= npix)):
        raise ValueError(f"pixel numbers must be in [0, {npix})")
    ncap = 2 * nside * (nside - 1)
    fact2 = 4.0 / npix
    fact1 = (2 * nside) * fact2

    iring_n = (1 + _isqrt(1 + 2 * pix)) >> 1
    iphi_n = pix + 1 - 2 * iring_n * (iring_n - 1)
    z_n = 1.0 - (iring_n * iring_n) * fact2
    phi_n = (iphi_n - 0.5) * (0.5 * np.pi) / iring_n

    ipb = pix - ncap
    tmp = ipb // (4 * nside)
    iring_b = tmp + nside
    iphi_b = ipb - tmp * 4 * nside + 1
    fodd = np.where(((iring_b + nside) & 1) == 1, 1.0, 0.5)
    z_b = (2 * nside - iring_b) * fact1
    phi_b = (iphi_b - fodd) * np.pi * 0.75 * fact1

    ips = npix - pix
    iring_s = (1 + _isqrt(np.maximum(2 * ips - 1, 0))) >> 1
    iphi_s = 4 * iring_s + 1 - (ips - 2 * iring_s * (iring_s - 1))
    z_s = -1.0 + (iring_s * iring_s) * fact2
    phi_s = (iphi_s - 0.5) * (0.5 * np.pi) / np.maximum(iring_s, 1)

    north, south = pix < ncap, pix >= npix - ncap
    z = np.where(north, z_n, np.where(south, z_s, z_b))
    phi = np.where(north, phi_n, np.where(south, phi_s, phi_b))
    return np.arccos(np.clip(z, -1.0, 1.0)), phi


_JRLL = np.array([2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4], dtype=np.int64)
_JPLL = np.array([1, 3, 5, 7, 0, 2, 4, 6, 1, 3, 5, 7], dtype=np.int64)


def _compact_bits(v: np.ndarray) -> np.ndarray:
    """Keep bits 0, 2, 4, ... of ``v`` and pack them together (inverse of bit interleaving)."""
    v = v.astype(np.uint64) & np.uint64(0x5555555555555555)
    for shift, mask in (
        (1, 0x3333333333333333),
        (2, 0x0F0F0F0F0F0F0F0F),
        (4, 0x00FF00FF00FF00FF),
        (8, 0x0000FFFF0000FFFF),
        (16, 0x00000000FFFFFFFF),
    ):
        v = (v | (v >> np.uint64(shift))) & np.uint64(mask)
    return v.astype(np.int64)


def nest2ring(nside: int, pix: Any) -> np.ndarray:
    """RING numbers of NESTED pixels ``pix`` (NSIDE must be a power of 2)."""
    nside = _check_nside(nside)
    if nside & (nside - 1):
        raise ValueError(f"NESTED ordering needs NSIDE a power of 2, got {nside}")
    pix = np.asarray(pix, dtype=np.int64)
    nl4 = 4 * nside
    npix = 12 * nside * nside
    ncap = 2 * nside * (nside - 1)
    face, ipf = np.divmod(pix, nside * nside)
    ix = _compact_bits(ipf)
    iy = _compact_bits(ipf >> 1)
    jr = _JRLL[face] * nside - ix - iy - 1
    nr = np.where(jr < nside, jr, np.where(jr > 3 * nside, nl4 - jr, nside))
    n_before = np.where(
        jr < nside,
        2 * nr * (nr - 1),
        np.where(jr > 3 * nside, npix - 2 * (nr + 1) * nr, ncap + (jr - nside) * nl4),
    )
    kshift = np.where((jr < nside) | (jr > 3 * nside), 0, (jr - nside) & 1)
    jp = (_JPLL[face] * nr + ix - iy + 1 + kshift) // 2
    jp = np.where(jp > nl4, jp - nl4, np.where(jp < 1, jp + nl4, jp))
    return n_before + jp - 1


