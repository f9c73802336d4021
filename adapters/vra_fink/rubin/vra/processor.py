"""VRA scores, eyeball tier and ORACLE classes for every Rubin alert: a Fink science module.

``vra_rubin`` is a scalar pandas UDF (one Arrow batch in, one struct column out, fields in
:mod:`vra_fink.schema`). It reads the alert's own history (``diaSource``, ``prvDiaSources``,
``prvDiaForcedSources``, ``diaObject``) and Fink's cross-match columns, and scores it with the
core's stateless path (``history="packet"``), models loaded once per Python worker. A malformed
alert gives nulls and a ``reason``; it never fails the Spark job.

In fink-broker's ``fink_broker/rubin/science.py`` (cross-match columns are flat there)::

    from fink_science.rubin.vra.processor import vra_rubin
    df = df.withColumn("vra", vra_rubin(*vra_fink.columns.rubin_columns(df)))

``vra_fink.columns.rubin_columns`` selects only the fields the readers use (and makes null ids
0) and gathers Fink's cross-matches, flat or nested, into the ``xm`` and ``pred`` structs; the
full struct columns work too (``vra_rubin("diaSource", "prvDiaSources", ..., "xm", "pred")``).
"""

from __future__ import annotations

import pandas as pd
from pyspark.sql.functions import pandas_udf

from ..._profile import profile
from ...schema import DDL
from ...scoring import frame, score_rubin


@pandas_udf(DDL)
@profile
def vra_rubin(diaSource: pd.DataFrame, prvDiaSources: pd.Series,
              prvDiaForcedSources: pd.Series, diaObject: pd.DataFrame, xm: pd.DataFrame,
              pred: pd.DataFrame) -> pd.DataFrame:
    """VRA + ORACLE results of a batch of Rubin alerts (one struct per alert).

    Parameters
    ----------
    diaSource: struct column, the triggering source (``psfFlux`` in nJy, ``midpointMjdTai``)
    prvDiaSources: array<struct>, earlier detections of the object (current one excluded)
    prvDiaForcedSources: array<struct>, forced photometry (fixed position, nJy)
    diaObject: struct column (position; null for solar-system alerts)
    xm: struct column, Fink's cross-matches (``tns_fullname``, ``mangrove_lum_dist`` in Mpc,
        ``simbad_otype``, ...; null fields when absent)
    pred: struct column with Fink's ``is_sso``

    Returns
    -------
    pd.DataFrame with the fields of ``vra_fink.schema.FIELDS``; ``reason`` is null when the
    alert was scored.
    """
    return frame(score_rubin(diaSource, prvDiaSources, prvDiaForcedSources, diaObject, xm,
                             pred))
