{{/*
Chart name, truncated to a DNS label.
*/}}
{{- define "session-manager.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Full name used as the prefix of every object: "<release>-<chart>", or "<release>" when the release
name already contains the chart name. Capped at 40 characters so every suffixed name
("-etcd-headless", StatefulSet pod names plus their revision hash label) stays a valid DNS label.
*/}}
{{- define "session-manager.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
"name-version" for the helm.sh/chart label.
*/}}
{{- define "session-manager.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Labels shared by every object, whatever its component (name and instance come from the
component's selector labels).
*/}}
{{- define "session-manager.commonLabels" -}}
helm.sh/chart: {{ include "session-manager.chart" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: session-manager
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
Selector of the session-manager pods: name + instance only, never changed after install.
*/}}
{{- define "session-manager.selectorLabels" -}}
app.kubernetes.io/name: {{ include "session-manager.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/*
Labels of session-manager objects (Deployment, pods, Services, ConfigMap, ...).
*/}}
{{- define "session-manager.labels" -}}
{{ include "session-manager.selectorLabels" . }}
app.kubernetes.io/component: server
{{ include "session-manager.commonLabels" . }}
{{- end -}}

{{/*
Bundled etcd: names and labels. Its app.kubernetes.io/name is "etcd" so the session-manager
selector (name=session-manager) never matches etcd pods and vice versa.
*/}}
{{- define "session-manager.etcd.fullname" -}}
{{- printf "%s-etcd" (include "session-manager.fullname" .) -}}
{{- end -}}

{{- define "session-manager.etcd.headlessName" -}}
{{- printf "%s-etcd-headless" (include "session-manager.fullname" .) -}}
{{- end -}}

{{- define "session-manager.etcd.selectorLabels" -}}
app.kubernetes.io/name: etcd
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "session-manager.etcd.labels" -}}
{{ include "session-manager.etcd.selectorLabels" . }}
app.kubernetes.io/component: etcd
{{ include "session-manager.commonLabels" . }}
{{- end -}}

{{/*
DNS name of bundled etcd member $i: <sts>-<i>.<headless>.<namespace>.svc.<clusterDomain>.
Call with (list $ $i).
*/}}
{{- define "session-manager.etcd.memberHost" -}}
{{- $ctx := index . 0 -}}
{{- $i := index . 1 -}}
{{- printf "%s-%d.%s.%s.svc.%s" (include "session-manager.etcd.fullname" $ctx) (int $i) (include "session-manager.etcd.headlessName" $ctx) $ctx.Release.Namespace $ctx.Values.clusterDomain -}}
{{- end -}}

{{/*
--initial-cluster of the bundled etcd, computed from etcd.replicaCount.
*/}}
{{- define "session-manager.etcd.initialCluster" -}}
{{- $members := list -}}
{{- range $i := until (int .Values.etcd.replicaCount) -}}
{{- $members = append $members (printf "%s-%d=%s://%s:2380" (include "session-manager.etcd.fullname" $) $i (include "session-manager.etcd.scheme" $) (include "session-manager.etcd.memberHost" (list $ $i))) -}}
{{- end -}}
{{- join "," $members -}}
{{- end -}}

{{/*
SM_ETCD_ENDPOINTS: every bundled member (client-side failover), or externalEtcd.endpoints.
*/}}
{{- define "session-manager.etcdEndpoints" -}}
{{- if .Values.etcd.enabled -}}
{{- $eps := list -}}
{{- range $i := until (int .Values.etcd.replicaCount) -}}
{{- $eps = append $eps (printf "%s://%s:2379" (include "session-manager.etcd.scheme" $) (include "session-manager.etcd.memberHost" (list $ $i))) -}}
{{- end -}}
{{- join "," $eps -}}
{{- else -}}
{{- join "," .Values.externalEtcd.endpoints -}}
{{- end -}}
{{- end -}}

{{/*
Image reference: repository@digest, else repository:tag (tag defaults to appVersion).
Call with (list .Values.image $defaultTag).
*/}}
{{- define "session-manager.imageRef" -}}
{{- $img := index . 0 -}}
{{- $defaultTag := index . 1 -}}
{{- if $img.digest -}}
{{- printf "%s@%s" $img.repository $img.digest -}}
{{- else -}}
{{- printf "%s:%s" $img.repository (default $defaultTag $img.tag) -}}
{{- end -}}
{{- end -}}

{{- define "session-manager.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "session-manager.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "session-manager.configMapName" -}}
{{- default (printf "%s-config" (include "session-manager.fullname" .)) .Values.config.existingConfigMap -}}
{{- end -}}

{{- define "session-manager.adminSecretName" -}}
{{- default (printf "%s-admin" (include "session-manager.fullname" .)) .Values.admin.existingSecret -}}
{{- end -}}

{{/*
Bundled etcd security (SPEC rule 21): "https" when etcd.tls.enabled, and the Secrets holding the
member, session-manager client (CN = etcd.auth.user) and root client (CN = root) certificates —
each with tls.crt, tls.key and ca.crt, whether generated by helm or issued by cert-manager.
*/}}
{{- define "session-manager.etcd.scheme" -}}
{{- ternary "https" "http" .Values.etcd.tls.enabled -}}
{{- end -}}

{{- define "session-manager.etcd.memberTlsSecret" -}}
{{- printf "%s-etcd-member-tls" (include "session-manager.fullname" .) -}}
{{- end -}}

{{- define "session-manager.etcd.clientTlsSecret" -}}
{{- printf "%s-etcd-client-tls" (include "session-manager.fullname" .) -}}
{{- end -}}

{{- define "session-manager.etcd.rootTlsSecret" -}}
{{- printf "%s-etcd-root-tls" (include "session-manager.fullname" .) -}}
{{- end -}}

{{- define "session-manager.etcd.rootPasswordSecret" -}}
{{- default (printf "%s-etcd-root" (include "session-manager.fullname" .)) .Values.etcd.auth.existingRootPasswordSecret -}}
{{- end -}}

{{/*
Caller policy Secret (callers.json) and gRPC TLS Secret names.
*/}}
{{- define "session-manager.policySecretName" -}}
{{- default (printf "%s-callers" (include "session-manager.fullname" .)) .Values.auth.existingPolicySecret -}}
{{- end -}}

{{- define "session-manager.grpcTlsSecretName" -}}
{{- default (printf "%s-grpc-tls" (include "session-manager.fullname" .)) .Values.tls.existingSecret -}}
{{- end -}}

{{/*
Label that lets a pod through the NetworkPolicy when networkPolicy.allowExternal is false.
*/}}
{{- define "session-manager.clientLabelKey" -}}
{{- printf "%s-client" (include "session-manager.fullname" .) -}}
{{- end -}}

{{/*
terminationGracePeriodSeconds = drain delay + shutdown grace + margin.
*/}}
{{- define "session-manager.terminationGracePeriodSeconds" -}}
{{- add (int .Values.shutdown.drainDelaySeconds) (int .Values.shutdown.graceSeconds) (int .Values.shutdown.marginSeconds) -}}
{{- end -}}

{{/*
Cross-field checks the JSON schema cannot express with a readable message. Rendered (to nothing)
from the Deployment so `helm template`, `helm lint` and `helm install` all stop on them.
*/}}
{{- define "session-manager.validate" -}}
{{- $external := gt (len .Values.externalEtcd.endpoints) 0 -}}
{{- if and .Values.etcd.enabled $external -}}
{{- fail "session-manager: choose exactly one etcd: etcd.enabled=true (bundled) and externalEtcd.endpoints are both set. Set etcd.enabled=false to use the external etcd, or empty externalEtcd.endpoints to use the bundled one." -}}
{{- end -}}
{{- if and (not .Values.etcd.enabled) (not $external) -}}
{{- fail "session-manager: choose exactly one etcd: set externalEtcd.endpoints (external etcd) or etcd.enabled=true (bundled etcd); neither is set." -}}
{{- end -}}
{{- if and .Values.etcd.enabled .Values.etcd.auth.enabled (not .Values.etcd.tls.enabled) -}}
{{- fail "session-manager: etcd.auth.enabled needs etcd.tls.enabled: session-manager authenticates to the bundled etcd with its client certificate." -}}
{{- end -}}
{{- if and .Values.etcd.enabled .Values.etcd.tls.enabled (eq .Values.etcd.tls.source "certManager") (not .Values.etcd.tls.certManager.issuerRef.name) -}}
{{- fail "session-manager: etcd.tls.source=certManager needs etcd.tls.certManager.issuerRef.name (a CA Issuer or ClusterIssuer)." -}}
{{- end -}}
{{- if and .Values.tls.enabled (not .Values.tls.existingSecret) (not .Values.tls.certManager.enabled) -}}
{{- fail "session-manager: tls.enabled=true needs tls.existingSecret (a kubernetes.io/tls Secret) or tls.certManager.enabled=true with tls.certManager.issuerRef.name." -}}
{{- end -}}
{{- if and .Values.tls.enabled .Values.tls.certManager.enabled (not .Values.tls.certManager.issuerRef.name) -}}
{{- fail "session-manager: tls.certManager.enabled=true needs tls.certManager.issuerRef.name." -}}
{{- end -}}
{{- if and .Values.auth.existingPolicySecret (gt (len .Values.auth.callers) 0) -}}
{{- fail "session-manager: set auth.callers or auth.existingPolicySecret, not both." -}}
{{- end -}}
{{- if .Values.externalEtcd.tls.enabled -}}
{{- if .Values.etcd.enabled -}}
{{- fail "session-manager: externalEtcd.tls.enabled needs the external etcd (etcd.enabled=false); the bundled etcd has its own TLS (etcd.tls)." -}}
{{- end -}}
{{- if not .Values.externalEtcd.tls.existingSecret -}}
{{- fail "session-manager: externalEtcd.tls.enabled=true needs externalEtcd.tls.existingSecret (a Secret with the CA bundle and optional client certificate/key)." -}}
{{- end -}}
{{- if ne (empty .Values.externalEtcd.tls.certKey) (empty .Values.externalEtcd.tls.keyKey) -}}
{{- fail "session-manager: externalEtcd.tls.certKey and externalEtcd.tls.keyKey must be both set (client certificate) or both empty." -}}
{{- end -}}
{{- range .Values.externalEtcd.endpoints -}}
{{- if not (hasPrefix "https://" .) -}}
{{- fail (printf "session-manager: externalEtcd.tls.enabled=true but endpoint %q is not https://" .) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if .Values.externalEtcd.auth.enabled -}}
{{- if .Values.etcd.enabled -}}
{{- fail "session-manager: externalEtcd.auth.enabled needs the external etcd (etcd.enabled=false)." -}}
{{- end -}}
{{- if not .Values.externalEtcd.auth.existingSecret -}}
{{- fail "session-manager: externalEtcd.auth.enabled=true needs externalEtcd.auth.existingSecret (keys externalEtcd.auth.usernameKey / passwordKey)." -}}
{{- end -}}
{{- end -}}
{{- if and .Values.admin.existingSecret .Values.admin.token -}}
{{- fail "session-manager: set either admin.existingSecret or admin.token, not both." -}}
{{- end -}}
{{- if and .Values.serviceMonitor.enabled (not .Values.metrics.enabled) -}}
{{- fail "session-manager: serviceMonitor.enabled=true needs metrics.enabled=true." -}}
{{- end -}}
{{- if eq (int .Values.server.grpcPort) (int .Values.metrics.port) -}}
{{- fail "session-manager: server.grpcPort and metrics.port must differ." -}}
{{- end -}}
{{- if and .Values.etcd.enabled (eq (mod (int .Values.etcd.replicaCount) 2) 0) -}}
{{- fail "session-manager: etcd.replicaCount must be odd (1, 3, 5 or 7) so a majority survives a failure." -}}
{{- end -}}
{{- end -}}

{{/*
Format one properties value: lists are comma-joined, whole numbers printed without exponent.
*/}}
{{- define "session-manager.propValue" -}}
{{- if kindIs "slice" . -}}
{{- join "," . -}}
{{- else if or (kindIs "float64" .) (kindIs "int" .) (kindIs "int64" .) -}}
{{- int64 . -}}
{{- else -}}
{{- . -}}
{{- end -}}
{{- end -}}

{{/*
Ordered [key value comment] triples of cluster-config.properties, from config.* values.
A value set to null in the values is left out (the service default applies).
*/}}
{{- define "session-manager.propertyTable" -}}
{{- $s := .Values.config.session | default dict -}}
{{- $t := $s.timeout | default dict -}}
{{- $rows := list -}}
{{- range $type := list "web" "desktop" "plugin" "mobile" "widget" "api" "admin" -}}
{{- $rows = append $rows (list (printf "session.timeout.%s" $type) (index $t $type)) -}}
{{- end -}}
{{- $rows = append $rows (list "session.timeout.single-request" $t.singleRequest) -}}
{{- $rows = append $rows (list "session.timeout.absolute" $t.absolute) -}}
{{- $rows = append $rows (list "session.presence.grace" (($s.presence | default dict).grace)) -}}
{{- $rows = append $rows (list "session.connection.grace" (($s.connection | default dict).grace)) -}}
{{- $rows = append $rows (list "session.single-per-user" $s.singlePerUser) -}}
{{- $limit := $s.limit | default dict -}}
{{- $perUser := $limit.perUser | default dict -}}
{{- range $type := list "web" "desktop" "plugin" "mobile" "widget" "api" "admin" -}}
{{- if hasKey $perUser $type -}}
{{- $rows = append $rows (list (printf "session.limit.per-user.%s" $type) (index $perUser $type)) -}}
{{- end -}}
{{- end -}}
{{- $rows = append $rows (list "session.limit.action" $limit.action) -}}
{{- $rows = append $rows (list "session.hit-max" $s.hitMax) -}}
{{- $rows = append $rows (list "session.max-sessions" $s.maxSessions) -}}
{{- $rows = append $rows (list "session.scavenge.interval" (($s.scavenge | default dict).interval)) -}}
{{- $rows = append $rows (list "session.touch.granularity" (($s.touch | default dict).granularity)) -}}
{{- $rows = append $rows (list "session.sites" $s.sites) -}}
{{- $attrs := $s.attributes | default dict -}}
{{- $rows = append $rows (list "session.attributes.max-bytes" $attrs.maxBytes) -}}
{{- $rows = append $rows (list "session.attributes.max-count" $attrs.maxCount) -}}
{{- $rows = append $rows (list "cache.max-staleness" ((.Values.config.cache | default dict).maxStaleness)) -}}
{{- $rows = append $rows (list "events.retention" ((.Values.config.events | default dict).retention)) -}}
{{- toJson $rows -}}
{{- end -}}

{{/*
The cluster-config.properties text.
*/}}
{{- define "session-manager.properties" -}}
{{- $rows := include "session-manager.propertyTable" . | fromJsonArray -}}
{{- $keys := dict -}}
{{- $groups := dict "session.timeout" "Idle timeout per client type (-1 = connection-bound, never = none), single-request\n# and absolute (0 = none) timeouts." "session.presence" "Presence and connection grace." "session.single-per-user" "Client types limited to one session per user per site." "session.limit" "Per-user session limits (0 = unlimited); a login over the limit: deny | terminate-oldest." "session.hit-max" "Cluster-wide caps (0 = unlimited) and the scavenger." "session.sites" "Allowed sites (* = any) and attribute size caps." "cache.max-staleness" "Fail closed (UNAVAILABLE) when the etcd watch has been down this long." "events.retention" "How long lifecycle events stay resumable." -}}
# cluster-config.properties, rendered by the session-manager Helm chart from config.* values.
# Times are minutes unless suffixed ms, s, m, h or d. Edit the values (or this ConfigMap): running
# nodes reload the file; changed timeouts apply to new sessions.
{{- range $row := $rows }}
{{- $key := index $row 0 }}
{{- $value := index $row 1 }}
{{- if not (kindIs "invalid" $value) }}
{{- $_ := set $keys $key true }}
{{- range $prefix, $comment := $groups }}
{{- if and (hasPrefix $prefix $key) (not (hasKey $keys (printf "#%s" $prefix))) }}
{{- $_ := set $keys (printf "#%s" $prefix) true }}

# {{ $comment }}
{{- end }}
{{- end }}
{{ $key }}={{ include "session-manager.propValue" $value }}
{{- end }}
{{- end }}
{{- with .Values.config.extraProperties }}
{{- range $line := splitList "\n" . }}
{{- $trimmed := trim $line }}
{{- if and $trimmed (not (hasPrefix "#" $trimmed)) (not (hasPrefix "!" $trimmed)) }}
{{- $key := trim (regexReplaceAll "[=:].*$" $trimmed "") }}
{{- if hasKey $keys $key }}
{{- fail (printf "session-manager: config.extraProperties sets %q, which the chart already renders from config.*; set it there (or null it there) instead." $key) }}
{{- end }}
{{- end }}
{{- end }}

# Extra properties (config.extraProperties).
{{ trim . }}
{{- end }}
{{- end -}}
