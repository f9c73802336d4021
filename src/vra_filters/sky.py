"""Sky coordinates: the one ICRS -> Galactic transform of vra_filters (numpy only).

Used by the dust-map lookup (:mod:`vra_filters.dust`) and by ORACLE's BTS inputs
(:mod:`vra_filters.oracle.inputs`). The rotation is astropy's: ICRS -> FK5 J2000 frame bias
(USNO Circular 179), then FK5 J2000 -> Galactic from the J2000 north Galactic pole and the
Galactic longitude of the north celestial pole; it agrees with astropy to ~1e-10 deg.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["icrs_to_galactic"]


def _rotation(angle_deg: float, axis: int) -> np.ndarray:
    """Passive rotation of the coordinate frame by ``angle_deg`` about axis 0/1/2 (x/y/z).

    Same convention as ``astropy.coordinates.matrix_utilities.rotation_matrix``, so composing
    astropy's defining rotations below reproduces its matrix to rounding.
    """
    a = math.radians(angle_deg)
    c, s = math.cos(a), math.sin(a)
    r = np.eye(3)
    a1, a2 = (axis + 1) % 3, (axis + 2) % 3
    r[a1, a1] = c
    r[a2, a2] = c
    r[a1, a2] = s
    r[a2, a1] = -s
    return r


# ICRS -> FK5 J2000 frame bias (USNO Circular 179: eta0, xi0 and dalpha0 in milliarcseconds).
_ICRS_TO_FK5 = (
    _rotation(19.9 / 3.6e6, 0) @ _rotation(9.1 / 3.6e6, 1) @ _rotation(-22.9 / 3.6e6, 2)
)
# FK5 J2000 -> Galactic: J2000 position of the north Galactic pole and Galactic longitude of the
# north celestial pole (Murray 1989, the values astropy's Galactic frame is defined with).
_NGP_RA_J2000 = 192.8594812065348
_NGP_DEC_J2000 = 27.12825118085622
_LON_NCP_J2000 = 122.9319185680026
_FK5_TO_GAL = (
    _rotation(180.0 - _LON_NCP_J2000, 2) @ _rotation(90.0 - _NGP_DEC_J2000, 1)
    @ _rotation(_NGP_RA_J2000, 2)
)
_ICRS_TO_GAL = _FK5_TO_GAL @ _ICRS_TO_FK5


def _spherical_rotate(
    matrix: np.ndarray, lon_deg: Any, lat_deg: Any
) -> tuple[np.ndarray, np.ndarray]:
    lon = np.radians(np.asarray(lon_deg, dtype=np.float64))
    lat = np.radians(np.asarray(lat_deg, dtype=np.float64))
    lon, lat = np.broadcast_arrays(lon, lat)
    cl = np.cos(lat)
    v = np.stack([cl * np.cos(lon), cl * np.sin(lon), np.sin(lat)])
    x, y, z = np.tensordot(matrix, v, axes=1)
    out_lon = np.degrees(np.arctan2(y, x)) % 360.0
    out_lat = np.degrees(np.arctan2(z, np.hypot(x, y)))
    return out_lon, out_lat


def icrs_to_galactic(ra_deg: Any, dec_deg: Any) -> tuple[np.ndarray, np.ndarray]:
    """Galactic (l, b) in degrees (l in [0, 360)) of ICRS (ra, dec) in degrees.

    Arrays broadcast; non-finite input gives NaN. Matches astropy's ``SkyCoord(...).galactic``
    to ~1e-10 deg (the Galactic frame is defined on FK5 J2000, hence the frame-bias step).
    """
    return _spherical_rotate(_ICRS_TO_GAL, ra_deg, dec_deg)


def icrs_to_galactic_one(ra_deg: float, dec_deg: float) -> tuple[float, float]:
    """:func:`icrs_to_galactic` of one position in plain Python floats (same formulae)."""
    lon, lat = math.radians(ra_deg), math.radians(dec_deg)
    cl = math.cos(lat)
    v = (cl * math.cos(lon), cl * math.sin(lon), math.sin(lat))
    x, y, z = (m[0] * v[0] + m[1] * v[1] + m[2] * v[2] for m in _ICRS_TO_GAL_ROWS)
    return math.degrees(math.atan2(y, x)) % 360.0, math.degrees(math.atan2(z, math.hypot(x, y)))


_ICRS_TO_GAL_ROWS = _ICRS_TO_GAL.tolist()
