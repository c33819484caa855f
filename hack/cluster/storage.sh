#!/usr/bin/env bash
# Storage of the local cluster: StorageClass `local-path` (the default class) with no
# provisioner, and a pool of pre-created hostPath PersistentVolumes under $STATE/volumes that
# PVCs of that class bind to at once. Released volumes (their PVC was deleted) are wiped and
# made Available again: by `storage.sh recycle-loop` (cluster-up runs it in the background as the
# tracked component pv-recycler, every 5 s) and by every run of this script. Capacity is nominal:
# hostPath does not enforce it. Directories are mode 0777 so non-root pods can write.
#   storage.sh                     apply the StorageClass and the pool, recycle once
#   storage.sh recycle-loop DIR    recycle forever (DIR = the cluster state dir, names the process)
#   MLOPS_PV_COUNT=N               volumes in the pool (default 10)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
COUNT=${MLOPS_PV_COUNT:-10}
VOLUMES="$STATE/volumes"
mkdir -p "$VOLUMES"

# Released -> wipe -> Available.
recycle() {
  kubectl_admin get pv -l app.kubernetes.io/part-of=mlops-local-cluster \
    -o jsonpath='{range .items[?(@.status.phase=="Released")]}{.metadata.name} {.spec.hostPath.path}{"\n"}{end}' |
    while read -r name path; do
      [ -n "$name" ] || continue
      case "$path" in "$VOLUMES"/pv*) ;; *) continue ;; esac
      find "$path" -mindepth 1 -delete
      chmod 0777 "$path"
      kubectl_admin patch pv "$name" --type json -p '[{"op":"remove","path":"/spec/claimRef"}]' >/dev/null
      echo "[cluster] recycled $name"
    done
}

if [ "${1:-}" = recycle-loop ]; then
  trap 'kill $! 2>/dev/null; exit 0' TERM INT
  while true; do
    sleep 5 &
    wait $!
    recycle || true
  done
fi

{
  cat <<YAML
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: local-path
  annotations:
    storageclass.kubernetes.io/is-default-class: "true"
  labels: {app.kubernetes.io/part-of: mlops-local-cluster}
provisioner: kubernetes.io/no-provisioner
reclaimPolicy: Retain
volumeBindingMode: Immediate
YAML
  for i in $(seq -w 1 "$COUNT"); do
    mkdir -p "$VOLUMES/pv$i"
    chmod 0777 "$VOLUMES/pv$i"
    cat <<YAML
---
apiVersion: v1
kind: PersistentVolume
metadata:
  name: local-path-pv$i
  labels: {app.kubernetes.io/part-of: mlops-local-cluster}
spec:
  storageClassName: local-path
  capacity: {storage: 50Gi}
  accessModes: [ReadWriteOnce, ReadWriteMany]
  persistentVolumeReclaimPolicy: Retain
  hostPath: {path: $VOLUMES/pv$i, type: Directory}
YAML
  done
} | kubectl_admin apply -f - >/dev/null

recycle
echo "[cluster] storage: StorageClass local-path, $COUNT hostPath volumes under $VOLUMES"
