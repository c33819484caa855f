#!/usr/bin/env bash
# Stop the local cluster started by hack/cluster-up.sh and remove what it set up on the host:
# pod sandboxes (CNI teardown), containerd and its shims, kube-proxy's iptables rules, the
# control plane, mounts under the cluster's directories, the CNI bridge, changed sysctls.
# Only processes whose pids cluster-up recorded (and whose command line names our directories)
# are signalled. Harmless when nothing is running.
#   CLEAN=1  also wipe the cluster state ($STATE: etcd data, containerd's image store, kubelet
#            dir, volumes, certificates, logs). Built images in $IMAGE_CACHE are kept either way.
set -euo pipefail
source "$(dirname "$0")/cluster/lib.sh"
[ "$(id -u)" -eq 0 ] || die "run as root"
lock_cluster
START=$SECONDS

# 1. kubelet first, so it does not restart what we stop next; the volume recycler.
stop kubelet pv-recycler

# 2. every pod sandbox through CRI: stops containers, runs CNI DEL (veth, IPAM, masquerade rules),
#    removes the network namespace.
if is_running containerd; then
  if [ -x "$IMAGE_CACHE/mlops-cri" ]; then
    "$IMAGE_CACHE/mlops-cri" -endpoint "unix://$CONTAINERD_SOCK" -timeout 90s stop-all \
      | sed 's/^/[cluster] /' || log "some sandboxes could not be removed through CRI"
  fi
  # Anything left (other namespaces, or CRI failed): kill the tasks directly.
  for ns in $(ctr -a "$CONTAINERD_SOCK" namespaces ls -q 2>/dev/null); do
    for task in $(ctr -a "$CONTAINERD_SOCK" -n "$ns" tasks ls -q 2>/dev/null); do
      ctr -a "$CONTAINERD_SOCK" -n "$ns" tasks kill -s SIGKILL "$task" >/dev/null 2>&1 || true
      sleep 0.2
      ctr -a "$CONTAINERD_SOCK" -n "$ns" tasks delete -f "$task" >/dev/null 2>&1 || true
      log "killed task $ns/$task"
    done
  done
fi

# 3. containerd, kube-proxy, scheduler and controller-manager together (each takes ~2 s to shut
#    down gracefully), then any runc shim containerd started that outlived it (their command line
#    carries our socket address, which no other containerd uses).
proxy_was_running=0
is_running kube-proxy && proxy_was_running=1
stop containerd kube-proxy kube-scheduler kube-controller-manager
for proc in /proc/[0-9]*; do
  cmd=$(tr '\0' ' ' 2>/dev/null <"$proc/cmdline") || continue
  case "$cmd" in
    *containerd-shim*"-address $CONTAINERD_SOCK "*)
      kill -KILL "${proc#/proc/}" 2>/dev/null && log "killed leftover shim ${proc#/proc/}" ;;
  esac
done

# 4. kube-proxy's iptables rules.
if [ $proxy_was_running = 1 ]; then
  "$BIN/kube-proxy" --cleanup --v 0 >>"$LOGS/kube-proxy.log" 2>&1 || log "kube-proxy --cleanup reported errors; see $LOGS/kube-proxy.log"
fi

# 5. the API server, then etcd (an API server whose etcd is gone waits 20 s to shut down).
stop kube-apiserver
stop etcd

# 6. mounts under our directories (kubelet's projected volumes, containerd's rootfs and shm).
for dir in "$STATE" "$RUN"; do
  findmnt -rn -o TARGET | awk -v d="$dir/" 'index($0, d) == 1' | sort -r | while read -r target; do
    umount "$target" 2>/dev/null || umount -l "$target" 2>/dev/null || true
    log "unmounted $target"
  done
done

# 7. network: masquerade rules the bridge plugin left behind (only if CNI DEL did not run), the bridge.
iptables -t nat -S POSTROUTING 2>/dev/null | { grep -F "\\\"$CNI_NETWORK\\\"" || true; } | while IFS= read -r rule; do
  chain=$(sed -n 's/.* -j \([^ ]*\).*/\1/p' <<<"$rule")
  eval "iptables -t nat ${rule/#-A /-D }" 2>/dev/null || true
  if [ -n "$chain" ]; then iptables -t nat -F "$chain" 2>/dev/null && iptables -t nat -X "$chain" 2>/dev/null || true; fi
  log "removed leftover masquerade rule -> $chain"
done
# The kubelet's own chains (kube-proxy --cleanup leaves them): its canaries, the iptables-mode
# hint and KUBE-FIREWALL (drops non-loopback traffic to 127.0.0.0/8).
for cmd in iptables ip6tables; do
  for table in filter nat mangle; do
    for chain in KUBE-FIREWALL KUBE-KUBELET-CANARY KUBE-IPTABLES-HINT; do
      "$cmd" -t "$table" -S "$chain" >/dev/null 2>&1 || continue
      for parent in INPUT OUTPUT FORWARD PREROUTING POSTROUTING; do
        while "$cmd" -t "$table" -D "$parent" -j "$chain" 2>/dev/null; do :; done
      done
      "$cmd" -t "$table" -F "$chain" 2>/dev/null && "$cmd" -t "$table" -X "$chain" 2>/dev/null || true
    done
  done
done
if ip link show "$BRIDGE" >/dev/null 2>&1; then
  ip link delete "$BRIDGE" && log "removed bridge $BRIDGE"
fi

# 8. sysctls back to what they were before cluster-up.
if [ -f "$STATE/sysctl.orig" ]; then
  while IFS= read -r setting; do sysctl -qw "$setting" 2>/dev/null || true; done <"$STATE/sysctl.orig"
  rm -f "$STATE/sysctl.orig"
fi

# 9. the pod cgroups the kubelet created (empty by now).
for hierarchy in /sys/fs/cgroup/*/; do
  [ -d "${hierarchy}kubepods" ] || continue
  find "${hierarchy}kubepods" -depth -type d -exec rmdir {} + 2>/dev/null || true
done

rm -rf "$PIDS" "$RUN"
if [ "${CLEAN:-0}" = 1 ]; then
  if findmnt -rn -o TARGET | grep -qF "$STATE/"; then
    die "mounts remain under $STATE; not wiping it"
  fi
  rm -rf "$STATE"
  log "wiped $STATE"
fi
log "down in $((SECONDS - START))s"
