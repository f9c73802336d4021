#!/usr/bin/env bash
# Fetch the Apache Kafka broker jars (org.apache.kafka:kafka_2.13 and its runtime dependencies)
# from Maven Central into a git-ignored cache, once. Prints the libs folder.
#
#   tools/kafka/fetch.sh            -> .cache/kafka/<version>/libs at the repository root
#   KAFKA_VERSION=4.1.1 tools/kafka/fetch.sh
#   VRA_KAFKA_CACHE=/somewhere tools/kafka/fetch.sh
#
# Needs Maven (mvn) and network access to Maven Central the first time only; later calls
# find the complete folder and return at once. Concurrent calls are safe: the jars are copied
# into a temporary folder that is renamed into place when complete.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
version="${KAFKA_VERSION:-3.9.2}"
cache="${VRA_KAFKA_CACHE:-$root/.cache/kafka}"
dest="$cache/$version/libs"

if [ -f "$dest/.complete" ]; then
  echo "$dest"
  exit 0
fi
if ! command -v mvn >/dev/null 2>&1; then
  echo "fetch.sh: Maven (mvn) is needed to fetch the Kafka jars the first time" \
       "(Debian: apt-get install maven)" >&2
  exit 3
fi
mkdir -p "$cache/$version"
tmp="$(mktemp -d "$cache/$version/libs.tmp.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
echo "fetch.sh: copying org.apache.kafka:kafka_2.13:$version and its dependencies from Maven" >&2
mvn -B -q -Dstyle.color=never -f "$here/pom.xml" dependency:copy-dependencies -Dkafka.version="$version" \
    -DincludeScope=runtime -DoutputDirectory="$tmp" >&2
if ! ls "$tmp"/kafka_2.13-"$version".jar >/dev/null 2>&1; then
  echo "fetch.sh: Maven finished but kafka_2.13-$version.jar is not in $tmp" >&2
  exit 4
fi
touch "$tmp/.complete"
if [ -f "$dest/.complete" ]; then  # another run finished first
  echo "$dest"
  exit 0
fi
rm -rf "$dest"
mv "$tmp" "$dest"
trap - EXIT
echo "$dest"
