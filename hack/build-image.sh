#!/usr/bin/env bash
# make image: the project image built from the top-level Dockerfile with buildah, without a
# Docker daemon or a registry, then saved as a docker-archive and imported into containerd.
#
#  1. base   the Dockerfile's base (docker.io/library/python:3.11-slim) built locally by
#            hack/image/build-base.sh (debootstrap bookworm + Debian's python3). Rebuilt only
#            when buildah lacks it or its recipe hash (label dev.mlops.base-recipe) differs;
#            restored from ~/.cache/mlops-operator/images/base/ when a saved copy matches.
#  2. build  buildah bud --pull=never --layers -t mlops-operator:<version from pyproject>.
#  3. save   docker-archive ~/.cache/mlops-operator/images/mlops-operator-<version>.tar
#            (skipped when the archive already holds this image ID), then
#            ctr -n k8s.io images import when a containerd socket exists.
#
# Environment:
#   CONTAINERD_ADDRESS       containerd socket (default: the local cluster's, else
#                            /run/containerd/containerd.sock); import skipped if absent
#   BUILDAH_STORAGE_DRIVER   vfs: use buildah's vfs driver (own root, by default
#                            /var/lib/containers/storage-vfs) when overlay misbehaves
#   BUILDAH_ROOT             a separate buildah storage root (cold builds, experiments)
#   DEBIAN_MIRROR            mirror for debootstrap (default: the one the machine's apt uses)
#   MLOPS_IMAGE_CACHE        archive directory (default ~/.cache/mlops-operator/images)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BASE_NAME=docker.io/library/python:3.11-slim
CACHE=${MLOPS_IMAGE_CACHE:-$HOME/.cache/mlops-operator/images}
BASE_CACHE=$CACHE/base # a sub-directory: the cluster imports only $CACHE/*.tar
VERSION=$(python3 -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
IMAGE=mlops-operator:$VERSION
ARCHIVE=$CACHE/mlops-operator-$VERSION.tar

BUILDAH_GLOBAL_OPTS=
if [ "${BUILDAH_STORAGE_DRIVER:-}" = vfs ]; then
  BUILDAH_ROOT=${BUILDAH_ROOT:-/var/lib/containers/storage-vfs}
  BUILDAH_GLOBAL_OPTS="--storage-driver vfs"
fi
if [ -n "${BUILDAH_ROOT:-}" ]; then
  BUILDAH_GLOBAL_OPTS+=" --root $BUILDAH_ROOT --runroot $BUILDAH_ROOT.run"
fi
export BUILDAH_GLOBAL_OPTS
buildah=(buildah $BUILDAH_GLOBAL_OPTS)

t_start=$EPOCHREALTIME
t_step=$t_start
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { print b - a }'; }
step() { # step NAME: print how long the previous step took
  local now=$EPOCHREALTIME
  awk -v name="$1" -v d="$(elapsed "$t_step" "$now")" 'BEGIN { printf "[image] %-40s %6.1fs\n", name, d }'
  t_step=$now
}

for tool in buildah debootstrap; do
  command -v "$tool" >/dev/null || { echo "[image] $tool missing: run make packages" >&2; exit 1; }
done
if [ "$(id -u)" -ne 0 ]; then
  echo "[image] run as root (buildah mounts and debootstrap need it)" >&2
  exit 1
fi
mkdir -p "$CACHE" "$BASE_CACHE"
# One build at a time (make image and the e2e fixture may overlap).
exec 9>"$CACHE/.build.lock"
flock 9

image_label() { # image_label IMAGE KEY: the label's value, empty when absent
  "${buildah[@]}" inspect --type image --format "{{index .OCIv1.Config.Labels \"$2\"}}" "$1" 2>/dev/null || true
}
image_id() {
  "${buildah[@]}" inspect --type image --format '{{.FromImageID}}' "$1" 2>/dev/null || true
}
archive_id() { # the image ID (config digest) a docker-archive holds, empty when none
  [ -f "$1" ] || return 0
  tar -xOf "$1" manifest.json 2>/dev/null |
    python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Config"].removesuffix(".json").removeprefix("sha256:"))' 2>/dev/null || true
}

# 1. base ------------------------------------------------------------------------------
recipe=$(sha256sum hack/image/build-base.sh | cut -c1-16)
base_archive=$BASE_CACHE/python-3.11-slim-$recipe.tar
if [ "$(image_label "$BASE_NAME" dev.mlops.base-recipe)" = "$recipe" ]; then
  step "base $BASE_NAME: present"
elif [ -f "$base_archive" ] && "${buildah[@]}" pull --quiet "docker-archive:$base_archive" >/dev/null &&
  [ "$(image_label "$BASE_NAME" dev.mlops.base-recipe)" = "$recipe" ]; then
  step "base: restored from cache"
else
  mirror=${DEBIAN_MIRROR:-$(python3 hack/image/apt_mirror.py bookworm)}
  bash hack/image/build-base.sh "$BASE_NAME" "$recipe" "$mirror"
  step "base: debootstrap + commit"
  rm -f "$BASE_CACHE"/python-3.11-slim-*.tar
  "${buildah[@]}" push --quiet "$BASE_NAME" "docker-archive:$base_archive.part:$BASE_NAME"
  mv "$base_archive.part" "$base_archive"
  step "base: saved $(du -h "$base_archive" | cut -f1)"
fi

# 2. build ------------------------------------------------------------------------------
# pip inside the build trusts what pip trusts on the building machine (a TLS-intercepting
# proxy's CA, for one): the bundle is handed over as a build secret, never copied into a layer.
ca_bundle=${PIP_CERT:-${REQUESTS_CA_BUNDLE:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}}
secret=()
[ -s "$ca_bundle" ] && secret=(--secret "id=build-ca,src=$ca_bundle")
"${buildah[@]}" bud --pull=never --isolation=chroot --layers --force-rm --quiet \
  --build-arg BASE_IMAGE="$BASE_NAME" \
  --build-arg VERSION="$VERSION" "${secret[@]}" \
  -t "$IMAGE" . >/dev/null
id=$(image_id "$IMAGE")
step "build $IMAGE"

# 3. save + import ----------------------------------------------------------------------
if [ "$(archive_id "$ARCHIVE")" = "$id" ]; then
  step "archive up to date"
  fresh=0
else
  rm -f "$ARCHIVE.part"
  "${buildah[@]}" push --quiet "$IMAGE" "docker-archive:$ARCHIVE.part:$IMAGE"
  mv "$ARCHIVE.part" "$ARCHIVE"
  step "saved $(basename "$ARCHIVE")"
  fresh=1
fi

address=${CONTAINERD_ADDRESS:-}
if [ -z "$address" ]; then
  for candidate in /run/mlops-cluster/containerd.sock /run/mlops-cluster/containerd/containerd.sock /run/containerd/containerd.sock; do
    if [ -S "$candidate" ]; then address=$candidate; break; fi
  done
fi
if [ -n "$address" ] && [ -S "$address" ]; then
  ctr=(ctr --address "$address" -n k8s.io)
  ref=docker.io/library/$IMAGE
  # containerd names the image by its config digest in `images check`; import only when
  # it lacks this exact image.
  if [ "$fresh" = 0 ] && "${ctr[@]}" images ls -q "name==$ref" 2>/dev/null | grep -qx "$ref" &&
    "${ctr[@]}" content ls -q 2>/dev/null | grep -qx "sha256:$id"; then
    step "containerd ($address): present"
  else
    "${ctr[@]}" images import "$ARCHIVE" >/dev/null
    step "imported into containerd ($address)"
  fi
else
  echo "[image] no containerd socket (${address:-none found}); the cluster imports $ARCHIVE when it starts"
fi

printf '[image] %s id %.12s  %s  archive %s  total %.1fs\n' "$IMAGE" "$id" \
  "$("${buildah[@]}" images --format '{{.Size}}' "$IMAGE" | head -n1)" \
  "$(du -h "$ARCHIVE" | cut -f1)" "$(elapsed "$t_start" "$EPOCHREALTIME")"
