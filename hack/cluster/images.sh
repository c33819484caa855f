# The images and helper binaries the local cluster builds for itself, cached under
# $IMAGE_CACHE (rebuilt only when their sources change), and their import into containerd.
# Sourced by cluster-up.sh.
#   pause      registry.k8s.io/pause:3.10.1 — pause.c from the k8s.io/kubernetes module, static gcc
#   e2e-http   mlops.local/e2e-http:v1 — hack/cluster/e2e-http, a static Go HTTP server/client
#   mlops-cri  a tiny CRI client cluster-down uses to stop pod sandboxes (crictl is not reachable)
# shellcheck shell=bash

_src_key() { cat "$@" | sha256sum | cut -c1-16; }

# _image NAME REF BINARY ENTRYPOINT USER KEY: a FROM-scratch image holding one static binary,
# exported as a docker-archive tagged REF (the tag is what `ctr import` registers).
_image() {
  local name=$1 ref=$2 binary=$3 entrypoint=$4 user=$5 key=$6 ctr archive="$IMAGE_CACHE/$1.tar"
  if [ -f "$archive" ] && [ "$(cat "$archive.key" 2>/dev/null)" = "$key" ]; then return 0; fi
  log "building image $ref"
  ctr=$(buildah from --name "mlops-cluster-$name-$$" scratch)
  buildah copy --quiet "$ctr" "$binary" "/$(basename "$binary")" >/dev/null
  buildah config --entrypoint "$entrypoint" --user "$user" \
    --label org.opencontainers.image.source=mlops-operator/hack/cluster "$ctr"
  rm -f "$archive.tmp"
  buildah commit --quiet --rm "$ctr" "docker-archive:$archive.tmp:$ref" >/dev/null
  mv "$archive.tmp" "$archive"
  echo "$key" >"$archive.key"
}

ensure_images() {
  mkdir -p "$IMAGE_CACHE"
  local here="$ROOT/hack/cluster" work key moddir
  work=$(mktemp -d)
  # pause
  moddir="$(go env GOMODCACHE)/k8s.io/kubernetes@$KUBERNETES_VERSION"
  if [ ! -f "$moddir/build/pause/linux/pause.c" ]; then
    moddir=$(go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  fi
  key=$(_src_key "$moddir/build/pause/linux/pause.c" "$here/images.sh")
  if [ "$(cat "$IMAGE_CACHE/pause.tar.key" 2>/dev/null)" != "$key" ]; then
    gcc -Os -Wall -Werror -static -DVERSION=v3.10.1-mlops -o "$work/pause" "$moddir/build/pause/linux/pause.c"
    _image pause "$PAUSE_IMAGE" "$work/pause" '["/pause"]' 65535:65535 "$key"
  fi
  # e2e-http
  key=$(_src_key "$here/e2e-http/main.go" "$here/e2e-http/go.mod" "$here/images.sh")
  if [ "$(cat "$IMAGE_CACHE/e2e-http.tar.key" 2>/dev/null)" != "$key" ]; then
    (cd "$here/e2e-http" && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$work/e2e-http" .)
    _image e2e-http "$E2E_IMAGE" "$work/e2e-http" '["/e2e-http"]' 65532:65532 "$key"
  fi
  # mlops-cri
  key=$(_src_key "$here/cri/main.go" "$here/cri/go.mod" "$here/cri/go.sum")
  if [ "$(cat "$IMAGE_CACHE/mlops-cri.key" 2>/dev/null)" != "$key" ]; then
    log "building mlops-cri"
    (cd "$here/cri" && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$IMAGE_CACHE/mlops-cri" .)
    echo "$key" >"$IMAGE_CACHE/mlops-cri.key"
  fi
  rm -rf "$work"
}

# import_images: every cached archive and every $IMAGE_DROP/*.tar into containerd's k8s.io
# namespace. An archive is imported again only when its size or mtime changed.
import_images() {
  local archive stamp seen
  mkdir -p "$STATE/containerd/imported" "$IMAGE_DROP"
  for archive in "$IMAGE_CACHE"/*.tar "$IMAGE_DROP"/*.tar; do
    [ -f "$archive" ] || continue
    stamp="$STATE/containerd/imported/$(echo "$archive" | sha256sum | cut -c1-16)"
    seen="$(stat -c '%s %Y' "$archive") $archive"
    if [ "$(cat "$stamp" 2>/dev/null)" = "$seen" ]; then continue; fi
    log "importing $archive"
    ctr -a "$CONTAINERD_SOCK" -n k8s.io images import "$archive" >/dev/null \
      || { log "import of $archive failed"; continue; }
    echo "$seen" >"$stamp"
  done
}
