#!/usr/bin/env bash
# Fetches a real Apache Kafka broker (kafka_2.13 and its runtime jars, with a
# log4j2 binding) from Maven Central into a cache outside the repository, for
# the Go tests of internal/kafkatest. Idempotent: when the jars are already
# cached it runs no Maven and only prints where they are.
#
#   deploy/kafka/fetch.sh            # prints the libs directory on stdout
#
# Environment:
#   KAFKA_VERSION   kafka_2.13 version (default: the one pinned in pom.xml)
#   KAFKA_LIBS_DIR  where the jars go (default:
#                   $HOME/.cache/contactlab-connector/kafka-<version>/libs);
#                   a directory holding a kafka_2.13-*.jar is used as it is,
#                   so an unpacked Kafka distribution's libs/ works too
#
# Exit status: 0 with the libs directory as the only line on stdout; 3 when
# Maven is needed but missing (the Go harness then skips, or fails under
# REQUIRE_KAFKA=1); anything else is a failed fetch, Maven's output on stderr.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
pom="$here/pom.xml"
pinned="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$pom" | head -n1)"
version="${KAFKA_VERSION:-$pinned}"
libs="${KAFKA_LIBS_DIR:-$HOME/.cache/contactlab-connector/kafka-$version/libs}"

# cached reports whether libs holds a complete set: one this script fetched
# (it writes .complete last), or a directory a user pointed at.
cached() {
  [ -f "$libs/.complete" ] && return 0
  [ -n "${KAFKA_LIBS_DIR:-}" ] && compgen -G "$libs/kafka_2.13-*.jar" >/dev/null
}

if cached; then
  echo "$libs"
  exit 0
fi

if ! command -v mvn >/dev/null 2>&1; then
  echo "fetch.sh: Maven (mvn) is not installed and $libs holds no Kafka jars; run 'make tools' or install maven" >&2
  exit 3
fi

mkdir -p "$(dirname "$libs")"
# Test packages run in parallel and each may call this script: one fetches,
# the others wait on the lock and then find the jars cached.
exec 9>"$(dirname "$libs")/.fetch.lock"
flock 9
if cached; then
  echo "$libs"
  exit 0
fi

# Copy into a fresh directory and move it into place only when Maven
# succeeded, so an interrupted fetch never looks cached.
tmp="$(mktemp -d "$(dirname "$libs")/.libs.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)
echo "fetch.sh: fetching org.apache.kafka:kafka_2.13:$version with Maven into $libs" >&2
# -f keeps Maven's own target/ out of the repository's deploy/kafka (the pom
# builds nothing); stdout goes to stderr so stdout stays the one path line.
mvn -q -B -Dstyle.color=never -f "$pom" dependency:copy-dependencies \
  -Dkafka.version="$version" -Dkafka.libs="$tmp" >&2
if ! compgen -G "$tmp/kafka_2.13-$version.jar" >/dev/null; then
  echo "fetch.sh: Maven finished but $tmp has no kafka_2.13-$version.jar" >&2
  exit 1
fi
date -u +%Y-%m-%dT%H:%M:%SZ >"$tmp/.complete"
rm -rf "$libs"
mv "$tmp" "$libs"
trap - EXIT
echo "fetch.sh: $(ls "$libs" | wc -l) jars in $(( $(date +%s) - start ))s" >&2
echo "$libs"
