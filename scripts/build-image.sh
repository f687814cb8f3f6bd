#!/bin/bash
# Builds the broker image $KAFKA_IMAGE offline (no registry): a debootstrap'ed Debian
# bookworm with openjdk-17-jre-headless, plus the Kafka jars from $KAFKA_DIR, imported
# with `podman import`. The Debian+Java root filesystem is cached as a tarball in
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

# --- 2. Kafka on top, imported as the image ---------------------------------------------------
stage="$BUILD/image"
rm -rf "$stage" && mkdir -p "$stage"
tar -C "$stage" --numeric-owner -xf "$BASE_TAR"
mkdir -p "$stage/opt/kafka" "$stage/etc/kafka/docker" "$stage/var/lib/kafka/data"
cp -r "$KAFKA_DIR/libs" "$KAFKA_DIR/config" "$stage/opt/kafka/"
install -m 0755 "$SCRIPTS_DIR/image/run" "$stage/etc/kafka/docker/run"

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
