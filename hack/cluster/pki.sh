# Certificates, keys and kubeconfigs of the local cluster, made with openssl. Sourced by cluster-up.sh.
# Kept across restarts; regenerated when the node name or IP changes or a certificate expires
# within a day. The CA is valid 10 years, leaf certificates 1 year.
# shellcheck shell=bash

_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; chmod 600 "$1"; }

# _issue NAME CN ORG USAGE [SAN]: USAGE is serverAuth, clientAuth or "serverAuth,clientAuth".
_issue() {
  local name=$1 cn=$2 org=$3 usage=$4 san=${5:-} subj ext
  subj="/CN=$cn"
  [ -z "$org" ] || subj="/O=$org$subj"
  ext="basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=$usage"
  [ -z "$san" ] || ext="$ext
subjectAltName=$san"
  _key "$PKI/$name.key"
  openssl req -new -key "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -days 365 -sha256 -extfile <(printf '%s\n' "$ext") -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr"
}

# _kubeconfig FILE USER CERTNAME [SERVER]: certificates embedded so the file can be copied anywhere.
_kubeconfig() {
  local file=$1 user=$2 cert=$3 server=${4:-https://127.0.0.1:$API_PORT}
  cat >"$file" <<KCFG
apiVersion: v1
kind: Config
clusters:
- name: $CLUSTER_NAME
  cluster:
    server: $server
    certificate-authority-data: $(base64 -w0 "$PKI/ca.crt")
users:
- name: $user
  user:
    client-certificate-data: $(base64 -w0 "$PKI/$cert.crt")
    client-key-data: $(base64 -w0 "$PKI/$cert.key")
contexts:
- name: $CLUSTER_NAME
  context: {cluster: $CLUSTER_NAME, user: $user}
current-context: $CLUSTER_NAME
KCFG
  chmod 600 "$file"
}

ensure_pki() {
  local ip=$1 identity
  identity="node=$NODE_NAME ip=$ip"
  mkdir -p "$PKI"
  chmod 700 "$PKI"
  if [ -f "$PKI/identity" ] && [ "$(cat "$PKI/identity")" = "$identity" ] \
    && openssl x509 -checkend 86400 -noout -in "$PKI/apiserver.crt" >/dev/null 2>&1 \
    && openssl x509 -checkend 86400 -noout -in "$PKI/ca.crt" >/dev/null 2>&1 \
    && [ -f "$STATE/kube-proxy.kubeconfig" ]; then
    return 0
  fi
  log "certificates for $identity"
  if ! openssl x509 -checkend 86400 -noout -in "$PKI/ca.crt" >/dev/null 2>&1; then
    _key "$PKI/ca.key"
    openssl req -x509 -new -key "$PKI/ca.key" -subj "/CN=mlops-local-cluster-ca" -days 3650 -sha256 \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
      -out "$PKI/ca.crt" 2>/dev/null
  fi
  _issue apiserver kube-apiserver "" serverAuth \
    "IP:127.0.0.1,IP:$SERVICE_IP,IP:$ip,DNS:localhost,DNS:$NODE_NAME,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  _issue apiserver-kubelet-client kube-apiserver-kubelet-client system:masters clientAuth
  _issue admin mlops-local-admin system:masters clientAuth
  _issue controller-manager system:kube-controller-manager "" clientAuth
  _issue scheduler system:kube-scheduler "" clientAuth
  _issue kube-proxy system:kube-proxy "" clientAuth
  _issue kubelet-client "system:node:$NODE_NAME" system:nodes clientAuth
  _issue kubelet-serving "system:node:$NODE_NAME" system:nodes serverAuth "IP:127.0.0.1,IP:$ip,DNS:$NODE_NAME,DNS:localhost"
  if [ ! -f "$PKI/sa.key" ]; then
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$PKI/sa.key" 2>/dev/null
    chmod 600 "$PKI/sa.key"
    openssl pkey -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  fi
  _kubeconfig "$ADMIN_KUBECONFIG" admin admin
  _kubeconfig "$STATE/controller-manager.kubeconfig" system:kube-controller-manager controller-manager
  _kubeconfig "$STATE/scheduler.kubeconfig" system:kube-scheduler scheduler
  _kubeconfig "$STATE/kube-proxy.kubeconfig" system:kube-proxy kube-proxy
  _kubeconfig "$STATE/kubelet.kubeconfig" "system:node:$NODE_NAME" kubelet-client
  echo "$identity" >"$PKI/identity"
}
