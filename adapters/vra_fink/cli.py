"""``vra fink ...``: run the Fink science module and filters as a Spark job; time them.

Hooked into the ``vra`` command by ``add_subparser(subparsers)`` (entry point group
``vra_filters.commands``). pyspark is imported inside the commands only, so ``vra --help``
works without it.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

EPILOG = """examples:
  vra fink run --input tests/data/fink/rubin_sample_data_10_0.parquet --output out/fink
  vra fink run --input alerts.avro --output out/fink --avro-jar spark-avro_2.12-3.5.9.jar
  vra fink run --input hdfs:///fink/science/2026/03/06 --output hdfs:///me/vra --master yarn
  vra fink bench --input tests/data/fink/rubin_sample_data_10_0.parquet --copies 200
"""


def add_subparser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``fink`` (with ``run`` and ``bench``) to the ``vra`` sub-commands."""
    p = subparsers.add_parser(
        "fink", help="the Fink science module and filters: run them with Spark, time them",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="The VRA + ORACLE Fink science module (a pandas UDF, stateless: each "
                    "alert's own history is replayed) and the filters vra_fast_track and "
                    "vra_extragalactic, on Apache Spark. Needs pyspark (pip install "
                    "'vra-filters[fink]') and Java 17.")
    sub = p.add_subparsers(dest="fink_command", metavar="ACTION")

    q = sub.add_parser(
        "run", help="score Fink parquet / Avro alerts; write parquet and each filter's rows",
        description="Read Fink parquet (file or Spark folder) or Avro (Fink data transfer, "
                    "fink-client) Rubin or ZTF alerts, add the module's struct column 'vra', "
                    "and write OUTPUT/alerts/ (parquet, all columns + vra), "
                    "OUTPUT/vra_fast_track/ and OUTPUT/vra_extragalactic/ (the rows each "
                    "filter keeps) and OUTPUT/summary.json.")
    q.add_argument("--input", required=True, metavar="PATH", help="parquet or .avro file(s)")
    q.add_argument("--output", required=True, metavar="PATH", help="output folder")
    q.add_argument("--master", default="local[*]",
                   help="Spark master URL (default local[*]; e.g. spark://host:7077, yarn, "
                        "k8s://...)")
    q.add_argument("--format", choices=("parquet", "avro"), default=None,
                   help="input format (default: from the file names)")
    q.add_argument("--avro-jar", default=None, metavar="JAR",
                   help="spark-avro_2.12 jar of this Spark version (default: "
                        "$VRA_SPARK_AVRO_JAR, the checkout's tools/spark/fetch.sh cache, else "
                        "Spark fetches the package from Maven Central)")
    q.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE",
                   help="extra Spark setting (repeatable)")
    q.add_argument("--overwrite", action="store_true", help="replace a non-empty OUTPUT")
    q.add_argument("--json", action="store_true", help="print the summary as JSON")
    q.set_defaults(func=cmd_run)

    q = sub.add_parser(
        "bench", help="alerts/s/core of the module in Spark local[1] and of the bare core",
        description="Repeat the file's alerts COPIES times as distinct objects and time the "
                    "module inside Spark local[1] (first and steady-state runs) and the bare "
                    "core on the same packets; compare with Fink's 5 ms/alert ceiling.")
    q.add_argument("--input", required=True, metavar="PATH")
    q.add_argument("--copies", type=int, default=100)
    q.add_argument("--runs", type=int, default=3, help="timed steady-state runs (best kept)")
    q.add_argument("--batch-size", type=int, default=10000,
                   help="Arrow batch size (Fink: the Spark default, 10000)")
    q.add_argument("--avro-jar", default=None, metavar="JAR")
    q.add_argument("--oracle", default=None,
                   help="ORACLE routing for the run: auto (default), none (the VRA alone), or "
                        "a model name")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_bench)

    p.set_defaults(func=lambda args: _help(p))
    return p


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _need_pyspark() -> bool:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        print("vra fink: pyspark is not installed (pip install 'vra-filters[fink]')",
              file=sys.stderr)
        return False
    return True


def cmd_run(args: Any) -> int:
    if not _need_pyspark():
        return 2
    from . import job

    try:
        conf = dict(_pair(c) for c in args.conf)
        fmt = args.format or job.input_format(args.input)
        jar = job.avro_jar(args.avro_jar) if fmt == "avro" else None
        spark = job.session(args.master, jars=[jar] if jar else [],
                            packages=job.packages_for(fmt, jar), conf=conf)
        summary = job.run(spark, args.input, args.output, fmt=fmt, overwrite=args.overwrite)
    except (job.JobError, ValueError) as exc:
        print(f"vra fink run: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(summary, sort_keys=True) if args.json else summary_text(summary))
    return 0 if summary["scored"] else 1


def _pair(text: str):
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ValueError(f"--conf {text!r}: expected KEY=VALUE")
    return key, value


def summary_text(s: Any) -> str:
    lines = [f"{s['input']}: {s['alerts']} {s['survey']} alerts, {s['scored']} scored, "
             f"{s['not_scored']} not scored -> {s['output']}"]
    lines += [f"  tier {t}: {n}" for t, n in s["tiers"].items()]
    lines += [f"  filter {f}: {n} alerts" for f, n in s["filters"].items()]
    lines += [f"  not scored ({n}): {r}" for r, n in list(s["reasons"].items())[:5]]
    return "\n".join(lines)


def cmd_bench(args: Any) -> int:
    if not _need_pyspark():
        return 2
    from . import bench, job

    if args.copies < 1 or args.runs < 1 or args.batch_size < 1:
        print("vra fink bench: --copies, --runs and --batch-size must be positive",
              file=sys.stderr)
        return 2
    try:
        result = bench.bench(args.input, copies=args.copies, runs=args.runs,
                             batch=args.batch_size, avro_jar=args.avro_jar,
                             oracle=args.oracle)
    except job.JobError as exc:
        print(f"vra fink bench: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result, sort_keys=True) if args.json else bench.text(result))
    return 0
