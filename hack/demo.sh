#!/usr/bin/env bash
# `make demo`: the iris pipeline end to end on a real cluster, each step timed.
#
#   CLUSTER=local   (default) a single-node cluster on the machine that runs this script:
#                   make packages tools image cluster-up (all idempotent), the image imported
#                   into its containerd.
#   CLUSTER=current the cluster of the current kubeconfig context (kind, minikube, a real one).
#                   Nothing is built or loaded: IMAGE_REPOSITORY/IMAGE_TAG (default
#                   mlops-operator:<version>) must be pullable there or already on its nodes.
#   CLUSTER=kind    creates (or reuses) the kind cluster KIND_CLUSTER_NAME (mlops-demo), builds
#                   the image with `docker build` and loads it with `kind load docker-image`.
#                   Needs Docker and kind; not exercised by this project's CI.
#
# Runs again cleanly: an existing namespace DEMO_NAMESPACE (mlops) is emptied and deleted first
# (its artifact store claim too), then everything is installed afresh.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export PATH="$ROOT/bin:$PATH"

CLUSTER=${CLUSTER:-local}
NS=${DEMO_NAMESPACE:-mlops}
RELEASE=${DEMO_RELEASE:-mlops}
VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' pyproject.toml | head -1)
IMAGE_REPOSITORY=${IMAGE_REPOSITORY:-mlops-operator}
IMAGE_TAG=${IMAGE_TAG:-$VERSION}
IMAGE="$IMAGE_REPOSITORY:$IMAGE_TAG"
PULL_POLICY=${IMAGE_PULL_POLICY:-IfNotPresent}
KIND_CLUSTER_NAME=${KIND_CLUSTER_NAME:-mlops-demo}
PY="$ROOT/.venv/bin/python"
WORK="$ROOT/.tmp/demo"
KINDS=driftmonitors.mlops.dev,modeldeployments.mlops.dev,trainingjobs.mlops.dev,datasets.mlops.dev,modelversions.mlops.dev
mkdir -p "$WORK"
started=$(date +%s)

say() { printf '[demo %4ss] %s\n' "$(($(date +%s) - started))" "$*"; }
k() { kubectl -n "$NS" "$@"; }
get() { k get "$1" -o "jsonpath=$2"; }

diagnose() {
  set +e
  echo "---- what the cluster shows (namespace $NS)" >&2
  k get mlops,jobs,deployments,pods -o wide >&2
  echo "---- operator log (last 40 lines)" >&2
  k logs "deployment/$RELEASE-mlops-operator" --tail=40 >&2
  echo "---- events (last 25)" >&2
  k get events --sort-by=.lastTimestamp 2>/dev/null | tail -25 >&2
}

fail() {
  say "FAILED: $*" >&2
  diagnose
  exit 1
}

# run_logged LOG DESCRIPTION COMMAND...: run quietly; on failure show the end of the log.
run_logged() {
  local log="$WORK/$1.log" what=$2 t0
  shift 2
  t0=$(date +%s)
  if ! "$@" >"$log" 2>&1; then
    tail -40 "$log" >&2
    fail "$what (log: $log)"
  fi
  say "$what ($(($(date +%s) - t0))s)"
}

# wait_until TIMEOUT DESCRIPTION COMMAND...: poll every 2 s until the command succeeds.
wait_until() {
  local timeout=$1 what=$2 deadline
  shift 2
  deadline=$(($(date +%s) + timeout))
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || fail "timed out after ${timeout}s waiting for $what"
    sleep 2
  done
}

condition() { # condition RESOURCE TYPE STATUS
  [ "$(get "$1" "{.status.conditions[?(@.type==\"$2\")].status}")" = "$3" ]
}
field_is() { [ "$(get "$1" "$2")" = "$3" ]; }
has_field() { [ -n "$(get "$1" "$2")" ]; }

# ---------------------------------------------------------------------- the cluster
case "$CLUSTER" in
  local)
    [ "$(id -u)" -eq 0 ] || fail "CLUSTER=local runs the cluster as root (or use CLUSTER=current)"
    run_logged packages "Debian packages present (make packages)" make -s packages
    run_logged tools "Kubernetes v1.34 tools, helm, kubeconform in bin/ (make tools)" make -s tools
    run_logged image "image $IMAGE built (make image)" make -s image
    run_logged cluster "local cluster up (make cluster-up)" make -s cluster-up
    export KUBECONFIG="$HOME/.cache/mlops-operator/cluster/admin.kubeconfig"
    CLIENT=${DEMO_CLIENT:-host}
    ;;
  current)
    run_logged tools "kubectl and helm in bin/ (make tools)" make -s tools
    context=$(kubectl config current-context 2>/dev/null) || fail "no current kubeconfig context"
    kubectl version >/dev/null 2>&1 || fail "the cluster of context $context does not answer"
    say "using the current context $context; image $IMAGE must be pullable there or on its nodes"
    CLIENT=${DEMO_CLIENT:-pod}
    ;;
  kind)
    command -v docker >/dev/null || fail "CLUSTER=kind needs docker"
    command -v kind >/dev/null || fail "CLUSTER=kind needs kind (https://kind.sigs.k8s.io)"
    run_logged tools "kubectl and helm in bin/ (make tools)" make -s tools
    if ! kind get clusters 2>/dev/null | grep -qx "$KIND_CLUSTER_NAME"; then
      run_logged kind-create "kind cluster $KIND_CLUSTER_NAME created" \
        kind create cluster --name "$KIND_CLUSTER_NAME" --wait 120s
    fi
    kind get kubeconfig --name "$KIND_CLUSTER_NAME" >"$WORK/kind.kubeconfig"
    export KUBECONFIG="$WORK/kind.kubeconfig"
    run_logged docker-build "image $IMAGE built (docker build)" docker build -t "$IMAGE" .
    run_logged kind-load "image loaded into kind (kind load docker-image)" \
      kind load docker-image "$IMAGE" --name "$KIND_CLUSTER_NAME"
    CLIENT=${DEMO_CLIENT:-pod}
    ;;
  *) fail "CLUSTER must be local, current or kind, not '$CLUSTER'" ;;
esac
say "cluster: $(kubectl get nodes --no-headers 2>/dev/null | awk '{print $1" "$2" "$5}' | paste -sd, -)"

# ---------------------------------------------------------------------- a clean namespace
if kubectl get namespace "$NS" >/dev/null 2>&1; then
  t0=$(date +%s)
  if kubectl get crd datasets.mlops.dev >/dev/null 2>&1; then
    # The operator (if it still runs) removes its finalizers; otherwise they are dropped here.
    if ! k delete "$KINDS" --all --wait=true --timeout=90s >"$WORK/reset.log" 2>&1; then
      for object in $(k get "$KINDS" -o name 2>/dev/null); do
        k patch "$object" --type=merge -p '{"metadata":{"finalizers":null}}' >>"$WORK/reset.log" 2>&1 || true
      done
    fi
  fi
  helm uninstall "$RELEASE" -n "$NS" --wait >>"$WORK/reset.log" 2>&1 || true
  kubectl delete namespace "$NS" --wait=true --timeout=180s >>"$WORK/reset.log" 2>&1 ||
    fail "namespace $NS did not go away (log: $WORK/reset.log)"
  say "previous demo in namespace $NS removed ($(($(date +%s) - t0))s)"
fi

# ---------------------------------------------------------------------- the operator
# Helm installs crds/ only the first time; apply them so a changed CRD is current.
run_logged crds "CRDs applied (5 kinds, mlops.dev/v1alpha1)" \
  kubectl apply --server-side --force-conflicts -f charts/mlops-operator/crds/
kubectl wait --for=condition=Established crd --all --timeout=60s >/dev/null
run_logged helm "operator installed: helm upgrade --install $RELEASE -n $NS (image $IMAGE)" \
  helm upgrade --install "$RELEASE" charts/mlops-operator --namespace "$NS" --create-namespace \
  --set image.repository="$IMAGE_REPOSITORY" --set image.tag="$IMAGE_TAG" \
  --set image.pullPolicy="$PULL_POLICY" --wait --timeout 5m

# ---------------------------------------------------------------------- the pipeline
applied=$(date +%s)
k apply -k manifests/examples/iris >"$WORK/apply.log" 2>&1 || fail "kubectl apply: $(cat "$WORK/apply.log")"
say "applied manifests/examples/iris: Dataset, TrainingJob, ModelDeployment, DriftMonitor"

wait_until 300 "Dataset iris Ready" condition dataset/iris Ready True
say "Dataset iris Ready: version $(get dataset/iris '{.status.version}' | cut -c1-16)…," \
  "$(get dataset/iris '{.status.rows}') rows, profile $(get dataset/iris '{.status.profileUri}')"

wait_until 600 "TrainingJob iris-logreg Succeeded" field_is trainingjob/iris-logreg '{.status.phase}' Succeeded
say "TrainingJob iris-logreg Succeeded: metrics $(get trainingjob/iris-logreg '{.status.metrics}')" \
  "-> ModelVersion $(get trainingjob/iris-logreg '{.status.modelVersion}')"

wait_until 120 "ModelVersion iris-v1 Ready" condition modelversion/iris-v1 Ready True
say "ModelVersion iris-v1 Ready: $(get modelversion/iris-v1 '{.spec.artifact.format}')" \
  "$(get modelversion/iris-v1 '{.spec.artifact.uri}')"

wait_until 300 "ModelDeployment iris serving iris-v1" field_is modeldeployment/iris '{.status.servingVersion}' iris-v1
wait_until 120 "ModelDeployment iris Ready" condition modeldeployment/iris Ready True
say "ModelDeployment iris Healthy: serving $(get modeldeployment/iris '{.status.servingVersion}')" \
  "on $(get modeldeployment/iris '{.status.readyReplicas}') replicas"

SERVICE_IP=$(get service/iris '{.spec.clusterIP}')
URL="http://$SERVICE_IP"

# ---------------------------------------------------------------------- traffic
# client_start NAME ARGS...: run hack/demo_client.py on the host, or in a pod of the project image
# (for clusters whose Service addresses the host cannot reach); client_result NAME TIMEOUT waits.
if [ "$CLIENT" = pod ]; then
  k create configmap demo-client --from-file=hack/demo_client.py --dry-run=client -o yaml |
    k apply -f - >/dev/null
fi

client_start() {
  local name=$1
  shift
  if [ "$CLIENT" = host ]; then
    rm -f "$WORK/$name.rc"
    (
      rc=0
      "$PY" hack/demo_client.py "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" || rc=$?
      echo $rc >"$WORK/$name.rc"
    ) &
    return
  fi
  k delete pod "$name" --ignore-not-found --wait=true >/dev/null
  local args
  args=$(printf '"%s",' "$@")
  k apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: {name: $name, labels: {app.kubernetes.io/part-of: iris-demo}}
spec:
  restartPolicy: Never
  automountServiceAccountToken: false
  securityContext: {runAsNonRoot: true, runAsUser: 10001, seccompProfile: {type: RuntimeDefault}}
  containers:
    - name: client
      image: $IMAGE
      imagePullPolicy: $PULL_POLICY
      command: [python, /client/demo_client.py]
      args: [${args%,}]
      securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
      volumeMounts: [{name: client, mountPath: /client}]
  volumes: [{name: client, configMap: {name: demo-client}}]
EOF
}

client_result() {
  local name=$1 timeout=$2 rc=0 phase deadline
  deadline=$(($(date +%s) + timeout))
  if [ "$CLIENT" = host ]; then
    until [ -s "$WORK/$name.rc" ]; do
      [ "$(date +%s)" -lt "$deadline" ] || { echo "client $name still running after ${timeout}s" >&2; return 1; }
      sleep 1
    done
    rc=$(cat "$WORK/$name.rc")
    cat "$WORK/$name.out"
    [ $rc -eq 0 ] || cat "$WORK/$name.err" >&2
    return "$rc"
  fi
  while :; do
    phase=$(get "pod/$name" '{.status.phase}' 2>/dev/null || true)
    [ "$phase" = Succeeded ] || [ "$phase" = Failed ] && break
    [ "$(date +%s)" -lt "$deadline" ] || { echo "client pod $name: $phase after ${timeout}s" >&2; return 1; }
    sleep 1
  done
  k logs "pod/$name" 2>&1
  k delete pod "$name" --wait=false >/dev/null 2>&1 || true
  [ "$phase" = Succeeded ]
}

first=""
deadline=$(($(date +%s) + 90))
until [ -n "$first" ]; do
  client_start demo-predict predict "$URL"
  if out=$(client_result demo-predict 120 2>"$WORK/predict.err"); then
    first=$out
  else
    [ "$(date +%s)" -lt "$deadline" ] || fail "no prediction through Service iris ($URL): $(cat "$WORK/predict.err")"
    sleep 2
  fi
done
served=$(date +%s)
say "prediction through Service iris ($URL): $(echo "$first" | "$PY" -c '
import json, sys
a = json.loads(sys.stdin.read())
print("; ".join(f"{x} -> {y} (p={max(p):.2f})" for x, y, p in zip(a["instances"], a["predictions"], a["probabilities"])))')"
say "time from kubectl apply to the first served prediction: $((served - applied))s"

# ---------------------------------------------------------------------- the loop, on real outcomes
# perf_of VERSION N: the monitor has judged VERSION's accuracy on at least N labeled predictions.
perf_of() {
  [ "$(get driftmonitor/iris '{.status.performance.version}')" = "$1" ] &&
    [ "$(get driftmonitor/iris '{.status.performance.labeled}')" -ge "$2" ] &&
    has_field driftmonitor/iris '{.status.performance.realized}'
}
perf_line() {
  get driftmonitor/iris '{.status.performance.version}{": accuracy "}{.status.performance.realized}{" realized on "}{.status.performance.labeled}{" labeled predictions, "}{.status.performance.estimated}{" estimated without labels, "}{.status.performance.training}{" in training"}'
}
json_field() { "$PY" -c "import json,sys; print(json.loads(sys.stdin.read())[\"$1\"])"; }

client_start demo-labeled-1 labeled "$URL" --rows 200 --seed 1
out=$(client_result demo-labeled-1 300) || fail "labeled traffic: $out"
say "200 requests, their true species sent to POST /v2/models/iris/feedback: answers $(echo "$out" | json_field accuracy) right"
wait_until 180 "the monitor's verdict on iris-v1" perf_of iris-v1 200
say "live accuracy before the shift: $(perf_line)"

# The world changes: a new instrument measures petals 3 cm longer and wider; same species.
client_start demo-labeled-2 labeled "$URL" --rows 450 --shift 3.0 --seed 2
out=$(client_result demo-labeled-2 300) || fail "shifted labeled traffic: $out"
say "450 requests measured by the new instrument (+3 cm petals), labeled: answers $(echo "$out" | json_field accuracy) right"
wait_until 240 "DriftMonitor iris PerformanceDegraded=True" condition driftmonitor/iris PerformanceDegraded True
say "live accuracy after the shift: $(perf_line)"
say "PerformanceDegraded: $(get driftmonitor/iris '{.status.conditions[?(@.type=="PerformanceDegraded")].message}')"

wait_until 60 "the retrain TrainingJob" has_field driftmonitor/iris '{.status.lastRetrain.trainingJob}'
retrain=$(get driftmonitor/iris '{.status.lastRetrain.trainingJob}')
say "retrain triggered by $(get driftmonitor/iris '{.status.lastRetrain.trigger}'): TrainingJob $retrain on Dataset" \
  "$(get driftmonitor/iris '{.status.lastRetrain.dataset}') ($(get driftmonitor/iris '{.status.performance.window.trainRows}') labeled production rows;" \
  "$(get driftmonitor/iris '{.status.performance.window.holdoutRows}') held out for the comparison)"
# Traffic during the rollout, from the new instrument: V2 requests until 50 in a row come
# from the new version.
wait_until 600 "TrainingJob $retrain Succeeded" field_is "trainingjob/$retrain" '{.status.phase}' Succeeded
new_version=$(get "trainingjob/$retrain" '{.status.modelVersion}')
say "TrainingJob $retrain Succeeded: metrics $(get "trainingjob/$retrain" '{.status.metrics}') -> ModelVersion $new_version"

wait_until 300 "the champion/challenger verdict" has_field "modelversion/$new_version" '{.status.challenge.verdict}'
say "champion vs challenger on $(get modeldeployment/iris '{.status.challenge.data.rows}') held-out production rows:" \
  "$(get modeldeployment/iris '{.status.challenge.message}')"
[ "$(get "modelversion/$new_version" '{.status.challenge.verdict}')" = Won ] ||
  fail "challenger $new_version did not win: $(get modeldeployment/iris '{.status.challenge.message}')"
client_start demo-load load "$URL" --until-version "${new_version##*-v}" --seconds 480 --shift 3.0

wait_until 480 "ModelDeployment iris serving $new_version" field_is modeldeployment/iris '{.status.servingVersion}' "$new_version"
wait_until 120 "ModelDeployment iris Ready" condition modeldeployment/iris Ready True
say "ModelDeployment iris rolled out $new_version via the canary:"
k get events --field-selector involvedObject.kind=ModelDeployment,involvedObject.name=iris \
  --sort-by=.lastTimestamp -o jsonpath='{range .items[*]}{.reason}{": "}{.message}{"\n"}{end}' |
  grep -F "$new_version" | sed 's/^/             /'
out=$(client_result demo-load 120) || fail "requests failed during the rollout: $out"
say "traffic during the rollout: $out"

client_start demo-labeled-3 labeled "$URL" --rows 200 --shift 3.0 --seed 3
out=$(client_result demo-labeled-3 300) || fail "labeled traffic after the rollout: $out"
say "200 more requests from the new instrument, labeled: answers $(echo "$out" | json_field accuracy) right"
wait_until 180 "the monitor's verdict on $new_version" perf_of "$new_version" 100
say "live accuracy after promotion: $(perf_line)"

say "kubectl get mlops -n $NS"
k get mlops
say "done in $(($(date +%s) - started))s; apply -> first prediction $((served - applied))s"
