#!/bin/bash
# Builds the broker image $KAFKA_IMAGE offline (no registry): a debootstrap'ed Debian
# bookworm with openjdk-17-jre-headless, plus the Kafka jars from $KAFKA_DIR and a class-data
# archive of the broker's classes, imported with `podman import`. The Debian+Java root filesystem is cached as a tarball in
# $KAFKA_CHAOS_CACHE, so a rebuild (after `podman rmi`, or for another Kafka version)
# takes seconds. Needs root, debootstrap, podman, and a complete $KAFKA_DIR.
# Prints "cached" or "built" on stdout.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

BASE_TAR="$KAFKA_CHAOS_CACHE/rootfs-bookworm-openjdk17.tar"
BUILD="$KAFKA_CHAOS_CACHE/build"

# The image records a hash of its inputs; a changed entrypoint or config means a rebuild.
inputs_hash() {
  cat "$SCRIPTS_DIR/image/run" "$SCRIPTS_DIR/build-image.sh" "$KAFKA_DIR/.complete" \
    "$KAFKA_DIR"/config/* | sha256sum | cut -c1-16
}

[[ -f $KAFKA_DIR/.complete ]] || die "no Kafka jars in $KAFKA_DIR: run scripts/setup.sh --only jars"
HASH="$(inputs_hash)"
if podman image exists "$KAFKA_IMAGE" &&
   [[ "$(podman image inspect --format '{{index .Labels "io.kafka-chaos.inputs"}}' "$KAFKA_IMAGE")" == "$HASH" ]]; then
  echo cached
  exit 0
fi

mkdir -p "$BUILD"
cleanup() {
  # unmount anything left mounted inside the build folder, then remove it
  local m
  for m in $(awk -v b="$BUILD/" 'index($2, b) == 1 { print $2 }' /proc/mounts | sort -r); do
    umount -l "$m" || true
  done
  rm -rf "$BUILD"
}
trap cleanup EXIT

# The Debian mirror this machine's apt already uses (deb822 .sources or one-line lists).
host_mirror() {
  local uri
  uri="$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)"
  [[ -n $uri ]] || uri="$(awk '$1 == "deb" && $0 !~ /security/ { print $2; exit }' \
                           /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true)"
  echo "${uri:-http://deb.debian.org/debian}"
}

# --- 1. Debian bookworm + Java, cached as a tarball -------------------------------------------
if [[ ! -f $BASE_TAR ]]; then
  rootfs="$BUILD/rootfs"
  mirror="$(host_mirror)"
  echo "build-image: debootstrap bookworm from $mirror" >&2
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" > "$BUILD/debootstrap.log" 2>&1 \
    || { tail -20 "$BUILD/debootstrap.log" >&2; die "debootstrap failed (log above)"; }

  # The host's apt sources and its site configuration (files no package owns) go in too,
  # so the chroot reaches the same mirror the same way.
  rm -f "$rootfs/etc/apt/sources.list"
  [[ -f /etc/apt/sources.list ]] && cp /etc/apt/sources.list "$rootfs/etc/apt/"
  cp -a /etc/apt/sources.list.d/. "$rootfs/etc/apt/sources.list.d/"
  for f in /etc/apt/apt.conf.d/*; do
    dpkg -S "$f" >/dev/null 2>&1 || cp "$f" "$rootfs/etc/apt/apt.conf.d/"
  done

  mount -t proc proc "$rootfs/proc"
  chroot "$rootfs" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
    /bin/bash -euo pipefail -c '
      apt-get update -qq
      apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless >/dev/null
      apt-get clean
      rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt/* /var/log/dpkg.log \
             /usr/share/doc/* /usr/share/man/* /usr/share/info/* /usr/share/locale/* /tmp/*
      java -version' > "$BUILD/chroot.log" 2>&1 \
    || { tail -20 "$BUILD/chroot.log" >&2; die "installing Java in the chroot failed (log above)"; }
  umount "$rootfs/proc"
  : > "$rootfs/etc/resolv.conf"   # podman provides resolv.conf, hosts and hostname at run time

  tar -C "$rootfs" --numeric-owner -cf "$BASE_TAR.tmp" .
  mv "$BASE_TAR.tmp" "$BASE_TAR"
  rm -rf "$rootfs"
fi

# --- 2. Kafka on top, imported as the image (after step 3) ---------------------------------------------------
stage="$BUILD/image"
rm -rf "$stage" && mkdir -p "$stage"
tar -C "$stage" --numeric-owner -xf "$BASE_TAR"
mkdir -p "$stage/opt/kafka/cds" "$stage/etc/kafka/docker" "$stage/var/lib/kafka/data"
cp -r "$KAFKA_DIR/libs" "$KAFKA_DIR/config" "$stage/opt/kafka/"
install -m 0755 "$SCRIPTS_DIR/image/run" "$stage/etc/kafka/docker/run"

# --- 3. A class-data archive of the broker's classes ------------------------------------------
# A broker JVM that maps Kafka's classes from an archive instead of loading them from the jars
# starts about a second sooner on about a CPU-second less (BENCHMARKS.md, "… class-data archives"), and
# an experiment starts and restarts brokers dozens of times. The archive belongs to the image's
# JVM and jars, so it is made here: the image is imported once without it, one broker starts
# and stops cleanly with -XX:ArchiveClassesAtExit, and the archive it leaves goes into the
# final image (/opt/kafka/cds/broker.jsa, which the entrypoint uses when present). If this
# fails, the image is built without the archive (a warning), as it was before.
CDS_TAG="localhost/kafka-chaos/cds-build:$HASH-$$"
CDS_CTR="kafka-chaos-cds-build-$$"
cds_cleanup() {
  podman rm -f "$CDS_CTR" >/dev/null 2>&1 || true
  podman rmi "$CDS_TAG" >/dev/null 2>&1 || true
}
trap 'cds_cleanup; cleanup' EXIT
make_archive() {
  tar -C "$stage" --numeric-owner -c . | podman import --change 'CMD ["/etc/kafka/docker/run"]' \
    --change 'WORKDIR /opt/kafka' --quiet - "$CDS_TAG" >/dev/null || return 1
  podman run -d --name "$CDS_CTR" -e KAFKA_OPTS=-XX:ArchiveClassesAtExit=/opt/kafka/cds/broker.jsa \
    "$CDS_TAG" >/dev/null || return 1
  local i started='BrokerServer id=[0-9]*\] Transition from STARTING to STARTED|Kafka Server started'
  # (not `podman logs | grep -q`: with pipefail, grep closing the pipe early fails the line)
  for (( i = 0; i < 240; i++ )); do
    grep -Eq "$started" <(podman logs "$CDS_CTR" 2>&1) && break
    [[ "$(podman inspect -f '{{.State.Running}}' "$CDS_CTR")" == true ]] || break
    sleep 0.5
  done
  grep -Eq "$started" <(podman logs "$CDS_CTR" 2>&1) || return 1
  podman stop -t 60 "$CDS_CTR" >/dev/null || return 1
  # Only a clean exit writes a whole archive (a JVM killed while it writes leaves a part).
  grep -q 'Transition from SHUTTING_DOWN to SHUTDOWN' <(podman logs "$CDS_CTR" 2>&1) || return 1
  [[ "$(podman inspect -f '{{.State.ExitCode}}' "$CDS_CTR")" != 137 ]] || return 1
  podman cp "$CDS_CTR:/opt/kafka/cds/broker.jsa" "$stage/opt/kafka/cds/broker.jsa" || return 1
}
if make_archive; then
  echo "build-image: class-data archive of the broker's classes: $(du -h "$stage/opt/kafka/cds/broker.jsa" | cut -f1)" >&2
else
  echo "build-image: WARNING: no class-data archive (the broker's start failed); the image works without it, its brokers start slower" >&2
  podman logs "$CDS_CTR" 2>&1 | grep -v '\[warning\]\[cds\]' | tail -20 >&2 || true
  rm -f "$stage/opt/kafka/cds/broker.jsa"
fi
cds_cleanup

# The import moves the tag to the new image. Never `podman rmi -f` the old one: that would
# also remove containers still running it; untagged kafka-chaos images are removed below
# only when no container uses them.
tar -C "$stage" --numeric-owner -c . | podman import \
  --change 'CMD ["/etc/kafka/docker/run"]' \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'WORKDIR /opt/kafka' \
  --change 'EXPOSE 9092' \
  --change "LABEL org.opencontainers.image.description=\"Apache Kafka $KAFKA_VERSION (KRaft) on Debian bookworm with OpenJDK 17, built offline by kafka-chaos setup (scripts/build-image.sh) from Maven Central jars\"" \
  --change "LABEL org.opencontainers.image.version=$KAFKA_VERSION" \
  --change "LABEL io.kafka-chaos.inputs=$HASH" \
  --message "kafka-chaos setup: Kafka $KAFKA_VERSION" \
  --quiet - "$KAFKA_IMAGE" >/dev/null
for id in $(podman images -q --filter dangling=true --filter label=io.kafka-chaos.inputs); do
  podman rmi "$id" >/dev/null 2>&1 || true
done
echo built
