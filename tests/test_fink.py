"""The Fink science modules inside real Spark (pyspark 3.5.9, local[1]) on real Fink samples.

What is pinned: every valid alert gets a non-null result and exactly the core's numbers for
that alert scored on its own (read from the file without Spark); the result equals the stateful
path fed the object's earlier alerts; Fink's cross-match columns reach the TNS rule and the fast
track; malformed rows get nulls and a reason without failing the job; the scorer loads once per
Python worker. The session's Arrow batches hold 8 rows, so every file spans several batches and
some objects have several alerts in one batch.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

pytest.importorskip("pyspark", reason="pyspark is not installed (pip install '.[fink]')")
pd = pytest.importorskip("pandas")

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from earlier_alerts import rubin_earlier, ztf_earlier  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402

import vra_filters as vra  # noqa: E402
from vra_filters.readers import rubin, ztf  # noqa: E402
from vra_fink import job, schema  # noqa: E402
from vra_fink.columns import module_for, rubin_columns  # noqa: E402

DATA = Path(__file__).resolve().parent / "data" / "fink"
RUBIN_RAW = DATA / "rubin_sample_data_10_0.parquet"
RUBIN_AVRO = DATA / "fink_lsst_part-2-918301.avro"
ZTF_AVRO = DATA / "fink_ztf_part-3-305711.avro"
ZTF_SLSN = DATA / "ztf_few_SLSN_alerts.parquet"
ZTF_REGULAR = DATA / "ztf_fink_filters_regular.parquet"
SAMPLES = [(RUBIN_RAW, rubin), (RUBIN_AVRO, rubin), (ZTF_AVRO, ztf), (ZTF_SLSN, ztf),
           (ZTF_REGULAR, ztf)]


@pytest.fixture(scope="module")
def core():
    return vra.Scorer.load()


def _key(reader, packet):
    return packet["diaSource"]["diaSourceId"] if reader is rubin else packet["candid"]


def _read(reader, packet):
    """The core reader's light curve of a packet read without Spark. (A ``mangrove`` map
    column comes out of pyarrow as key/value pairs, which the core's cross-match mapping does
    not read; Spark hands the module a record, so the test does the same.)"""
    host = packet.get("mangrove")
    if isinstance(host, list):
        packet = dict(packet, mangrove=dict(host))
    return reader.from_record(packet)


def _alone(core, reader, packet):
    """The core's result for one alert scored on its own."""
    try:
        lc = _read(reader, packet)
    except vra.InputError as exc:
        return vra.Skip("", str(exc))
    return core.score([lc], history="packet").results[0]


def _module(spark, path, key):
    df = job.read(spark, str(path))
    udf, args = module_for(df)
    return {r["k"]: r["vra"].asDict()
            for r in df.select(F.col(key).alias("k"), udf(*args).alias("vra")).collect()}


def _same_numbers(got: dict, ann: vra.Annotation) -> None:
    """Every field of the module's struct equals the core annotation's (exactly)."""
    for name in ("object_id", "alert_id", "survey", "mjd", "visit", "phase", "stage", "status",
                 "p_real", "p_gal", "vra_score", "rank", "galactic", "tier", "tns_name",
                 "ebv", "explanation", "settings"):
        assert got[name] == getattr(ann, name), name
    assert got["reason"] is None
    block = ann.oracle
    assert got["oracle_status"] == block["status"]
    assert got["oracle_warnings"].split(",") == (block["warnings"] or [""])
    if block["status"] == "ok":
        assert (got["oracle_class"], got["oracle_prob"]) == (
            block["most_specific"]["class"], block["most_specific"]["p"])
        for level in ("level1", "level2", "leaf"):
            assert got[f"oracle_{level}_class"] == block["top"][level]["class"]
            assert got[f"oracle_{level}_prob"] == block["top"][level]["p"]
    assert got["oracle_model"].startswith(f"{block['model']}/{block['checkpoint']}/")
    assert got["vra_models"].count("vra/duck/") == 2 and got["vra_filters_version"]


@pytest.mark.parametrize("path,reader", SAMPLES, ids=lambda v: getattr(v, "name", None))
def test_every_alert_gets_exactly_the_cores_result(request, path, reader, core):
    spark = request.getfixturevalue("spark_avro" if path.suffix == ".avro" else "spark")
    got = _module(spark, path, "diaSource.diaSourceId" if reader is rubin else "candid")
    packets = [r.data for r in reader.iter_records(path)]
    assert len(got) == len(packets) > 0
    scored = 0
    for packet in packets:
        row = got[_key(reader, packet)]
        assert row is not None
        expected = _alone(core, reader, packet)
        if isinstance(expected, vra.Skip):
            assert row["reason"] == expected.reason and row["p_real"] is None
            continue
        _same_numbers(row, expected)
        scored += 1
    assert scored == len(packets)  # these real samples are all valid


@pytest.mark.parametrize("path,reader,objects", [
    (RUBIN_RAW, rubin, None),  # the alerts with 2, 16 and 22 earlier detections
    (ZTF_SLSN, ztf, {"ZTF18abslpjy", "ZTF25abeqaoy"}),
], ids=["rubin", "ztf"])
def test_stateless_module_equals_the_stateful_path_fed_the_earlier_alerts(spark, tmp_path, core,
                                                                           path, reader,
                                                                           objects):
    table = pq.read_table(path)
    chosen = []
    for packet in table.to_pylist():
        if reader is rubin and len(packet["prvDiaSources"] or []) >= 2:
            chosen.append(rubin_earlier(packet))
        elif reader is ztf and packet["objectId"] in objects:
            chosen.append(ztf_earlier(packet))
            objects = objects - {packet["objectId"]}
    assert len(chosen) >= 2
    rows = [p for alerts in chosen for p in alerts]
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), tmp_path / "earlier.parquet")
    key = "diaSource.diaSourceId" if reader is rubin else "candid"
    got = _module(spark, tmp_path / "earlier.parquet", key)
    steps = 0
    for alerts in chosen:
        stream = vra.Stream(core, vra.MemoryStore())
        for packet in alerts:  # the stateful path: each earlier alert in turn, state kept
            (stateful,) = stream.process([_read(reader, packet)])
            _same_numbers(got[_key(reader, packet)], stateful)
            steps += 1
        assert got[_key(reader, alerts[-1])]["visit"] == len(alerts)
    assert steps == len(rows) >= 12


def test_fink_cross_match_reaches_the_tns_rule_and_the_fast_track(spark):
    """A TNS name gives rank 10 and a host under 100 Mpc the fast track (Rubin columns found
    flat, as inside fink-broker); ZTF's ``tns`` (the TNS type) gives rank 10 too."""
    df = job.read(spark, str(RUBIN_RAW))
    plain = _scored(df, "diaSource.diaSourceId")
    marked = df.withColumn("tns_fullname", F.lit("SN 2026abc")) \
        .withColumn("mangrove_lum_dist", F.lit(55.0))
    tagged = _scored(marked, "diaSource.diaSourceId")
    assert all(r["tier"] in ("garbage", "purgatory") for r in plain.values())
    asteroids = [k for k, r in tagged.items() if r["known_sso"]]
    assert len(asteroids) == 3  # the sample's solar-system alerts (ssObjectId)
    for k, row in tagged.items():
        assert row["tns_name"] == "SN 2026abc" and row["distance_mpc"] == 55.0
        assert row["vra_score"] == plain[k]["vra_score"]
        if k in asteroids:  # the core's rule: a known asteroid is never a candidate
            assert row["tier"] not in ("fast_track", "extragalactic") and row["rank"] < 7
            continue
        # rank 10 on every replayed visit too: never garbage; past +15 days, purgatory
        assert row["rank"] == 10.0
        assert row["tier"] == ("purgatory" if row["phase"] > 15 else "fast_track")
    assert sum(r["tier"] == "fast_track" for r in tagged.values()) >= 19

    rows = _scored(job.read(spark, str(ZTF_SLSN)), "candid")
    packets = {p["candid"]: p for p in (r.data for r in ztf.iter_records(ZTF_SLSN))}
    assert 0 < sum(bool(p["tns"]) for p in packets.values()) < len(packets)
    for k, row in rows.items():
        assert (row["rank"] == 10.0) == bool(packets[k]["tns"])
        assert row["tns_name"] == (packets[k]["tns"] or None)


def _scored(df, key):
    udf, args = module_for(df)
    return {r["k"]: r["vra"].asDict()
            for r in df.select(F.col(key).alias("k"), udf(*args).alias("vra")).collect()}


def _numbered(df, key):
    from pyspark.sql import Window

    return df.withColumn("n", F.row_number().over(Window.orderBy(key)) - 1)


def _reasons(df):
    udf, args = module_for(df)
    return {r["n"]: r["vra"].asDict() for r in df.select("n", udf(*args).alias("vra")).collect()}


def _core_reason(core, reader, packet):
    res = _alone(core, reader, packet)
    return res.reason if isinstance(res, vra.Skip) else None


def test_malformed_rubin_rows_get_nulls_and_the_readers_reason(spark, core):
    df = _numbered(job.read(spark, str(RUBIN_RAW)), "diaSourceId").filter("n < 6")
    src, n = F.col("diaSource"), F.col("n")
    none = F.lit(None)
    bad = df.withColumn("diaSource", F.when(n == 0, src.withField("band", F.lit("q")))
                        .when(n == 1, none.cast(df.schema["diaSource"].dataType))
                        .when(n == 2, src.withField("midpointMjdTai", F.lit(float("nan"))))
                        .when(n == 3, src.withField("psfFlux", none.cast("float")))
                        .when(n == 4, src.withField("diaObjectId", none.cast("long"))
                              .withField("ssObjectId", none.cast("long")))
                        .otherwise(src)) \
        .withColumn("diaObject", F.when(n == 4, none.cast(df.schema["diaObject"].dataType))
                    .otherwise(F.col("diaObject")))
    rows = _reasons(bad)
    packets = sorted((r.data for r in rubin.iter_records(RUBIN_RAW)),
                     key=lambda p: p["diaSourceId"])[:6]
    packets[0]["diaSource"]["band"] = "q"
    packets[1]["diaSource"] = None
    packets[2]["diaSource"]["midpointMjdTai"] = math.nan
    packets[3]["diaSource"]["psfFlux"] = None
    packets[4]["diaSource"].update(diaObjectId=None, ssObjectId=None)
    packets[4]["diaObject"] = None
    for i in range(5):
        why = _core_reason(core, rubin, packets[i])
        assert why and rows[i]["reason"] == why
        assert all(v is None for k, v in rows[i].items() if k != "reason")
    assert "unknown band 'q'" in rows[0]["reason"] and rows[1]["reason"] == "diaSource: missing"
    assert rows[5]["reason"] is None and rows[5]["p_real"] is not None


def test_malformed_ztf_rows_get_nulls_and_the_readers_reason(spark, core):
    df = _numbered(job.read(spark, str(ZTF_REGULAR)), "candid")
    cand, n = F.col("candidate"), F.col("n")
    bad = df.withColumn("candidate", F.when(n == 0, cand.withField("fid", F.lit(7)))
                        .when(n == 1, cand.withField("jd", F.lit(float("inf"))))
                        .when(n == 2, cand.withField("magpsf", F.lit(None).cast("float")))
                        .otherwise(cand)) \
        .withColumn("objectId", F.when(n == 3, F.lit(None)).otherwise(F.col("objectId")))
    rows = _reasons(bad)
    packets = sorted((r.data for r in ztf.iter_records(ZTF_REGULAR)), key=lambda p: p["candid"])
    packets[0]["candidate"]["fid"] = 7
    packets[1]["candidate"]["jd"] = math.inf
    packets[2]["candidate"]["magpsf"] = None
    packets[3]["objectId"] = None
    for i in range(4):
        why = _core_reason(core, ztf, packets[i])
        assert why and rows[i]["reason"] == why
        assert all(v is None for k, v in rows[i].items() if k != "reason")
    assert rows[0]["reason"] == "candidate.fid: unknown ZTF filter id 7"
    assert rows[3]["reason"] == "objectId: missing"
    assert all(rows[i]["reason"] is None and rows[i]["tier"] for i in range(4, len(rows)))
    # A null candidate struct (its fields arrive as nulls) is a missing candidate.
    gone = df.withColumn("candidate", F.when(n == 1, F.lit(None).cast(
        df.schema["candidate"].dataType)).otherwise(cand))
    rows = _reasons(gone)
    assert rows[1]["reason"] == "candidate: missing"
    assert all(rows[i]["reason"] is None for i in rows if i != 1)


def test_a_float_id_is_refused_not_rounded(spark):
    """Whole struct columns (no column selection): a null diaObjectId in the batch turns the
    batch's ids into float64, which cannot hold them; those rows say so instead of scoring a
    wrong object."""
    from vra_fink.rubin.vra.processor import vra_rubin

    df = job.read(spark, str(RUBIN_RAW)).orderBy("diaSourceId").limit(4) \
        .withColumn("n", F.monotonically_increasing_id())
    df = df.withColumn("diaSource", F.when(F.col("n") == 0, F.col("diaSource").withField(
        "diaObjectId", F.lit(None).cast("long"))).otherwise(F.col("diaSource")))
    none = F.lit(None).cast("struct<tns_fullname: string>")
    out = df.select("n", "diaSource.diaObjectId", vra_rubin(
        "diaSource", "prvDiaSources", "prvDiaForcedSources", "diaObject", none, none)
        .alias("vra")).collect()
    refused = [r for r in out if r["vra"]["reason"] and "not exact" in r["vra"]["reason"]]
    assert refused and all(r["diaObjectId"] and r["diaObjectId"] > 2 ** 53 for r in refused)
    assert all(r["vra"]["object_id"] is None for r in refused)
    # through the column selection the same rows are scored with their exact ids
    selected = df.select("n", "diaSource.diaObjectId", vra_rubin(*rubin_columns(df))
                         .alias("vra")).collect()
    for r in selected:
        if r["n"] != 0 and r["diaObjectId"]:
            assert r["vra"]["object_id"] == str(r["diaObjectId"])


def test_the_scorer_is_loaded_once_per_python_worker(spark):
    """Many Arrow batches (8 rows each), one load per worker process."""
    from pyspark.sql.functions import pandas_udf

    @pandas_udf("string")
    def loads(x: pd.Series) -> pd.Series:
        from vra_fink import scoring as s
        s.scorer()
        return pd.Series([f"{os.getpid()}:{s.LOADS}"] * len(x))

    df = job.read(spark, str(ZTF_SLSN))
    udf, args = module_for(df)
    rows = df.select(udf(*args).alias("vra"), loads(F.col("candid")).alias("probe")).collect()
    assert len(rows) == 55 and all(r["vra"]["reason"] is None for r in rows)
    assert {p.split(":")[1] for p in (r["probe"] for r in rows)} == {"1"}


def test_output_struct_is_the_declared_schema(spark):
    df = job.read(spark, str(ZTF_REGULAR))
    udf, args = module_for(df)
    out = df.select(udf(*args).alias("vra"))
    declared = spark.createDataFrame([], f"vra {schema.DDL}").schema["vra"].dataType
    assert out.schema["vra"].dataType == declared
    assert [f.name for f in declared.fields] == schema.NAMES
    assert all(math.isfinite(r["vra"]["p_real"]) for r in out.collect())
