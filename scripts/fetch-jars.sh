#!/bin/bash
# Lays out the Kafka jars from Maven Central as a distribution-like folder:
#   $KAFKA_DIR/libs/*.jar          every runtime jar (kafka_2.13, kafka-server, kafka-tools, ...)
#   $KAFKA_DIR/config/log4j2.yaml  broker logging: console, INFO
#   $KAFKA_DIR/config/tools-log4j2.yaml  tools logging: stderr, WARN
#   $KAFKA_DIR/.complete           marker: the folder is complete, later runs skip it
# Prints "cached" or "fetched" on stdout.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

if [[ -f $KAFKA_DIR/.complete ]]; then
  echo cached
  exit 0
fi

# Build in a temporary folder, then rename: an interrupted run never leaves a half folder.
tmp="$KAFKA_DIR.tmp.$$"
trap 'rm -rf "$tmp"' EXIT
rm -rf "$tmp" && mkdir -p "$tmp/libs" "$tmp/config"

mvn -B -q -Dstyle.color=never -f "$SCRIPTS_DIR/kafka-jars/pom.xml" \
  -Dkafka.version="$KAFKA_VERSION" \
  dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp/libs" \
  > "$tmp/mvn.log" 2>&1 || { cat "$tmp/mvn.log" >&2; die "mvn could not fetch Kafka $KAFKA_VERSION"; }
rm "$tmp/mvn.log"
[[ -f $tmp/libs/kafka_2.13-$KAFKA_VERSION.jar ]] || die "kafka_2.13-$KAFKA_VERSION.jar missing after mvn"

cp "$SCRIPTS_DIR/kafka-jars/log4j2.yaml" "$SCRIPTS_DIR/kafka-jars/tools-log4j2.yaml" "$tmp/config/"
echo "$KAFKA_VERSION" > "$tmp/.complete"

rm -rf "$KAFKA_DIR"
mv "$tmp" "$KAFKA_DIR"
echo fetched
