#!/usr/bin/env bash
# Builds the pinned Kubernetes components, etcd, helm, kubeconform and MinIO from the Go
# module proxy into a cache outside the clone, then links them into bin/.
# Idempotent: a tool already in the cache for its pinned version is not rebuilt.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=versions.env
source "$here/versions.env"

cache=${MLOPS_CACHE:-$HOME/.cache/mlops-operator}
bin="$root/bin"
mkdir -p "$bin" "$cache/tools"
export CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false"
build_date=$(date -u -d @0 +%Y-%m-%dT%H:%M:%SZ)

log() { printf '[tools] %s\n' "$*" >&2; }

gomod_of() {  # path of a module's go.mod in the module cache
  go mod download -json "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])'
}

# Writes a throwaway module at $1 that requires module $2@$3 and pins every local
# "=> ./x" or "=> ../x" replace of the upstream go.mod to a published version,
# as printed by the function named in $4 for each replaced module path.
throwaway_module() {
  local dir=$1 mod=$2 version=$3 pin=$4 upstream
  upstream=$(gomod_of "$mod@$version")
  mkdir -p "$dir"
  {
    echo "module mlops-operator.local/tools"
    grep -E '^(go|godebug) ' "$upstream"
    echo "require $mod $version"
    # Keep upstream's own requirements so MVS lands on the versions it was tested with.
    awk '/^require \($/{r=1;next} r&&/^\)/{r=0} r' "$upstream" |
      grep -v '=>' | awk '{print "require " $1 " " $2}' | grep -v " v0.0.0$" || true
    awk '/^replace \($/{r=1;next} r&&/^\)/{r=0} r{print} /^replace [^(]/{sub(/^replace /,"");print}' "$upstream" |
      grep -E '=> \.\.?/' | awk '{print $1}' | sort -u | while read -r m; do
        v=$($pin "$m" "$upstream")
        # upstream's guards against forbidden modules ("=> ./FORBIDDEN_DEPENDENCY") have no version
        [ -n "$v" ] && echo "replace $m => $m $v"
      done || true
  } > "$dir/go.mod"
}

k8s_staging_pin() { echo "v0${KUBERNETES_VERSION#v1}"; }
etcd_pin() {  # the version upstream itself requires for a module it replaces locally
  awk -v m="$1" '$1==m && $2 ~ /^v/ {print $2; exit}' "$2"
}

k8s_tools=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl kubeadm)

build_kubernetes() {
  local out="$cache/tools/kubernetes-$KUBERNETES_VERSION" v=$KUBERNETES_VERSION
  local missing=()
  for t in "${k8s_tools[@]}"; do [ -x "$out/$t" ] || missing+=("$t"); done
  if [ ${#missing[@]} -eq 0 ]; then log "kubernetes $v cached"; return; fi
  log "building ${missing[*]} $v (cold: tens of minutes)"
  local mod="$cache/src/kubernetes-$v"
  throwaway_module "$mod" k8s.io/kubernetes "$v" k8s_staging_pin
  local minor=${v#v1.}; minor=${minor%%.*}
  local ld="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $p.gitVersion=$v -X $p.gitMajor=1 -X $p.gitMinor=$minor"
    ld+=" -X $p.gitTreeState=clean -X $p.buildDate=$build_date"
  done
  local pkgs=()
  for t in "${missing[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$t"); done
  mkdir -p "$out.tmp"
  (cd "$mod" && go build -trimpath -tags selinux,notest -ldflags "$ld" -o "$out.tmp/" "${pkgs[@]}")
  mkdir -p "$out" && mv "$out.tmp"/* "$out/" && rmdir "$out.tmp"
}

build_etcd() {
  local out="$cache/tools/etcd-$ETCD_VERSION"
  if [ -x "$out/etcd" ]; then log "etcd $ETCD_VERSION cached"; return; fi
  log "building etcd $ETCD_VERSION"
  local mod="$cache/src/etcd-$ETCD_VERSION"
  throwaway_module "$mod" go.etcd.io/etcd/server/v3 "$ETCD_VERSION" etcd_pin
  mkdir -p "$out"
  (cd "$mod" && go build -trimpath -ldflags "-s -w" -o "$out/etcd.tmp" go.etcd.io/etcd/server/v3)
  mv "$out/etcd.tmp" "$out/etcd"
}

build_helm() {
  local out="$cache/tools/helm-$HELM_VERSION"
  if [ -x "$out/helm" ]; then log "helm $HELM_VERSION cached"; return; fi
  log "building helm $HELM_VERSION"
  local minor=${KUBERNETES_VERSION#v1.}; minor=${minor%%.*}
  local ld="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
  for p in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
    ld+=" -X $p.k8sVersionMajor=1 -X $p.k8sVersionMinor=$minor"
  done
  mkdir -p "$out"
  GOBIN="$out" go install -trimpath -ldflags "$ld" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
}

build_kubeconform() {
  local out="$cache/tools/kubeconform-$KUBECONFORM_VERSION"
  if [ -x "$out/kubeconform" ]; then log "kubeconform $KUBECONFORM_VERSION cached"; return; fi
  log "building kubeconform $KUBECONFORM_VERSION"
  mkdir -p "$out"
  GOBIN="$out" go install -trimpath -ldflags "-s -w -X main.version=$KUBECONFORM_VERSION" \
    "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION"
}

build_minio() {  # the S3 server of the integration and e2e tiers (tests/support/minio.py)
  local out="$cache/tools/minio-$MINIO_VERSION"
  if [ -x "$out/minio" ]; then log "minio $MINIO_VERSION cached"; return; fi
  log "building minio $MINIO_VERSION (cold: several minutes)"
  mkdir -p "$out"
  GOBIN="$out" go install -trimpath -ldflags "-s -w" "github.com/minio/minio@$MINIO_VERSION"
}

link() {
  local dir=$1; shift
  for t in "$@"; do ln -sfn "$dir/$t" "$bin/$t"; done
}

only=${1:-all}
case $only in
  all|control-plane)
    build_etcd; build_kubernetes
    [ "$only" = all ] && { build_helm; build_kubeconform; build_minio; } ;;
  *) echo "usage: $0 [all|control-plane]" >&2; exit 2 ;;
esac
link "$cache/tools/kubernetes-$KUBERNETES_VERSION" "${k8s_tools[@]}"
link "$cache/tools/etcd-$ETCD_VERSION" etcd
if [ "$only" = all ]; then
  link "$cache/tools/helm-$HELM_VERSION" helm
  link "$cache/tools/kubeconform-$KUBECONFORM_VERSION" kubeconform
  link "$cache/tools/minio-$MINIO_VERSION" minio
fi
log "tools ready in $bin"
