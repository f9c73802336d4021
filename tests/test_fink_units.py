"""The Fink adapter's pieces that need no Spark: Fink's cross-match values as context, pandas
inputs as packets (null structs, float ids), the filters on pandas, and the batch boundary."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

pd = pytest.importorskip("pandas")

import vra_filters as vra  # noqa: E402
from vra_filters.readers import ztf  # noqa: E402
from vra_fink import packets, scoring  # noqa: E402
from vra_fink.filters import load  # noqa: E402

DATA = Path(__file__).resolve().parent / "data" / "fink"


def test_fink_cross_matches_in_the_packets_reach_the_cores_rank_and_tier():
    """The packets carry Fink's ZTF cross-matches at the top level, as Fink's files do; the
    core maps them (TNS -> rank 10, Mangrove host -> fast track, SIMBAD CV -> a catalogued
    galactic source, roid 3 -> never a candidate) and the row reports the context used."""
    packet = next(r.data for r in ztf.iter_records(DATA / "ztf_few_SLSN_alerts.parquet")
                  if r.data["objectId"] == "ZTF18acenqto")

    def scored(**changes):
        (row,) = scoring.score_packets([dict(packet, **changes)], "ztf")
        assert row["reason"] is None
        return row

    near = scored(tns="SLSN-I", mangrove={"lum_dist": "40"}, cdsxmatch="Galaxy")
    assert near["rank"] == 10.0 and near["tns_name"] == "SLSN-I"
    assert near["tier"] == "fast_track" and near["distance_mpc"] == 40.0
    far = scored(tns="SLSN-I", mangrove={"lum_dist": "400"}, cdsxmatch="Galaxy")
    assert far["tier"] == "extragalactic" and far["p_real"] == near["p_real"]
    assert far["catalogue_class"] is None and far["known_sso"] is False
    cv = scored(tns="", mangrove={"lum_dist": "Fail 503"}, cdsxmatch="CV*")
    assert cv["catalogue_class"] == "CV" and cv["distance_mpc"] is None
    assert cv["p_real"] != far["p_real"]  # the VRA's CV feature read the class
    asteroid = scored(tns="SLSN-I", roid=3)
    assert asteroid["known_sso"] is True and asteroid["tier"] not in ("fast_track",
                                                                     "extragalactic")


def test_a_null_struct_is_a_missing_record_and_ids_of_zero_count_as_null():
    frame = pd.DataFrame({"diaSourceId": [5, 0, 0], "ra": [1.0, math.nan, 2.0],
                          "band": ["g", None, None]})
    rows = packets.records(frame, 3)
    assert rows[0] == {"diaSourceId": 5, "ra": 1.0, "band": "g"} and rows[1] is None
    assert rows[2]["ra"] == 2.0


def test_float_ids_above_2_53_are_refused_with_the_reason():
    frame = pd.DataFrame({"diaObjectId": [170028485706776685.0, math.nan, 12.0]})
    why = packets.inexact_ids(frame, "diaSource")
    assert why[1] is None and why[2] is None
    assert why[0].startswith("diaSource.diaObjectId arrived as a float")
    assert packets.inexact_ids(pd.DataFrame({"diaObjectId": [170028485706776685]}),
                               "diaSource") == [None]


def test_map_and_struct_host_columns():
    as_map = pd.Series([[("lum_dist", "57.0"), ("ang_dist", "55.7")], None])
    assert packets.column_of(as_map, "lum_dist", 2) == ["57.0", None]
    as_struct = pd.DataFrame({"lum_dist": ["None", "12.5"]})
    assert packets.column_of(as_struct, "lum_dist", 2) == ["None", "12.5"]
    assert packets.column_of(None, "lum_dist", 2) == [None, None]


def test_filters_on_pandas():
    vra_col = pd.DataFrame({"tier": ["fast_track", "fast_track", "extragalactic", "galactic",
                                     None],
                            "known_sso": [False, True, False, False, None]})
    assert load("vra_fast_track")(vra_col).tolist() == [True, False, False, False, False]
    assert load("vra_extragalactic")(vra_col).tolist() == [True, False, True, False, False]
    import importlib
    for name in ("vra_fast_track", "vra_extragalactic"):
        module = importlib.import_module(f"vra_fink.filters.rubin.livestream.filter_{name}"
                                         ".filter")
        assert module.HBASE_SUPPORT is True and "VRA" in module.DESCRIPTION


def test_alerts_of_one_object_go_in_separate_calls():
    assert scoring.object_rounds(["a", "b", "a", "c", "a", "b"]) == [[0, 1, 3], [2, 5], [4]]


class _Broken:
    def score(self, lcs, history="given"):
        raise RuntimeError("disk on fire")


def test_a_failing_scorer_gives_every_row_a_reason_not_an_exception():
    records = [r.data for r in ztf.iter_records(DATA / "ztf_fink_filters_regular.parquet")]
    records[1] = {"objectId": "ZTF00", "candidate": None}
    rows = scoring.score_packets(records, "ztf", s=_Broken())
    assert rows[1] == {"reason": "candidate: missing"}
    assert all(r == {"reason": "scorer failed: RuntimeError: disk on fire"}
               for i, r in enumerate(rows) if i != 1)
    frame = scoring.frame(rows)
    assert list(frame.columns) == scoring.NAMES and frame["p_real"].isna().all()


def test_scores_equal_the_core_scored_alone():
    records = [r.data for r in ztf.iter_records(DATA / "fink_ztf_part-3-305711.avro")]
    rows = scoring.score_packets(records, "ztf")
    s = scoring.scorer()
    for record, row in zip(records, rows):
        (ann,) = s.score([ztf.from_record(record)], history="packet").annotations
        assert (row["p_real"], row["rank"], row["visit"], row["tier"], row["tns_name"]) == (
            ann.p_real, ann.rank, ann.visit, ann.tier, ann.tns_name)
        assert row["oracle_leaf_class"] == ann.oracle["top"]["leaf"]["class"]
    assert sum(r["rank"] == 10.0 for r in rows) == 5  # the sample's TNS objects
    assert scoring.LOADS == 1 and isinstance(s, vra.Scorer)


def test_remote_paths_are_left_to_spark():
    from vra_fink import job

    assert job.is_local("out/x") and job.is_local("file:///tmp/x")
    assert not job.is_local("hdfs:///fink/science") and not job.is_local("s3a://b/k")
    assert job.input_format("hdfs:///fink/science/2026") == "parquet"
    assert job.input_format("s3a://bucket/alerts.avro") == "avro"
    assert job.input_format(str(DATA / "fink_lsst_part-2-918301.avro")) == "avro"
    with pytest.raises(job.JobError, match="expected .parquet or .avro files"):
        job.input_format(str(DATA))  # a folder of mixed files
