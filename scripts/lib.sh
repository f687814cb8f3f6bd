# Shared settings and helpers for the kafka-chaos setup scripts (sourced, not executed).
# Override with the environment: KAFKA_VERSION, KAFKA_CHAOS_CACHE, CONTAINERS_CONF.

SCRIPTS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export KAFKA_VERSION="${KAFKA_VERSION:-4.3.1}"
export KAFKA_CHAOS_CACHE="${KAFKA_CHAOS_CACHE:-$HOME/.cache/kafka-chaos}"
# Kafka-distribution-like folder: libs/*.jar and config/
export KAFKA_DIR="$KAFKA_CHAOS_CACHE/kafka-$KAFKA_VERSION"
export KAFKA_IMAGE="localhost/kafka-chaos/kafka:$KAFKA_VERSION"
# The tutorial's Python client, for producers/kafka-python (the harness's {venv})
export KAFKA_PYTHON_VERSION="${KAFKA_PYTHON_VERSION:-3.0.12}"
export VENV_DIR="$KAFKA_CHAOS_CACHE/venv"
# podman reads its configuration from here; nothing global is changed (DESIGN.md §5)
export CONTAINERS_CONF="${CONTAINERS_CONF:-$SCRIPTS_DIR/containers.conf}"
export DEBIAN_FRONTEND=noninteractive

log() { echo "setup: $*"; }

# Whether $KAFKA_VERSION is at least MAJOR.MINOR (e.g. `kafka_at_least 3 7`).
kafka_at_least() {
  local major minor rest
  IFS=. read -r major minor rest <<< "$KAFKA_VERSION"
  (( major > $1 || (major == $1 && minor >= $2) ))
}

# JVM options that point both logging frameworks at a configuration in $KAFKA_DIR/config:
# Kafka 4 logs through log4j2 ($1.yaml), Kafka 3.x through log4j 1.x ($1.properties).
# $1 is log4j (the broker) or tools-log4j (command-line tools).
log4j_opts() {
  echo "-Dlog4j2.configurationFile=$KAFKA_DIR/config/${1}2.yaml -Dlog4j.configuration=file:$KAFKA_DIR/config/$1.properties"
}
die() { echo "setup: ERROR: $*" >&2; exit 1; }

# Milliseconds since the epoch, and a duration in seconds with one decimal.
now_ms() { date +%s%3N; }
since() { local ms=$(( $(now_ms) - $1 )); printf '%d.%01ds' $((ms / 1000)) $((ms % 1000 / 100)); }

# A TCP port free on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null \
    || echo $(( 20000 + RANDOM % 20000 ))
}

# Wait until a broker answers a metadata request on 127.0.0.1:$1 (at most $2 seconds).
wait_broker() {
  local port=$1 deadline=$(( SECONDS + ${2:-60} ))
  until kcat -b "127.0.0.1:$port" -L -m 1 >/dev/null 2>&1; do
    (( SECONDS < deadline )) || return 1
    sleep 0.2
  done
}

# The JVM the process backend runs (as the harness picks it: JAVA_HOME's, else PATH's).
host_java() { command -v "${JAVA_HOME:+$JAVA_HOME/bin/}java" 2>/dev/null || command -v java; }

# What a class-data archive is bound to (src/broker/process.rs `jvm_identity` says the same):
# the JVM's canonical path, and the size and modification time of its libjvm.so, which an
# upgrade in place changes.
jvm_identity() {
  local java lib
  java="$(readlink -f "$1")"
  lib="$(dirname "$java")/../lib/server/libjvm.so"
  echo "$java"
  if [[ -f $lib ]]; then echo "libjvm.so $(stat -L -c '%s %Y' "$lib")"; else echo "libjvm.so none"; fi
}

# True when $KAFKA_DIR/cds holds what set-up last made for this JVM: its archive, or the
# marker that it could not make one (so set-up does not try again on every run).
cds_current() {
  local cds="$KAFKA_DIR/cds" id
  id="$(jvm_identity "$(host_java)")"
  [[ -f $cds/broker.jsa && "$(cat "$cds/broker.jsa.java" 2>/dev/null)" == "$id" ]] ||
    [[ "$(cat "$cds/broker.jsa.none" 2>/dev/null)" == "$id" ]]
}
