"""Fink filter ``vra_extragalactic``: the VRA's eyeball list (topic
``fink_vra_extragalactic_lsst``).

A plain function of the science module's output struct (fink-filters' Rubin convention: the
argument name ``vra`` is the column it binds to); usable on ZTF output too.
"""

from __future__ import annotations

import pandas as pd

DESCRIPTION = ("VRA extragalactic candidates: alerts the VRA puts on its eyeball list (rank >= "
               "7, or a TNS object), fast-track alerts included; known solar-system objects "
               "excluded. From the vra_filters science module (VRA + ORACLE).")
HBASE_SUPPORT = True

#: Tiers of the eyeball list (the fast track is its nearby subset).
TIERS = ("fast_track", "extragalactic")


def vra_extragalactic(vra: pd.DataFrame) -> pd.Series:
    """True for alerts in the VRA ``extragalactic`` or ``fast_track`` tier that are not known
    asteroids.

    Parameters
    ----------
    vra: the science module's struct column (fields ``tier``, ``known_sso``)
    """
    known = vra["known_sso"].eq(True).fillna(False).astype(bool)
    return pd.Series(vra["tier"].isin(TIERS) & ~known, index=vra.index)
