#!/bin/bash
# How long a broker container takes to start, and the broker JVM's CPU time when it is
# ready, with and without the image's class-data archive (BROKER_CDS=on|off, see
# scripts/image/run). One container at a time, ROUNDS rounds (default 3), alternating;
# quick JIT and a 512 MiB heap, as experiments run them. A measurement aid (BENCHMARKS.md,
# "Four node slots per core, three jobs, class-data archives"), not part of `make test`.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

ROUNDS="${ROUNDS:-3}"
NAME="kafka-chaos-start-ab-$$"
trap 'podman rm -f -t 0 "$NAME" >/dev/null 2>&1 || true' EXIT
tck=$(getconf CLK_TCK)
started='BrokerServer id=1\] Transition from STARTING to STARTED'
for (( round = 1; round <= ROUNDS; round++ )); do
  for cds in on off; do
    t0=$(date +%s.%N)
    podman run -d --name "$NAME" -e BROKER_CDS=$cds -e KAFKA_HEAP_OPTS="-Xmx512m -Xms512m" \
      -e JAVA_TOOL_OPTIONS=-XX:TieredStopAtLevel=1 "$KAFKA_IMAGE" >/dev/null
    deadline=$(( SECONDS + 120 ))
    until grep -q "$started" <(podman logs "$NAME" 2>&1); do
      (( SECONDS < deadline )) || { podman logs --tail 20 "$NAME" >&2; echo "not ready in 120 s" >&2; exit 1; }
      sleep 0.05
    done
    t1=$(date +%s.%N)
    pid=$(podman inspect -f '{{.State.Pid}}' "$NAME")
    cpu=$(awk -v t="$tck" '{ print ($14 + $15) / t }' "/proc/$pid/stat")
    printf 'round %d  archive %-3s  ready after %.2f s (podman run and storage format included)  broker JVM CPU %.2f s\n' \
      "$round" "$cds" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" "$cpu"
    podman rm -f -t 0 "$NAME" >/dev/null
  done
done
