#!/usr/bin/env bash
# The local stand-in for the Dockerfile's base (python:3.11-slim), built without a registry:
# `buildah from scratch`, debootstrap Debian bookworm (minbase) into the mounted rootfs with
# Debian's python3 (3.11), python3-venv and ca-certificates, trim it, commit it under NAME.
#
#   build-base.sh NAME RECIPE_HASH MIRROR
#
# Called by hack/build-image.sh, which decides whether a rebuild is needed: the sha256 of
# this file is the recipe hash, stored as the label dev.mlops.base-recipe. Any change here
# therefore rebuilds the base (and, through its new ID, every layer of the project image).
set -euo pipefail

name=$1 recipe=$2 mirror=$3
suite=bookworm
packages=python3,python3-venv,ca-certificates
buildah=(buildah ${BUILDAH_GLOBAL_OPTS:-})

container=$("${buildah[@]}" from --name "mlops-base-$$" scratch)
rootfs=$("${buildah[@]}" mount "$container")
cleanup() {
  # debootstrap mounts /proc and /sys inside the target; leave nothing mounted behind.
  findmnt -rn -o TARGET | grep -F "$rootfs/" | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  "${buildah[@]}" rm "$container" >/dev/null 2>&1 || true
}
trap cleanup EXIT

echo "[image] debootstrap --variant=minbase $suite ($packages) from $mirror"
debootstrap --variant=minbase --include="$packages" "$suite" "$rootfs" "$mirror" \
  > "$rootfs.debootstrap.log" 2>&1 || { tail -n 30 "$rootfs.debootstrap.log" >&2; exit 1; }
rm -f "$rootfs.debootstrap.log"

# The official image has its interpreter at /usr/local/bin/python3; give ours the same
# path so a venv made in either base records the same home (the Dockerfile itself only
# calls `python3` from PATH).
ln -sf /usr/bin/python3.11 "$rootfs/usr/local/bin/python3"
ln -sf python3 "$rootfs/usr/local/bin/python"

# Trim like debian:bookworm-slim: no docs, man pages, locales, apt lists or caches; keep
# the copyright files. The dpkg excludes keep it that way for packages added later.
cat > "$rootfs/etc/dpkg/dpkg.cfg.d/slim" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
CFG
find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
rm -rf "$rootfs"/usr/share/{man,info,locale}/* \
  "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* "$rootfs"/var/cache/debconf/*-old \
  "$rootfs"/var/cache/ldconfig/* "$rootfs"/var/log/* "$rootfs"/tmp/* "$rootfs"/root/.cache
# Host identity copied in by debootstrap; the container runtime provides its own.
: > "$rootfs/etc/resolv.conf"
: > "$rootfs/etc/hostname"
rm -f "$rootfs/etc/machine-id"

"${buildah[@]}" config \
  --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --env LANG=C.UTF-8 \
  --cmd python3 \
  --label dev.mlops.base-recipe="$recipe" \
  --label org.opencontainers.image.title="python:3.11-slim (local: Debian $suite + python3)" \
  --label org.opencontainers.image.description="debootstrap --variant=minbase $suite + $packages; stand-in for the official python:3.11-slim" \
  --label org.opencontainers.image.base.name=scratch \
  "$container"
"${buildah[@]}" umount "$container" >/dev/null
"${buildah[@]}" commit --quiet --rm "$container" "$name" >/dev/null
trap - EXIT
