#!/bin/bash
# Lays out the Kafka jars from Maven Central as a distribution-like folder:
#   $KAFKA_DIR/libs/*.jar          every runtime jar (kafka_2.13, kafka-server, kafka-tools, ...)
#   $KAFKA_DIR/config/log4j2.yaml  broker logging: console, INFO (Kafka 4: log4j2)
#   $KAFKA_DIR/config/tools-log4j2.yaml  tools logging: stderr, WARN
#   $KAFKA_DIR/config/log4j.properties, tools-log4j.properties  the same for Kafka 3.x, which
#                                  logs through log4j 1.x (reload4j)
#   $KAFKA_DIR/.complete           marker: the folder is complete, later runs skip it
# Prints "cached" or "fetched" on stdout.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

# A 3.x folder fetched before the log4j 1.x configuration existed logs nothing: fetch it anew.
if [[ -f $KAFKA_DIR/.complete ]] && { kafka_at_least 4 0 || [[ -f $KAFKA_DIR/config/log4j.properties ]]; }; then
  echo cached
  exit 0
fi

# What differs by version (see the profiles in kafka-jars/pom.xml).
version_flags=()
kafka_at_least 3 7 || version_flags+=(-Dkafka.pre37)
kafka_at_least 4 0 || version_flags+=(-Dkafka.log4j1)

# Build in a temporary folder, then rename: an interrupted run never leaves a half folder.
tmp="$KAFKA_DIR.tmp.$$"
trap 'rm -rf "$tmp"' EXIT
rm -rf "$tmp" && mkdir -p "$tmp/libs" "$tmp/config"

mvn -B -q -Dstyle.color=never -f "$SCRIPTS_DIR/kafka-jars/pom.xml" \
  -Dkafka.version="$KAFKA_VERSION" "${version_flags[@]}" \
  dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp/libs" \
  > "$tmp/mvn.log" 2>&1 || { cat "$tmp/mvn.log" >&2; die "mvn could not fetch Kafka $KAFKA_VERSION"; }
rm "$tmp/mvn.log"
[[ -f $tmp/libs/kafka_2.13-$KAFKA_VERSION.jar ]] || die "kafka_2.13-$KAFKA_VERSION.jar missing after mvn"

cp "$SCRIPTS_DIR/kafka-jars/log4j2.yaml" "$SCRIPTS_DIR/kafka-jars/tools-log4j2.yaml" \
   "$SCRIPTS_DIR/kafka-jars/log4j.properties" "$SCRIPTS_DIR/kafka-jars/tools-log4j.properties" "$tmp/config/"
echo "$KAFKA_VERSION" > "$tmp/.complete"

rm -rf "$KAFKA_DIR"
mv "$tmp" "$KAFKA_DIR"
echo fetched
