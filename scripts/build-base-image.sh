#!/usr/bin/env bash
# Build the registry-free Debian 12 base image (debootstrap + docker import).
# No container registry is reachable on our build machines, so every image we
# use starts from this one. Skipped when the image exists with the same recipe
# hash (label-less import: the hash is kept in the image tag's sidecar file).
set -euo pipefail
TAG="${1:-odooops/debian:bookworm}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
STATE="${ODOOOPS_STATE:-/var/tmp/odooops}"
HASH=$(sha256sum "$0" | cut -c1-16)
STAMP="$STATE/base-image.$HASH"
if docker image inspect "$TAG" >/dev/null 2>&1 && [ -f "$STAMP" ]; then
  echo "base image $TAG: cached"; exit 0
fi
mkdir -p "$STATE"
WORK=$(mktemp -d /var/tmp/odooops-rootfs.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
start=$(date +%s)
debootstrap --variant=minbase \
  --include=python3,python3-apt,sudo,procps,iproute2,ca-certificates,gnupg \
  bookworm "$WORK" "$MIRROR" >"$STATE/debootstrap.log" 2>&1 \
  || { tail -20 "$STATE/debootstrap.log" >&2; exit 1; }
cat >"$WORK/etc/apt/sources.list" <<SRC
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb ${MIRROR%/debian}/debian-security bookworm-security main
SRC
printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' >"$WORK/etc/apt/apt.conf.d/99norecommends"
printf '#!/bin/sh\nexit 101\n' >"$WORK/usr/sbin/policy-rc.d"; chmod +x "$WORK/usr/sbin/policy-rc.d"
# Machines behind a TLS-intercepting proxy: trust the host's extra CAs inside the image.
if ls /usr/local/share/ca-certificates/*.crt >/dev/null 2>&1; then
  cp /usr/local/share/ca-certificates/*.crt "$WORK/usr/local/share/ca-certificates/"
  chroot "$WORK" update-ca-certificates >/dev/null
fi
printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\nbreak-system-packages = true\n' >"$WORK/etc/pip.conf"
rm -rf "$WORK"/var/lib/apt/lists/* "$WORK"/var/cache/apt/*.bin "$WORK"/var/cache/apt/archives/*.deb \
       "$WORK"/usr/share/doc/* "$WORK"/usr/share/man/* "$WORK"/tmp/*
mkdir -p "$WORK/var/lib/apt/lists/partial"
# an emptied apt list dir looks fresh to cache_valid_time: backdate it
touch -d @0 "$WORK/var/lib/apt/lists" "$WORK/var/lib/apt/lists/partial"
: >"$WORK/etc/resolv.conf"; echo localhost >"$WORK/etc/hostname"
tar -C "$WORK" --numeric-owner -c . | docker import \
  -c 'CMD ["sleep","infinity"]' -c 'ENV LANG=C.UTF-8' - "$TAG" >/dev/null
rm -f "$STATE"/base-image.*; touch "$STAMP"
echo "base image $TAG: built in $(( $(date +%s) - start )) s"
