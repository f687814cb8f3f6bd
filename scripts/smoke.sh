#!/bin/bash
# Smoke tests of what setup prepared, against a real single-node KRaft broker on 127.0.0.1:
#   smoke.sh local      format + start kafka.Kafka from $KAFKA_DIR/libs as a local process,
#                       produce/consume with kcat, SIGTERM, check the clean shutdown; the
#                       broker leaves $KAFKA_DIR/cds/broker.jsa (a class-data archive).
#   smoke.sh container  run $KAFKA_IMAGE with podman, produce, podman stop (clean shutdown?),
#                       podman start (data kept?), pause/unpause, rm.
# Everything started here is removed on exit. Progress goes to stderr.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

say() { echo "  smoke: $*" >&2; }
CLUSTER_ID=4L6g3nShT-eMCtK--X86sw

smoke_local() {
  local port cport t0 msg
  # globals, for the exit trap
  SMOKE_DIR="$(mktemp -d /tmp/kafka-chaos-smoke.XXXXXX)"
  SMOKE_PID=""
  SMOKE_CDS_TMP=""
  trap '[[ -z $SMOKE_PID ]] || kill -KILL "$SMOKE_PID" 2>/dev/null || true; rm -rf "$SMOKE_DIR"; rm -f "$SMOKE_CDS_TMP"' EXIT
  local dir="$SMOKE_DIR"
  port="$(free_port)"; cport="$(free_port)"
  # Static single-voter KRaft quorum (controller.quorum.voters is still supported in 4.x).
  cat > "$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
num.partitions=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
EOF
  # shellcheck disable=SC2046
  java $(log4j_opts tools-log4j) -cp "$KAFKA_DIR/libs/*" \
    kafka.tools.StorageTool format -t "$CLUSTER_ID" -c "$dir/server.properties" >/dev/null
  # This broker also leaves a class-data archive of the classes it loaded (at its clean exit):
  # the process backend's JVMs map it and start on about a CPU-second less (BENCHMARKS.md,
  # "Four node slots per core, three jobs, class-data archives"). It belongs to this JVM and
  # these jars; broker.jsa.java names the JVM (lib.sh `jvm_identity`), and the harness uses
  # the archive only with that one.
  local java_bin cds="$KAFKA_DIR/cds"
  java_bin="$(host_java)"
  mkdir -p "$cds"
  SMOKE_CDS_TMP="$cds/broker.jsa.$$"
  t0=$(now_ms)
  # shellcheck disable=SC2046
  "$java_bin" -XX:ArchiveClassesAtExit="$SMOKE_CDS_TMP" -Xmx512m -Xms512m $(log4j_opts log4j) \
    -cp "$KAFKA_DIR/libs/*" kafka.Kafka "$dir/server.properties" > "$dir/broker.log" 2>&1 &
  SMOKE_PID=$!
  wait_broker "$port" 60 || { tail -20 "$dir/broker.log" >&2; die "local broker not ready in 60 s"; }
  say "local broker ready after $(since "$t0") on 127.0.0.1:$port"
  msg="smoke-$RANDOM"
  echo "$msg" | kcat -b "127.0.0.1:$port" -t smoke -P
  [[ "$(kcat -b "127.0.0.1:$port" -t smoke -C -o beginning -e -q)" == "$msg" ]] \
    || die "local broker: consumed record differs"
  t0=$(now_ms)
  kill -TERM "$SMOKE_PID"; wait "$SMOKE_PID" || true; SMOKE_PID=""
  grep -q 'Transition from SHUTTING_DOWN to SHUTDOWN' "$dir/broker.log" \
    || die "local broker: no clean shutdown in its log"
  say "local broker: produce/consume ok, clean shutdown on SIGTERM in $(since "$t0")"
  # The record goes first, so that no harness pairs a new archive with an old record.
  rm -f "$cds/broker.jsa.java" "$cds/broker.jsa.none"
  if [[ -s $SMOKE_CDS_TMP ]]; then
    mv "$SMOKE_CDS_TMP" "$cds/broker.jsa"
    jvm_identity "$java_bin" > "$cds/broker.jsa.java.$$"
    mv "$cds/broker.jsa.java.$$" "$cds/broker.jsa.java"
    say "class-data archive for $(head -1 "$cds/broker.jsa.java"): $cds/broker.jsa ($(du -h "$cds/broker.jsa" | cut -f1))"
  else
    rm -f "$SMOKE_CDS_TMP" "$cds/broker.jsa"
    jvm_identity "$java_bin" > "$cds/broker.jsa.none"
    say "WARNING: the JVM left no class-data archive; process brokers start without one"
  fi
  SMOKE_CDS_TMP=""
}

smoke_container() {
  local name=kc-setup-test port t0 msg paused_ok
  port="$(free_port)"
  trap 'podman rm -f kc-setup-test >/dev/null 2>&1 || true' EXIT
  podman rm -f "$name" >/dev/null 2>&1 || true
  t0=$(now_ms)
  podman run -d --name "$name" -p "127.0.0.1:$port:9092" \
    -e KAFKA_NODE_ID=1 \
    -e KAFKA_PROCESS_ROLES=broker,controller \
    -e KAFKA_LISTENERS=PLAINTEXT://0.0.0.0:9092,CONTROLLER://0.0.0.0:9093 \
    -e KAFKA_ADVERTISED_LISTENERS="PLAINTEXT://127.0.0.1:$port" \
    -e KAFKA_CONTROLLER_LISTENER_NAMES=CONTROLLER \
    -e KAFKA_LISTENER_SECURITY_PROTOCOL_MAP=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT \
    -e KAFKA_CONTROLLER_QUORUM_VOTERS=1@localhost:9093 \
    -e KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR=1 \
    -e KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR=1 \
    -e KAFKA_TRANSACTION_STATE_LOG_MIN_ISR=1 \
    -e KAFKA_LOG_DIRS=/var/lib/kafka/data \
    -e KAFKA_HEAP_OPTS="-Xmx512m -Xms512m" \
    "$KAFKA_IMAGE" >/dev/null
  wait_broker "$port" 90 || { podman logs --tail 20 "$name" >&2; die "container broker not ready in 90 s"; }
  say "container broker ready after $(since "$t0") (podman run included) on 127.0.0.1:$port"

  msg="smoke-$RANDOM"
  echo "$msg" | kcat -b "127.0.0.1:$port" -t smoke -P

  t0=$(now_ms)
  podman stop -t 30 "$name" >/dev/null
  say "podman stop took $(since "$t0")"
  # (not `podman logs | grep -q`: with pipefail, grep closing the pipe early fails the line)
  grep -q 'Transition from SHUTTING_DOWN to SHUTDOWN' <(podman logs "$name" 2>&1) \
    || die "container: no clean shutdown in its log after podman stop"

  t0=$(now_ms)
  podman start "$name" >/dev/null
  wait_broker "$port" 90 || die "container broker not ready again after podman start"
  [[ "$(kcat -b "127.0.0.1:$port" -t smoke -C -o beginning -e -q)" == "$msg" ]] \
    || die "container: the record did not survive stop + start"
  say "podman start: ready after $(since "$t0"), record kept"

  podman pause "$name" >/dev/null
  paused_ok=no
  kcat -b "127.0.0.1:$port" -L -m 2 >/dev/null 2>&1 || paused_ok=yes   # frozen: no answer
  podman unpause "$name" >/dev/null
  wait_broker "$port" 30 || die "container broker does not answer after unpause"
  [[ $paused_ok == yes ]] || die "container still answered while paused"
  say "podman pause/unpause ok (no answer while paused)"

  podman rm -f "$name" >/dev/null
}

case "${1:-}" in
  local) smoke_local ;;
  container) smoke_container ;;
  *) echo "usage: $0 local|container" >&2; exit 2 ;;
esac
