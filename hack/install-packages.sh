#!/usr/bin/env bash
# Debian packages the tests and the local cluster need. Idempotent: installs only what is missing.
#   prometheus                     - integration tier scrapes the operator with a real Prometheus
#   wrk                            - serving load tests and benchmarks
#   containerd runc cni iptables   - the local single-node cluster (make cluster-up)
#   conntrack socat ethtool        - kube-proxy and kubectl port-forward on that node
#   buildah debootstrap            - images built locally without a registry (make image)
set -euo pipefail

PACKAGES=(
  prometheus wrk
  containerd runc containernetworking-plugins iptables conntrack socat ethtool iproute2
  buildah debootstrap
)

missing=()
for package in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "[packages] all present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "[packages] missing ${missing[*]}; run as root: apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "[packages] installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The Debian packages start their services; tests and the cluster scripts start their own.
for service in prometheus prometheus-node-exporter containerd; do
  systemctl disable --now "$service" >/dev/null 2>&1 || true
  pkill -x "${service%%-*}" >/dev/null 2>&1 || true
done
echo "[packages] done"
