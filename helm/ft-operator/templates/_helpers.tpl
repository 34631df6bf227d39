{{/* Names, labels and shared snippets of the ft-operator chart. */}}

{{- define "ft-operator.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name (at most 63 characters: it is a label value and a DNS label). */}}
{{- define "ft-operator.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "ft-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "ft-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ft-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "ft-operator.dashboardSelectorLabels" -}}
app.kubernetes.io/name: {{ include "ft-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: dashboard
{{- end }}

{{- define "ft-operator.labels" -}}
helm.sh/chart: {{ include "ft-operator.chart" . }}
app.kubernetes.io/name: {{ include "ft-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: ft-agent-operator
{{- end }}

{{- define "ft-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "ft-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The namespaces a namespace-scoped operator watches. */}}
{{- define "ft-operator.watchNamespaces" -}}
{{- if .Values.watchNamespaces }}
{{- toJson (uniq .Values.watchNamespaces) }}
{{- else }}
{{- toJson (list .Release.Namespace) }}
{{- end }}
{{- end }}

{{/* An image reference: repository@digest, or repository:tag (tag defaults to appVersion).
     Call with (dict "image" .Values.images.agent "root" .). */}}
{{- define "ft-operator.image" -}}
{{- if .image.digest }}
{{- printf "%s@%s" .image.repository .image.digest }}
{{- else }}
{{- printf "%s:%s" .image.repository (default .root.Chart.AppVersion .image.tag) }}
{{- end }}
{{- end }}

{{/* kopf run's arguments: the scope flags and the liveness endpoint. */}}
{{- define "ft-operator.command" -}}
- kopf
- run
- --standalone
- -m
- ftoperator.handlers
{{- if eq .Values.scope "cluster" }}
- --all-namespaces
{{- else }}
{{- range (include "ft-operator.watchNamespaces" . | fromJsonArray) }}
- --namespace={{ . }}
{{- end }}
{{- end }}
- --liveness=http://0.0.0.0:{{ .Values.health.port }}/healthz
- --log-format={{ .Values.logFormat }}
{{- if .Values.verbose }}
- --verbose
{{- end }}
{{- end }}

{{/* The rules the operator needs; shared by the ClusterRole (cluster scope) and the Roles
     (namespace scope). Each rule names the code that needs it. Never Secrets: Jobs reference
     them and the kubelet resolves them. */}}
{{- define "ft-operator.rules" -}}
# kopf watches campaigns (list/watch) and keeps its bookkeeping in annotations and a
# finalizer (patch); the daemon body comes from the watch (get: kubectl-style reads).
- apiGroups: [ftagent.dev]
  resources: [finetunecampaigns]
  verbs: [get, list, watch, patch]
# reconcile.Reconciler.patch_status (status subresource, merge patch).
- apiGroups: [ftagent.dev]
  resources: [finetunecampaigns/status]
  verbs: [patch]
# Jobs carry ownerReferences with blockOwnerDeletion=true (kopf.adopt); clusters running the
# OwnerReferencesPermissionEnforcement admission plugin (e.g. OpenShift) require this.
- apiGroups: [ftagent.dev]
  resources: [finetunecampaigns/finalizers]
  verbs: [update]
# handlers: kopf index + event handlers (list/watch); reconcile: read_job (get),
# create_job (create), delete_job (delete).
- apiGroups: [batch]
  resources: [jobs]
  verbs: [get, list, watch, create, delete]
# handlers: kopf index + event handlers on the Jobs' Pods (termination messages).
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch]
# kopf.event and kopf's log posting: core/v1 Events (kopf never uses events.k8s.io).
- apiGroups: [""]
  resources: [events]
  verbs: [create]
{{- end }}
