"""The VRA score space: where (p_real, p_gal) puts an alert.

Both functions are plain arithmetic on arrays, vectorised over a batch.
"""

from __future__ import annotations

import numpy as np


def vra_score(p_real: np.ndarray, p_gal: np.ndarray, f: float = 0.5) -> np.ndarray:
    """ATLAS VRA paper eq. 2: 0-10, 10 at (p_real, p_gal) = (1, 0).

    The distance to the "real and extragalactic" corner, with the galactic axis squeezed by
    ``f``, inverted and normalised so the far corner (0, 1) scores 0.
    """
    p_real = np.asarray(p_real, dtype=float)
    p_gal = np.asarray(p_gal, dtype=float)
    norm = np.sqrt(f * f + 1.0)
    return 10.0 * (norm - np.sqrt((1.0 - p_real) ** 2 + (f * p_gal) ** 2)) / norm


def galactic_candidate(p_real: np.ndarray, p_gal: np.ndarray, f: float = 0.9,
                       radius: float = 0.4) -> np.ndarray:
    """True within ``radius`` of the "real and galactic" corner (1, 1), the galactic axis
    scaled by ``f`` (ATLAS VRA 1.1: f = 0.9, radius 0.4)."""
    p_real = np.asarray(p_real, dtype=float)
    p_gal = np.asarray(p_gal, dtype=float)
    return np.sqrt((1.0 - p_real) ** 2 + (f * (1.0 - p_gal)) ** 2) <= radius
