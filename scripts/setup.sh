#!/bin/bash
# Prepares everything the kafka-chaos harness needs on a Debian bookworm host (as root):
#   apt    the Debian packages (podman, runc, kcat, java, chromium, ...), installed only if missing
#   jars   the Kafka jars from Maven Central in $KAFKA_CHAOS_CACHE/kafka-$KAFKA_VERSION, and a
#          class-data archive of the broker's classes for this host's JVM (cds/broker.jsa)
#   image  the broker image localhost/kafka-chaos/kafka:$KAFKA_VERSION, built offline
#   venv   kafka-python $KAFKA_PYTHON_VERSION in the virtual environment $KAFKA_CHAOS_CACHE/venv,
#          for the tutorial's Python producers (producers/kafka-python)
# Idempotent: a second run only checks. A freshly fetched or built step is smoke-tested
# against a real broker; --check smoke-tests everything even when cached.
#
# Usage: scripts/setup.sh [--only apt|jars|image|venv]... [--check]
# Environment: KAFKA_VERSION (4.3.1), KAFKA_CHAOS_CACHE (~/.cache/kafka-chaos),
#              CONTAINERS_CONF (scripts/containers.conf), KAFKA_PYTHON_VERSION (3.0.12).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

steps=() check=no
while (( $# )); do
  case "$1" in
    --only) [[ $# -ge 2 ]] || die "--only needs apt, jars, image or venv"; steps+=("$2"); shift 2 ;;
    --only=*) steps+=("${1#--only=}"); shift ;;
    --check) check=yes; shift ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done
(( ${#steps[@]} )) || steps=(apt jars image venv)
for s in "${steps[@]}"; do
  [[ $s == apt || $s == jars || $s == image || $s == venv ]] || die "unknown step: $s (apt, jars, image or venv)"
done
wants() { [[ " ${steps[*]} " == *" $1 "* ]]; }

# Debian packages; commands that may come from elsewhere are checked as commands.
# netavark/aardvark-dns are podman's network backend as measured here (they come as
# recommends); installs keep recommends so a fresh host matches this one.
# chromium: the headless browser the tests open report.html in (tests/report_page.rs).
# fuse3: fusermount3, which mounts and unmounts the power-loss storage (infra/lazyfs).
APT_PACKAGES=(podman runc debootstrap kcat uidmap fuse3 fuse-overlayfs slirp4netns
              containernetworking-plugins netavark aardvark-dns catatonit iptables
              fonts-dejavu-core python3 python3-venv chromium)
declare -A APT_COMMANDS=([java]=openjdk-17-jre-headless [mvn]=maven)

step_apt() {
  local t0 missing=() p c
  t0=$(now_ms)
  for p in "${APT_PACKAGES[@]}"; do
    [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" == "install ok installed" ]] || missing+=("$p")
  done
  for c in "${!APT_COMMANDS[@]}"; do
    command -v "$c" >/dev/null || missing+=("${APT_COMMANDS[$c]}")
  done
  if (( ${#missing[@]} == 0 )); then
    log "apt ok (all present) $(since "$t0")"
    return
  fi
  [[ $(id -u) == 0 ]] || die "apt: missing ${missing[*]} and not root"
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
  log "apt ok (installed ${missing[*]}) $(since "$t0")"
}

step_jars() {
  local t0 result
  t0=$(now_ms)
  result="$("$SCRIPTS_DIR/fetch-jars.sh")"
  # The local smoke test also makes the process backend's class-data archive (smoke.sh): again
  # when the JVM is another (or was upgraded) than the one it was made for.
  if [[ $result == fetched || $check == yes ]] || ! cds_current; then
    "$SCRIPTS_DIR/smoke.sh" local
  fi
  log "jars ok ($result) $(since "$t0")"
}

step_image() {
  local t0 result
  t0=$(now_ms)
  [[ -f $KAFKA_DIR/.complete ]] || "$SCRIPTS_DIR/fetch-jars.sh" >/dev/null
  result="$("$SCRIPTS_DIR/build-image.sh")"
  if [[ $result == built || $check == yes ]]; then
    "$SCRIPTS_DIR/smoke.sh" container
  fi
  log "image ok ($result) $(since "$t0")"
}

# The tutorial's client for the external producers in producers/kafka-python, in a
# virtual environment made by whatever python3 is on PATH (Debian's needs python3-venv,
# from the apt step). The marker names the pinned version: a new pin installs anew.
step_venv() {
  local t0 py="$VENV_DIR/bin/python" marker="$VENV_DIR/.kafka-python-$KAFKA_PYTHON_VERSION"
  t0=$(now_ms)
  if [[ -f $marker && -x $py ]] && { [[ $check == no ]] || venv_smoke; }; then
    log "venv ok (cached: kafka-python $KAFKA_PYTHON_VERSION) $(since "$t0")"
    return
  fi
  command -v python3 >/dev/null || die "venv: no python3 on PATH (apt: python3 python3-venv)"
  if [[ ! -x $py ]]; then
    rm -rf "$VENV_DIR"
    python3 -m venv "$VENV_DIR" \
      || die "venv: '$(command -v python3) -m venv' failed (Debian's python3 needs python3-venv)"
  fi
  "$py" -m pip install --quiet --disable-pip-version-check "kafka-python==$KAFKA_PYTHON_VERSION" \
    || die "venv: pip could not install kafka-python==$KAFKA_PYTHON_VERSION"
  venv_smoke || die "venv: kafka-python $KAFKA_PYTHON_VERSION does not import"
  rm -f "$VENV_DIR"/.kafka-python-*
  touch "$marker"
  log "venv ok (installed kafka-python $KAFKA_PYTHON_VERSION in $VENV_DIR) $(since "$t0")"
}

# The pinned kafka-python imports, with the API the producers use.
venv_smoke() {
  "$VENV_DIR/bin/python" - "$KAFKA_PYTHON_VERSION" <<'PY'
import sys, kafka
from kafka import KafkaProducer
assert kafka.__version__ == sys.argv[1], kafka.__version__
assert hasattr(KafkaProducer, 'send') and hasattr(KafkaProducer, 'flush')
PY
}

# One setup at a time per cache folder (a second one waits, then finds everything cached).
mkdir -p "$KAFKA_CHAOS_CACHE"
exec 9> "$KAFKA_CHAOS_CACHE/.lock"
flock 9

T0=$(now_ms)
wants apt && step_apt
wants jars && step_jars
wants image && step_image
wants venv && step_venv
log "done in $(since "$T0")"
wants jars && log "jars:  $KAFKA_DIR/libs (config in $KAFKA_DIR/config)"
wants venv && log "venv:  $VENV_DIR (kafka-python $KAFKA_PYTHON_VERSION)"
wants image && log "image: $KAFKA_IMAGE ($(podman image inspect --format '{{.Size}}' "$KAFKA_IMAGE" | numfmt --to=iec), podman with CONTAINERS_CONF=$CONTAINERS_CONF)"
exit 0
