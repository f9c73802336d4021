#!/usr/bin/env bash
# Fetch Spark's Avro data source jar (org.apache.spark:spark-avro_2.12) from Maven Central into
# a git-ignored cache, once. Prints the jar's path.
#
#   tools/spark/fetch.sh              -> .cache/spark/<version>/jars/spark-avro_2.12-<version>.jar
#   SPARK_VERSION=3.5.9 tools/spark/fetch.sh       (default: the installed pyspark's version)
#   VRA_SPARK_CACHE=/somewhere tools/spark/fetch.sh
#
# Only that jar is copied: pyspark ships the Avro and xz libraries it uses. Needs Maven (mvn)
# and network access to Maven Central the first time only; later calls find the jar and return
# at once. Concurrent calls are safe: the jar is copied into a temporary folder that is renamed
# into place when complete.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
version="${SPARK_VERSION:-}"
if [ -z "$version" ]; then
  version="$("${PYTHON:-python3}" -c 'import pyspark; print(pyspark.__version__)' 2>/dev/null)" \
    || { echo "fetch.sh: pyspark is not installed; set SPARK_VERSION" >&2; exit 2; }
fi
cache="${VRA_SPARK_CACHE:-$root/.cache/spark}"
dest="$cache/$version/jars"
jar="spark-avro_2.12-$version.jar"

if [ -f "$dest/.complete" ] && [ -f "$dest/$jar" ]; then
  echo "$dest/$jar"
  exit 0
fi
if ! command -v mvn >/dev/null 2>&1; then
  echo "fetch.sh: Maven (mvn) is needed to fetch $jar the first time" \
       "(Debian: apt-get install maven)" >&2
  exit 3
fi
mkdir -p "$cache/$version"
tmp="$(mktemp -d "$cache/$version/jars.tmp.XXXXXX")"
chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT
echo "fetch.sh: copying org.apache.spark:spark-avro_2.12:$version from Maven" >&2
mvn -B -q -f "$here/pom.xml" dependency:copy-dependencies -Dspark.version="$version" \
    -DexcludeTransitive=true -DincludeScope=runtime -DoutputDirectory="$tmp" >&2
if [ ! -f "$tmp/$jar" ]; then
  echo "fetch.sh: Maven finished but $jar is not in $tmp" >&2
  exit 4
fi
touch "$tmp/.complete"
if [ -f "$dest/.complete" ] && [ -f "$dest/$jar" ]; then  # another run finished first
  echo "$dest/$jar"
  exit 0
fi
rm -rf "$dest"
mv "$tmp" "$dest"
trap - EXIT
echo "$dest/$jar"
