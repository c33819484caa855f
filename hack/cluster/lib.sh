# Shared settings and helpers for hack/cluster-up.sh and hack/cluster-down.sh. Sourced, not run.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=../versions.env
source "$ROOT/hack/versions.env"

CACHE="${MLOPS_CACHE:-$HOME/.cache/mlops-operator}"
STATE="${MLOPS_CLUSTER_DIR:-$CACHE/cluster}"   # certs, kubeconfigs, etcd, containerd root, logs
RUN="${MLOPS_CLUSTER_RUN:-/run/mlops-cluster}"  # sockets, containerd state, pid files (tmpfs)
BIN="${MLOPS_BIN:-$ROOT/bin}"
PKI="$STATE/pki"
LOGS="$STATE/logs"
PIDS="$RUN/pids"
IMAGE_CACHE="$CACHE/cluster-images"  # pause + e2e images and helper binaries built by images.sh
IMAGE_DROP="$CACHE/images"           # archives other targets (make image) drop for import

CLUSTER_NAME=mlops-local
NODE_NAME="${MLOPS_NODE_NAME:-$(hostname | tr '[:upper:]' '[:lower:]')}"
POD_CIDR=198.18.0.0/16
SERVICE_CIDR=198.19.0.0/16
SERVICE_IP=198.19.0.1
BRIDGE=mlops0
CNI_NETWORK=mlops-pods

API_PORT=6443
ETCD_CLIENT_PORT=2379
ETCD_PEER_PORT=2380
KCM_PORT=10257
SCHEDULER_PORT=10259
KUBELET_PORT=10250
KUBELET_HEALTHZ_PORT=10248
PROXY_HEALTHZ_PORT=10256
PROXY_METRICS_PORT=10249

CONTAINERD_SOCK="$RUN/containerd.sock"
CONTAINERD_CONFIG="$STATE/containerd.toml"
PAUSE_IMAGE=registry.k8s.io/pause:3.10.1
E2E_IMAGE=mlops.local/e2e-http:v1
ADMIN_KUBECONFIG="$STATE/admin.kubeconfig"

# Every process cluster-up starts and tracks (pid files in $PIDS).
COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler containerd kubelet kube-proxy pv-recycler)

# One cluster-up or cluster-down at a time (concurrent test sessions may both call cluster-up).
lock_cluster() {
  mkdir -p "$CACHE"
  exec 9>"$CACHE/cluster.lock"
  flock -w 600 9 || die "another cluster-up/cluster-down holds $CACHE/cluster.lock"
}

log() { printf '[cluster] %s\n' "$*"; }
die() { printf '[cluster] ERROR: %s\n' "$*" >&2; exit 1; }

node_ip() {
  if [ -n "${MLOPS_NODE_IP:-}" ]; then echo "$MLOPS_NODE_IP"; return; fi
  local ip
  ip=$(ip -4 route get 1.1.1.1 2>/dev/null | awk '{for (i=1;i<NF;i++) if ($i=="src") {print $(i+1); exit}}')
  [ -n "$ip" ] || ip=$(ip -4 -o addr show scope global | awk '{split($4,a,"/"); print a[1]; exit}')
  [ -n "$ip" ] || die "no non-loopback IPv4 address for the node; set MLOPS_NODE_IP"
  echo "$ip"
}

kubectl_admin() { "$BIN/kubectl" --kubeconfig "$ADMIN_KUBECONFIG" "$@"; }

# pid of a component we started, if it still runs. A pid file is trusted only when the process's
# command line still names our state or run directory, so a recycled pid is never touched.
component_pid() {
  local name=$1 pid
  [ -f "$PIDS/$name.pid" ] || return 1
  pid=$(cat "$PIDS/$name.pid")
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -e "$STATE" -e "$RUN" || return 1
  echo "$pid"
}

is_running() { component_pid "$1" >/dev/null; }

# start NAME ARGV...: run detached in its own session, log to $LOGS/NAME.log, pid to $PIDS/NAME.pid.
start() {
  local name=$1; shift
  mkdir -p "$LOGS" "$PIDS"
  printf '\n==== %s %s\n' "$(date -Is)" "$*" >>"$LOGS/$name.log"
  setsid "$@" </dev/null >>"$LOGS/$name.log" 2>&1 9>&- &
  echo $! >"$PIDS/$name.pid"
  fingerprint "$@" >"$PIDS/$name.fingerprint"
}

# fingerprint ARGV...: the command line plus the contents of the config files it names.
fingerprint() {
  local arg
  {
    printf '%s\n' "$@"
    for arg in "$@"; do
      case "$arg" in *.yaml | *.toml | *.conflist) [ -f "$arg" ] && cat "$arg" ;; esac
    done
  } | sha256sum | cut -c1-16
}

STARTED=0  # set to 1 by ensure when it (re)starts a component

# ensure NAME PORTS ARGV...: keep NAME if it runs with the same command line and config, restart
# it if either changed, start it if it is not running. PORTS (space separated, may be empty) must
# be free before a fresh start.
ensure() {
  local name=$1 ports=$2 port; shift 2
  if is_running "$name"; then
    [ "$(cat "$PIDS/$name.fingerprint" 2>/dev/null)" = "$(fingerprint "$@")" ] && return 0
    log "$name: configuration changed, restarting"
    stop "$name"
  fi
  for port in $ports; do
    port_busy "$port" && die "port $port (for $name) is taken by another process: ss -ltnp 'sport = :$port'"
  done
  log "starting $name"
  start "$name" "$@"
  STARTED=1
}

# stop NAME...: SIGTERM to all of them at once, wait up to 20s, then SIGKILL. Only pids we recorded.
stop() {
  local name pid i alive
  local -A pids=()
  for name in "$@"; do
    if pid=$(component_pid "$name"); then
      pids[$name]=$pid
      kill -TERM "$pid" 2>/dev/null || true
    fi
    rm -f "$PIDS/$name.pid" "$PIDS/$name.fingerprint"
  done
  for i in $(seq 1 100); do
    alive=0
    for name in "${!pids[@]}"; do [ -d "/proc/${pids[$name]}" ] && alive=1; done
    [ $alive = 1 ] || break
    sleep 0.2
  done
  for name in "${!pids[@]}"; do
    pid=${pids[$name]}
    if [ -d "/proc/$pid" ]; then
      log "$name ($pid) ignored SIGTERM for 20s; killing"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    log "stopped $name ($pid)"
  done
}

# write_if_changed FILE < content: leave FILE untouched when the content is the same
# (kube-proxy exits when its config file is written to, even with identical content).
write_if_changed() {
  local tmp="$1.tmp.$$"
  cat >"$tmp"
  if cmp -s "$tmp" "$1"; then rm -f "$tmp"; else mv "$tmp" "$1"; fi
}

port_busy() { ss -Hltn "sport = :$1" | grep -q .; }

# wait_until SECONDS DESCRIPTION COMMAND...: poll every 0.5s.
wait_until() {
  local seconds=$1 what=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then
      log "timed out after ${seconds}s waiting for $what"
      return 1
    fi
    sleep 0.5
  done
}
