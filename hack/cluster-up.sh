#!/usr/bin/env bash
# Start the local single-node cluster: etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, containerd, kubelet and kube-proxy as processes on the machine it runs on,
# real pods through runc and the CNI bridge plugin. Idempotent: components already running are kept,
# missing ones are started, and a healthy cluster returns at once. See docs/local-cluster.md.
#   MLOPS_NODE_IP=...    node address (default: the source address of the default route)
#   CLUSTER_UP_TIMEOUT=N seconds to wait for the node and the smoke pod (default 180)
set -euo pipefail
source "$(dirname "$0")/cluster/lib.sh"
source "$ROOT/hack/cluster/pki.sh"
source "$ROOT/hack/cluster/images.sh"
TIMEOUT=${CLUSTER_UP_TIMEOUT:-180}
START=$SECONDS

[ "$(id -u)" -eq 0 ] || die "run as root (containerd, kubelet and iptables need it)"
lock_cluster
for tool in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl etcd; do
  [ -x "$BIN/$tool" ] || die "$BIN/$tool is missing: run make tools"
done
for tool in containerd containerd-shim-runc-v2 runc ctr iptables conntrack buildah gcc go openssl; do
  command -v "$tool" >/dev/null || die "$tool is missing: run make packages"
done
[ -x /usr/lib/cni/bridge ] || die "/usr/lib/cni/bridge is missing: run make packages"

NODE_IP=$(node_ip)
mkdir -p "$STATE" "$LOGS" "$PIDS" "$RUN"

api_ready() {
  curl -fsS --max-time 3 --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" \
    "https://127.0.0.1:$API_PORT/readyz" >/dev/null 2>&1
}
node_ready() {
  [ "$(kubectl_admin get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}
print_env() {
  cat >"$STATE/env" <<ENV
export KUBECONFIG=$ADMIN_KUBECONFIG
export CONTAINERD_ADDRESS=$CONTAINERD_SOCK
export CONTAINERD_NAMESPACE=k8s.io
ENV
  log "ready in $((SECONDS - START))s; node $NODE_NAME ($NODE_IP)"
  echo "export KUBECONFIG=$ADMIN_KUBECONFIG"
}

# ---- host prerequisites (original values kept so cluster-down can restore them)
if [ ! -f "$STATE/sysctl.orig" ]; then
  {
    echo "net.ipv4.ip_forward=$(sysctl -n net.ipv4.ip_forward)"
    echo "net.bridge.bridge-nf-call-iptables=$(sysctl -n net.bridge.bridge-nf-call-iptables 2>/dev/null || echo 0)"
  } >"$STATE/sysctl.orig"
fi
[ -e /proc/sys/net/bridge/bridge-nf-call-iptables ] || modprobe br_netfilter 2>/dev/null || true
[ -e /proc/sys/net/bridge/bridge-nf-call-iptables ] || die "br_netfilter is not available (no /proc/sys/net/bridge)"
sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1

# ---- certificates, images
ensure_pki "$NODE_IP"
ensure_images

# ---- etcd
ensure etcd "$ETCD_CLIENT_PORT $ETCD_PEER_PORT" "$BIN/etcd" --name "$NODE_NAME" --data-dir "$STATE/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --advertise-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "$NODE_NAME=http://127.0.0.1:$ETCD_PEER_PORT" \
    --unsafe-no-fsync --quota-backend-bytes $((4 * 1024 ** 3)) --log-level warn
wait_until 30 "etcd" curl -fsS "http://127.0.0.1:$ETCD_CLIENT_PORT/health" || die "etcd did not start; see $LOGS/etcd.log"

# ---- kube-apiserver
ensure kube-apiserver "$API_PORT" "$BIN/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --bind-address 0.0.0.0 --advertise-address "$NODE_IP" --secure-port "$API_PORT" \
    --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
    --client-ca-file "$PKI/ca.crt" \
    --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" \
    --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority "$PKI/ca.crt" \
    --kubelet-preferred-address-types InternalIP,Hostname \
    --service-cluster-ip-range "$SERVICE_CIDR" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
    --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
    --allow-privileged=true --cert-dir "$PKI" --event-ttl 1h \
    --profiling=false --v 1
wait_until 90 "kube-apiserver /readyz" api_ready || die "kube-apiserver is not ready; see $LOGS/kube-apiserver.log"

# ---- kube-controller-manager, kube-scheduler
ensure kube-controller-manager "$KCM_PORT" "$BIN/kube-controller-manager" \
    --kubeconfig "$STATE/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$STATE/controller-manager.kubeconfig" \
    --authorization-kubeconfig "$STATE/controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$KCM_PORT" \
    --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
    --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
    --use-service-account-credentials=true \
    --allocate-node-cidrs=true --cluster-cidr "$POD_CIDR" --node-cidr-mask-size 16 \
    --service-cluster-ip-range "$SERVICE_CIDR" --cluster-name "$CLUSTER_NAME" \
    --leader-elect=false --controllers '*' --profiling=false --v 1
ensure kube-scheduler "$SCHEDULER_PORT" "$BIN/kube-scheduler" \
    --kubeconfig "$STATE/scheduler.kubeconfig" \
    --authentication-kubeconfig "$STATE/scheduler.kubeconfig" \
    --authorization-kubeconfig "$STATE/scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$SCHEDULER_PORT" --leader-elect=false --profiling=false --v 1

# ---- CNI: one bridge for all pods, host-local IPAM over the whole pod CIDR
mkdir -p "$STATE/cni/net.d" "$STATE/cni/ipam"
write_if_changed "$STATE/cni/net.d/10-$CNI_NETWORK.conflist" <<CNI
{
  "cniVersion": "1.0.0",
  "name": "$CNI_NETWORK",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$STATE/cni/ipam",
        "ranges": [[{"subnet": "$POD_CIDR"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
CNI

# ---- containerd (its own config, root and sockets; never the system's /run/containerd)
write_if_changed "$CONTAINERD_CONFIG" <<TOML
version = 2
root = "$STATE/containerd/root"
state = "$RUN/containerd"
[grpc]
  address = "$CONTAINERD_SOCK"
[ttrpc]
  address = "$RUN/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_cdi = false
  # Where root lacks CAP_SYS_RESOURCE (unprivileged containers, some VMs) no process may lower
  # its oom_score_adj below containerd's own (0); without this, runc fails there for every
  # sandbox (-998). Harmless where root has it. See docs/local-cluster.md.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    discard_unpacked_layers = false
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$RUN/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$STATE/cni/net.d"
    max_conf_num = 1
TOML
ensure containerd "" containerd --config "$CONTAINERD_CONFIG" --log-level warn
wait_until 30 "containerd" ctr -a "$CONTAINERD_SOCK" version || die "containerd did not start; see $LOGS/containerd.log"
import_images

# ---- kubelet
mkdir -p "$STATE/kubelet" "$STATE/pod-logs"
write_if_changed "$STATE/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 0.0.0.0
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $KUBELET_HEALTHZ_PORT
tlsCertFile: $PKI/kubelet-serving.crt
tlsPrivateKeyFile: $PKI/kubelet-serving.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization:
  mode: Webhook
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
failSwapOn: false
oomScoreAdj: 0
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: 100Mi
  nodefs.available: 2%
  imagefs.available: 2%
podLogsDir: $STATE/pod-logs
registerNode: true
serializeImagePulls: false
resolvConf: /etc/resolv.conf
rotateCertificates: false
serverTLSBootstrap: false
YAML
ensure kubelet "$KUBELET_PORT $KUBELET_HEALTHZ_PORT" "$BIN/kubelet" --config "$STATE/kubelet.yaml" --kubeconfig "$STATE/kubelet.kubeconfig" \
    --root-dir "$STATE/kubelet" --hostname-override "$NODE_NAME" --node-ip "$NODE_IP" \
    --node-labels "mlops.dev/local-cluster=true" --v 1

# ---- kube-proxy
write_if_changed "$STATE/kube-proxy.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: $STATE/kube-proxy.kubeconfig
mode: iptables
clusterCIDR: $POD_CIDR
hostnameOverride: $NODE_NAME
nodePortAddresses: [primary]
bindAddress: 0.0.0.0
healthzBindAddress: 127.0.0.1:$PROXY_HEALTHZ_PORT
metricsBindAddress: 127.0.0.1:$PROXY_METRICS_PORT
oomScoreAdj: 0
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
YAML
ensure kube-proxy "$PROXY_HEALTHZ_PORT $PROXY_METRICS_PORT" "$BIN/kube-proxy" --config "$STATE/kube-proxy.yaml" --v 1

# ---- node, storage, smoke pod
wait_until "$TIMEOUT" "node $NODE_NAME Ready" node_ready \
  || die "node $NODE_NAME is not Ready; see $LOGS/kubelet.log and $LOGS/containerd.log"
kubectl_admin label node "$NODE_NAME" --overwrite node-role.kubernetes.io/control-plane= node-role.kubernetes.io/worker= >/dev/null
bash "$ROOT/hack/cluster/storage.sh"
ensure pv-recycler "" bash "$ROOT/hack/cluster/storage.sh" recycle-loop "$STATE"

if [ "$STARTED" = 0 ]; then
  log "already running"
  print_env
  exit 0
fi
SMOKE=cluster-smoke-$(date +%s)
kubectl_admin -n kube-system run "$SMOKE" --image "$E2E_IMAGE" --image-pull-policy Never \
  --restart Never --labels app.kubernetes.io/part-of=mlops-local-cluster -- sleep >/dev/null
if ! kubectl_admin -n kube-system wait --for=condition=Ready "pod/$SMOKE" --timeout "${TIMEOUT}s" >/dev/null; then
  kubectl_admin -n kube-system describe pod "$SMOKE" | tail -20
  die "the smoke pod did not start; see $LOGS/kubelet.log and $LOGS/containerd.log"
fi
log "smoke pod running at $(kubectl_admin -n kube-system get pod "$SMOKE" -o jsonpath='{.status.podIP}')"
kubectl_admin -n kube-system delete pod "$SMOKE" --grace-period 0 --wait=false >/dev/null
print_env
