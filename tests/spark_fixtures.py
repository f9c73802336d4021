"""One SparkSession for every Spark test (session scope): real pyspark, ``local[1]``.

Spark starts in 6-15 s here, so it starts once. The driver binds to 127.0.0.1 (also
``SPARK_LOCAL_IP``) and the UI is off: the tests touch nothing but 127.0.0.1. The Avro data
source jar (``spark-avro_2.12`` of the installed pyspark) is fetched with Maven into
``.cache/spark/`` by ``tools/spark/fetch.sh`` the first time; without Maven the session starts
without it and only the Avro tests skip (``spark_avro``), saying why. Without pyspark or Java
every Spark test skips with the reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FETCH = ROOT / "tools" / "spark" / "fetch.sh"
#: Arrow batch size of the test session: small, so a test file spans several batches.
ARROW_BATCH = 8


def _fetch_avro_jar():
    """(jar path, None) or (None, why not)."""
    try:
        out = subprocess.run(["bash", str(FETCH)], capture_output=True, text=True,
                             timeout=300, env=dict(os.environ, PYTHON=sys.executable))
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"tools/spark/fetch.sh did not finish: {exc}"
    if out.returncode != 0:
        return None, ("tools/spark/fetch.sh could not fetch spark-avro: "
                      + (out.stderr.strip().splitlines() or ["no output"])[-1])
    return out.stdout.strip().splitlines()[-1], None


@pytest.fixture(scope="session")
def _spark_setup():
    pytest.importorskip("pyspark", reason="pyspark is not installed (pip install '.[fink]')")
    pytest.importorskip("pandas", reason="pandas is not installed")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("Spark needs Java (17): no java on PATH and no JAVA_HOME")
    from vra_fink import job

    jar, why = _fetch_avro_jar()
    spark = job.session("local[1]", jars=[jar] if jar else [], app="vra_filters tests",
                        conf={"spark.sql.execution.arrow.maxRecordsPerBatch": str(ARROW_BATCH),
                              "spark.driver.memory": "1g"})
    yield spark, jar, why
    spark.stop()


@pytest.fixture(scope="session")
def spark(_spark_setup):
    """The shared SparkSession (local[1], 127.0.0.1, UI off)."""
    return _spark_setup[0]


@pytest.fixture(scope="session")
def spark_avro_jar(_spark_setup):
    """Path of the spark-avro jar the shared session has (skips if it could not be had)."""
    _, jar, why = _spark_setup
    if why:
        pytest.skip(why)
    return jar


@pytest.fixture(scope="session")
def spark_avro(_spark_setup):
    """The shared SparkSession, with Spark's Avro data source (skips if it could not be had)."""
    spark, _, why = _spark_setup
    if why:
        pytest.skip(why)
    return spark
