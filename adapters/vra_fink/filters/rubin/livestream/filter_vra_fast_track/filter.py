"""Fink filter ``vra_fast_track``: the VRA's fast track (topic ``fink_vra_fast_track_lsst``).

A plain function of the science module's output struct (fink-filters' Rubin convention: the
argument name ``vra`` is the column it binds to); usable on ZTF output too.
"""

from __future__ import annotations

import pandas as pd

DESCRIPTION = ("VRA fast track: likely real extragalactic transients (VRA rank >= 7, or a TNS "
               "object) with a host galaxy closer than 100 Mpc; known solar-system objects "
               "excluded. From the vra_filters science module (VRA + ORACLE).")
HBASE_SUPPORT = True


def vra_fast_track(vra: pd.DataFrame) -> pd.Series:
    """True for alerts in the VRA ``fast_track`` tier that are not known asteroids.

    Parameters
    ----------
    vra: the science module's struct column (fields ``tier``, ``known_sso``)
    """
    known = vra["known_sso"].eq(True).fillna(False).astype(bool)
    return pd.Series((vra["tier"] == "fast_track") & ~known, index=vra.index)
