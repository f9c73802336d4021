"""``vra fink run`` / ``vra fink bench``: the Spark job over real Fink files (parquet and
Avro), its output folder, the filters as Fink applies them, and its errors in plain words."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("pyspark", reason="pyspark is not installed (pip install '.[fink]')")
pytest.importorskip("pandas")

from pyspark.sql import functions as F  # noqa: E402

from vra_filters.cli import main  # noqa: E402
from vra_fink import bench, filters  # noqa: E402

DATA = Path(__file__).resolve().parent / "data" / "fink"
ZTF_SLSN = DATA / "ztf_few_SLSN_alerts.parquet"
RUBIN_AVRO = DATA / "fink_lsst_part-2-918301.avro"
RUBIN_RAW = DATA / "rubin_sample_data_10_0.parquet"


def _run(capsys, *args):
    code = main(["fink", "run", "--master", "local[1]", *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


def _ids(df, key="candid"):
    return sorted(r[0] for r in df.select(key).collect())


def test_run_writes_every_alert_and_each_filters_selection(spark, tmp_path, capsys):
    # The real SLSN sample (TNS objects, so rank 10), with Fink's Mangrove host distance set
    # to 50 Mpc for two objects so that the fast track has something to select: the young
    # ZTF25abmjfcf alerts move from the extragalactic tier to the fast track, ZTF18acenqto stays.
    src = spark.read.parquet(str(ZTF_SLSN))
    near = F.col("objectId").isin("ZTF25abmjfcf", "ZTF25abixhdc")
    src.withColumn("mangrove", F.when(near, F.col("mangrove").withField(
        "lum_dist", F.lit("50.0"))).otherwise(F.col("mangrove"))) \
        .write.parquet(str(tmp_path / "input"))
    code, out, err = _run(capsys, "--input", tmp_path / "input", "--output", tmp_path / "out",
                          "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary == json.loads((tmp_path / "out" / "summary.json").read_text())

    alerts = spark.read.parquet(str(tmp_path / "out" / "alerts"))
    assert alerts.count() == 55 == summary["alerts"] == summary["scored"]
    assert set(src.columns) | {"vra"} == set(alerts.columns)
    tiers = {r["tier"]: r["count"] for r in alerts.groupBy("vra.tier").count().collect()}
    assert tiers == summary["tiers"] and tiers["fast_track"] == 2 and tiers["extragalactic"] == 1
    assert alerts.filter(F.col("vra.distance_mpc").isNotNull()).count() == \
        alerts.filter(near).count()

    for name, kept in (("vra_fast_track", ["fast_track"]),
                       ("vra_extragalactic", ["fast_track", "extragalactic"])):
        selected = spark.read.parquet(str(tmp_path / "out" / name))
        expected = alerts.filter(F.col("vra.tier").isin(kept) & ~F.col("vra.known_sso"))
        assert _ids(selected) == _ids(expected) and summary["filters"][name] == len(
            _ids(expected)) > 0
        assert set(selected.columns) == set(alerts.columns)  # Fink's topics carry everything

    code, _, err = _run(capsys, "--input", tmp_path / "input", "--output", tmp_path / "out")
    assert code == 1 and "exists and is not empty (pass --overwrite)" in err


def test_run_reads_fink_avro_with_sparks_avro_source(spark_avro, spark_avro_jar, tmp_path,
                                                     capsys):
    code, out, err = _run(capsys, "--input", RUBIN_AVRO, "--output", tmp_path / "out",
                          "--avro-jar", spark_avro_jar)
    assert code == 0, err
    assert "7 lsst alerts, 7 scored, 0 not scored" in out
    alerts = spark_avro.read.parquet(str(tmp_path / "out" / "alerts"))
    sso = {r["diaSourceId"]: r["known_sso"] for r in alerts.select(
        "diaSourceId", F.col("pred.is_sso").alias("is_sso"), "vra.known_sso").collect()}
    assert sorted(sso.values()) == [False] * 5 + [True] * 2
    assert alerts.filter(F.col("vra.known_sso") != F.col("pred.is_sso")).count() == 0


def test_filters_drop_known_asteroids_and_bind_by_argument_name(spark):
    df = spark.createDataFrame(
        [(1, "fast_track", False), (2, "fast_track", True), (3, "extragalactic", False),
         (4, "garbage", False), (5, None, None)],
        "id long, tier string, known_sso boolean") \
        .select("id", F.struct("tier", "known_sso").alias("vra"))
    assert _ids(filters.apply(df, filters.load("vra_fast_track")), "id") == [1]
    assert _ids(filters.apply(df, filters.load("vra_extragalactic")), "id") == [1, 3]
    with pytest.raises(ValueError, match="matches no column"):
        filters.resolve(df.select("id"), "vra")


@pytest.mark.parametrize("make,message", [
    (lambda d: d / "nothing.parquet", "no such file or folder"),
    (lambda d: _touch(d / "a.avro.gz"), "gzipped Avro (.avro.gz) is not read"),
    (lambda d: _touch(d / "a.csv"), "expected .parquet or .avro files"),
])
def test_run_says_what_is_wrong_with_the_input(spark, tmp_path, capsys, make, message):
    code, _, err = _run(capsys, "--input", make(tmp_path), "--output", tmp_path / "out")
    assert code == 1 and message in err


def test_run_refuses_a_table_that_is_not_fink_alerts(spark, tmp_path, capsys):
    spark.createDataFrame([(1, 2.0)], "a long, b double").write.parquet(str(tmp_path / "t"))
    code, _, err = _run(capsys, "--input", tmp_path / "t", "--output", tmp_path / "out")
    assert code == 1 and "not a Fink alert table" in err


def _touch(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def test_bench_times_the_module_and_the_bare_core(spark):
    result = bench.bench(str(RUBIN_RAW), copies=2, runs=1, batch=8)
    assert result["alerts"] == 50 and result["not_scored"] == 0
    assert result["oracle"] == ["lsst", "ztf"]
    assert result["spark_alerts_per_s"] > 0 and result["core_alerts_per_s"] > 0
    assert "alerts/s/core" in bench.text(result)
