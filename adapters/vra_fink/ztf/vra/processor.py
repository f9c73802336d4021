"""VRA scores, eyeball tier and ORACLE classes for every ZTF alert: a Fink science module.

``vra_ztf`` is a scalar pandas UDF (one Arrow batch in, one struct column out, fields in
:mod:`vra_fink.schema`). It reads the alert's own history (``candidate`` and
``prv_candidates``, upper limits included) and Fink's cross-match columns, and scores it with
the core's stateless path (``history="packet"``), models loaded once per Python worker. A
malformed alert gives nulls and a ``reason``; it never fails the Spark job.

In fink-broker's ``fink_broker/ztf/science.py``::

    from fink_science.ztf.vra.processor import vra_ztf
    df = df.withColumn("vra", vra_ztf(*vra_fink.columns.ztf_columns(df)))
"""

from __future__ import annotations

import pandas as pd
from pyspark.sql.functions import pandas_udf

from ..._profile import profile
from ...schema import DDL
from ...scoring import frame, score_ztf


@pandas_udf(DDL)
@profile
def vra_ztf(objectId: pd.Series, candid: pd.Series, candidate: pd.DataFrame,
            prv_candidates: pd.Series, xm: pd.DataFrame) -> pd.DataFrame:
    """VRA + ORACLE results of a batch of ZTF alerts (one struct per alert).

    Parameters
    ----------
    objectId: string, ZTF object name
    candid: long, the alert's candidate id
    candidate: struct column, the triggering detection (``jd``, ``fid``, ``magpsf``...)
    prv_candidates: array<struct>, the last 30 days' detections and upper limits
    xm: struct column of Fink's cross-matches: ``tns`` (the TNS type; "" when none),
        ``cdsxmatch`` (SIMBAD type), ``roid`` (3 = known solar-system object), ``gcvs``,
        ``vsx``, ``lum_dist`` (Mangrove host distance in Mpc, as text)

    Returns
    -------
    pd.DataFrame with the fields of ``vra_fink.schema.FIELDS``; ``reason`` is null when the
    alert was scored.
    """
    return frame(score_ztf(objectId, candid, candidate, prv_candidates, xm))
