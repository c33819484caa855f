{{/* Names, labels and the settings every template shares. */}}

{{- define "mlops-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "mlops-operator.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "mlops-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mlops-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "mlops-operator.commonLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "mlops-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: mlops
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "mlops-operator.labels" -}}
{{ include "mlops-operator.commonLabels" . }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "mlops-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "mlops-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The ServiceAccount of Job and serving pods; empty means the namespace's default. */}}
{{- define "mlops-operator.podServiceAccountName" -}}
{{- if .Values.podServiceAccount.create -}}
{{- default (printf "%s-workload" (include "mlops-operator.fullname" .) | trunc 63 | trimSuffix "-") .Values.podServiceAccount.name -}}
{{- else -}}
{{- .Values.podServiceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "mlops-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "mlops-operator.pvcName" -}}
{{- default (printf "%s-store" (include "mlops-operator.fullname" .) | trunc 63 | trimSuffix "-") .Values.store.pvc.name -}}
{{- end -}}

{{- define "mlops-operator.storeUri" -}}
{{- if eq .Values.store.type "s3" -}}
{{- required "store.uri (s3://bucket/prefix) is required when store.type is s3" .Values.store.uri -}}
{{- else -}}
{{- default (printf "file://%s" .Values.store.mountPath) .Values.store.uri -}}
{{- end -}}
{{- end -}}

{{/* The namespaces that get a Role in namespaced mode, in order, without duplicates. */}}
{{- define "mlops-operator.watchNamespaces" -}}
{{- .Values.watchNamespaces | uniq | toJson -}}
{{- end -}}

{{/* The rules of the operator: least privilege, no wildcards. */}}
{{- define "mlops-operator.namespacedRules" -}}
# Every resource here but Events is watched (list + watch): the watch events feed the operator's
# cache and wake the owners; reads come from that cache. Writes are creates, PATCHes (server-side
# apply, merge patches) and deletes, never a PUT, so no `update` except on /finalizers.
# Our kinds: the operator watches them, writes their status, creates ModelVersions and
# retraining TrainingJobs; Kopf patches them (finalizer, progress annotations).
- apiGroups: [mlops.dev]
  resources: [datasets, trainingjobs, modelversions, modeldeployments, driftmonitors, batchpredictions]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [mlops.dev]
  resources: [datasets/status, trainingjobs/status, modelversions/status, modeldeployments/status, driftmonitors/status, batchpredictions/status]
  verbs: [get, patch]
# Owner references with blockOwnerDeletion need `update` on the owner's finalizers.
- apiGroups: [mlops.dev]
  resources: [datasets/finalizers, trainingjobs/finalizers, modelversions/finalizers, modeldeployments/finalizers, driftmonitors/finalizers, batchpredictions/finalizers]
  verbs: [update]
# Profile, training and batch prediction (Indexed) Jobs.
- apiGroups: [batch]
  resources: [jobs]
  verbs: [get, list, watch, create, delete]
# Pods of Jobs and serving pods, watched for their status (crash loops, termination messages);
# the operator never reads their logs.
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch]
# Serving: Deployments, Services and autoscalers of ModelDeployments.
- apiGroups: [apps]
  resources: [deployments]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [""]
  resources: [services]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [autoscaling]
  resources: [horizontalpodautoscalers]
  verbs: [get, list, watch, create, patch, delete]
# Events on the resources (posted, never read).
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- end -}}

{{/* What Kopf needs cluster-wide to follow CRDs and namespaces (cluster-wide mode). */}}
{{- define "mlops-operator.discoveryRules" -}}
- apiGroups: [apiextensions.k8s.io]
  resources: [customresourcedefinitions]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [namespaces]
  verbs: [get, list, watch]
{{- end -}}

{{/* "true" when the replicas elect a leader over a Lease: always with more than one. */}}
{{- define "mlops-operator.leaderElection" -}}
{{- if or .Values.leaderElection.enabled (gt (int .Values.replicas) 1) -}}
true
{{- end -}}
{{- end -}}
