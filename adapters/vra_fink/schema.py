"""The science module's output: one struct column, the same fields for Rubin and ZTF.

A scored alert has every field its annotation gives and ``reason`` null; an alert that could
not be scored has every field null except ``reason`` (in plain words). ORACLE fields are null
when ORACLE gave no class (``oracle_status`` then says why) or was not run.
"""

from __future__ import annotations

from typing import List, Tuple

#: (name, Spark SQL type, meaning). Order = the struct's field order.
FIELDS: List[Tuple[str, str, str]] = [
    ("object_id", "string", "diaObjectId (sso_<ssObjectId> for solar-system alerts) / objectId"),
    ("alert_id", "string", "the triggering diaSourceId / candid"),
    ("survey", "string", "lsst or ztf"),
    ("mjd", "double", "time of the alert (MJD; TAI for Rubin, UTC for ZTF)"),
    ("visit", "int", "how many visits of the object the VRA has counted, this one included "
                     "(replayed from the alert's own earlier detections)"),
    ("phase", "double", "days since phase zero (midnight of the first detection's night)"),
    ("stage", "string", "VRA feature set: day1 (first night) or dayN"),
    ("status", "string", "new (a new visit) or out_of_order"),
    ("p_real", "double", "VRA real/bogus scorer: probability the transient is real"),
    ("p_gal", "double", "VRA galactic scorer: probability the transient is galactic"),
    ("vra_score", "double", "VRA score (ATLAS VRA eq. 2, 0-10) from p_real and p_gal"),
    ("rank", "double", "VRA rank after the policies: the score, or 10 for a TNS object"),
    ("galactic", "boolean", "the VRA flags a galactic candidate"),
    ("tier", "string", "fast_track, extragalactic, galactic, purgatory or garbage"),
    ("tns_name", "string", "the TNS match the rank-10 rule used (null: none)"),
    ("distance_mpc", "double", "host distance used by the fast track (Mpc; null: unknown)"),
    ("catalogue_class", "string", "catalogue class given to the VRA (CV, VS, AGN; null: none)"),
    ("known_sso", "boolean", "a known solar-system object (the policies never make it a "
                             "candidate)"),
    ("ebv", "double", "Milky Way E(B-V) used by the VRA features"),
    ("explanation", "string", "the features that pushed the VRA score most"),
    ("oracle_status", "string", "ORACLE outcome: ok, or why it gave no class"),
    ("oracle_class", "string", "ORACLE most specific class above its threshold"),
    ("oracle_prob", "double", "probability of oracle_class"),
    ("oracle_level1_class", "string", "ORACLE top class at level 1 (Transient, Variable...)"),
    ("oracle_level1_prob", "double", "probability of oracle_level1_class"),
    ("oracle_level2_class", "string", "ORACLE top class at level 2 (SN, Fast, Long...)"),
    ("oracle_level2_prob", "double", "probability of oracle_level2_class"),
    ("oracle_leaf_class", "string", "ORACLE top leaf class (SNIa, SNII, TDE...)"),
    ("oracle_leaf_prob", "double", "probability of oracle_leaf_class"),
    ("oracle_warnings", "string", "caveats to read the ORACLE classes with, comma-separated "
                                  "(too_few_points, missing_metadata, ...); empty: none"),
    ("oracle_model", "string", "ORACLE model/checkpoint/variant and sha256 prefix"),
    ("vra_models", "string", "VRA scorers used (name@version:sha256 prefix)"),
    ("vra_filters_version", "string", "vra_filters version"),
    ("settings", "string", "fingerprint of every model file and setting (Scorer.fingerprint)"),
    ("reason", "string", "why the alert was not scored; null when scored"),
]

NAMES: List[str] = [name for name, _, _ in FIELDS]
#: The struct as a Spark DDL string (what ``pandas_udf`` takes; no pyspark import needed).
DDL = "struct<" + ", ".join(f"{name}: {kind}" for name, kind, _ in FIELDS) + ">"
#: Name of the output column the job adds (and the filters' argument).
COLUMN = "vra"
