"""``vra fink run``: the science module and the filters over Fink files, as a Spark job.

Input: Fink parquet (a file or a Spark folder of parts: science, data-transfer or raw alert
tables) or Avro container files (Fink data transfer / fink-client), Rubin or ZTF, told apart by
their columns. Avro is read with Spark's own Avro source (the ``spark-avro_2.12`` package of
the running Spark version): from a jar (``--avro-jar``, ``$VRA_SPARK_AVRO_JAR``, or the one
``tools/spark/fetch.sh`` caches in a checkout) or, failing that, resolved by Spark from Maven
Central (``spark.jars.packages``).

Output folder: ``alerts/`` (parquet: every input column plus the ``vra`` struct), one folder per
filter (``vra_fast_track/``, ``vra_extragalactic/``: the rows it keeps, all columns, as Fink's
topics carry them) and ``summary.json`` (counts per tier and filter, and why alerts were not
scored). The module runs once; the filters read the written ``alerts/``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional

from . import filters as fink_filters
from .schema import COLUMN

#: Spark's Avro package (Scala 2.12 build, as pyspark 3.5 uses).
AVRO_PACKAGE = "org.apache.spark:spark-avro_2.12"
ENV_AVRO_JAR = "VRA_SPARK_AVRO_JAR"
#: Where tools/spark/fetch.sh puts the jar in a checkout (``<version>`` filled in).
CHECKOUT_JAR = Path(__file__).resolve().parents[2] / ".cache" / "spark" / "{v}" / "jars" / \
    "spark-avro_2.12-{v}.jar"


class JobError(Exception):
    """A problem with the job's input or set-up, in plain words (the CLI prints it)."""


def is_local(path: str) -> bool:
    """Whether ``path`` is on this machine (no URI scheme, or ``file:``)."""
    scheme, sep, _ = str(path).partition("://")
    return not sep or scheme == "file"


def _local(path: str) -> Path:
    text = str(path)
    return Path(text[len("file://"):] if text.startswith("file://") else text)


def input_format(path: str) -> str:
    """``"avro"`` or ``"parquet"`` from the file names (a folder: the files in it); a remote
    path (``hdfs://``, ``s3a://``...) by its name alone (``.avro`` or else parquet)."""
    if not is_local(path):
        return "avro" if str(path).rstrip("/").endswith(".avro") else "parquet"
    p = _local(path)
    if not p.exists():
        raise JobError(f"{path}: no such file or folder")
    names = [p.name] if p.is_file() else [q.name for q in p.rglob("*") if q.is_file()]
    names = [n for n in names if not n.startswith((".", "_"))]
    if any(n.endswith(".avro.gz") for n in names):
        raise JobError(f"{path}: gzipped Avro (.avro.gz) is not read by Spark's Avro source; "
                       "gunzip it first")
    if names and all(n.endswith(".avro") for n in names):
        return "avro"
    if names and all(n.endswith(".parquet") for n in names):
        return "parquet"
    raise JobError(f"{path}: expected .parquet or .avro files, found "
                   f"{', '.join(sorted(set(Path(n).suffix or n for n in names))) or 'none'}")


def avro_jar(explicit: Optional[str] = None) -> Optional[str]:
    """The spark-avro jar to use: ``explicit``, ``$VRA_SPARK_AVRO_JAR``, the checkout's cached
    one for the installed pyspark, else None (Spark resolves the package itself)."""
    import pyspark

    for candidate in (explicit, os.environ.get(ENV_AVRO_JAR)):
        if candidate:
            if not Path(candidate).is_file():
                raise JobError(f"spark-avro jar {candidate}: no such file")
            return str(candidate)
    cached = Path(str(CHECKOUT_JAR).format(v=pyspark.__version__))
    return str(cached) if cached.is_file() else None


def session(master: str = "local[*]", jars: Iterable[str] = (), packages: Iterable[str] = (),
            conf: Optional[Dict[str, str]] = None, app: str = "vra fink run") -> Any:
    """A SparkSession. In local mode the driver binds to 127.0.0.1 and the UI is off; Python
    workers run this interpreter (so they import the same vra_filters)."""
    from pyspark.sql import SparkSession

    local = master.startswith("local")
    if local:  # on a cluster the executors have their own Python and addresses
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.master(master).appName(app)
    settings = {"spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false",
                "spark.sql.session.timeZone": "UTC"}
    if local:
        settings.update({"spark.driver.host": "127.0.0.1",
                         "spark.driver.bindAddress": "127.0.0.1",
                         "spark.sql.shuffle.partitions": "2"})
    jars, packages = list(jars), list(packages)
    if jars:
        settings["spark.jars"] = ",".join(jars)
    if packages:
        settings["spark.jars.packages"] = ",".join(packages)
    settings.update(conf or {})
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def read(spark: Any, path: str, fmt: Optional[str] = None) -> Any:
    """The alert table of ``path`` (Avro needs the spark-avro package in the session)."""
    fmt = fmt or input_format(path)
    try:
        return spark.read.format(fmt).load(str(path))
    except Exception as exc:  # noqa: BLE001 - py4j wraps Spark's errors; say what to do
        text = str(exc)
        if fmt == "avro" and "avro" in text.lower() and "data source" in text.lower():
            raise JobError("reading Avro needs Spark's Avro package: run tools/spark/fetch.sh "
                           "and pass --avro-jar JAR (or set $VRA_SPARK_AVRO_JAR)") from None
        raise JobError(f"{path}: Spark could not read it as {fmt}: "
                       f"{text.strip().splitlines()[0][:300]}") from None


def score(df: Any) -> Any:
    """``df`` with the science module's struct column ``vra`` added."""
    from .columns import module_for

    try:
        udf, args = module_for(df)
    except ValueError as exc:
        raise JobError(str(exc)) from None
    return df.withColumn(COLUMN, udf(*args))


def summarise(scored: Any, selections: Dict[str, Any]) -> Dict[str, Any]:
    """Counts for ``summary.json`` (computed from the written tables)."""
    from pyspark.sql import functions as F

    tiers = {r["tier"]: r["count"] for r in
             scored.groupBy(F.col(f"{COLUMN}.tier").alias("tier")).count().collect()}
    reasons = scored.filter(F.col(f"{COLUMN}.reason").isNotNull()) \
        .groupBy(F.col(f"{COLUMN}.reason").alias("reason")).count() \
        .orderBy(F.desc("count")).limit(20).collect()
    total = sum(tiers.values())
    skipped = tiers.pop(None, 0)
    return {"alerts": total, "scored": total - skipped, "not_scored": skipped,
            "tiers": dict(sorted(tiers.items())),
            "reasons": {r["reason"]: r["count"] for r in reasons},
            "filters": {name: df.count() for name, df in selections.items()}}


def run(spark: Any, input_path: str, output: str, fmt: Optional[str] = None,
        overwrite: bool = False) -> Dict[str, Any]:
    """Score ``input_path``, write the output folder (module docstring); the summary."""
    local = is_local(output)
    out = _local(output) if local else None
    if local and out.exists() and any(out.iterdir()) and not overwrite:
        raise JobError(f"{output}: exists and is not empty (pass --overwrite)")
    mode = "overwrite" if overwrite else "errorifexists"
    base = str(output).rstrip("/")
    df = read(spark, input_path, fmt)
    try:
        score(df).write.mode(mode).parquet(f"{base}/alerts")
        scored = spark.read.parquet(f"{base}/alerts")
        selections = {}
        for name in fink_filters.FILTERS:
            selected = fink_filters.apply(scored, fink_filters.load(name))
            selected.write.mode(mode).parquet(f"{base}/{name}")
            selections[name] = spark.read.parquet(f"{base}/{name}")
    except JobError:
        raise
    except Exception as exc:  # noqa: BLE001 - py4j wraps Spark's errors
        text = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        if "already exists" in text:
            raise JobError(f"{output}: already exists (pass --overwrite)") from None
        raise JobError(f"the Spark job failed: {text}") from None
    summary = summarise(scored, selections)
    summary.update(input=str(input_path), output=str(output), survey=_survey(scored))
    if local:  # a remote output gets its summary on stdout only
        (out / "summary.json").write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")
    return summary


def _survey(df: Any) -> str:
    from .columns import survey_of

    return survey_of(df)


def packages_for(fmt: str, jar: Optional[str]) -> List[str]:
    """``spark.jars.packages`` needed when no jar is at hand (Avro input only)."""
    import pyspark

    return [f"{AVRO_PACKAGE}:{pyspark.__version__}"] if fmt == "avro" and not jar else []
