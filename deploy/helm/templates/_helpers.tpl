{{/*
Helpers shared by every template. A "process" is one entry point of one service (api, worker,
relay, dispatcher): each is a Deployment of its own, named <release>-<service>-<role>.
*/}}

{{- define "opscenter.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* The roles a service runs, in the order deploy/local/suite.py lists them. */}}
{{- define "opscenter.roles" -}}
{{- $roles := list "api" "worker" "relay" "dispatcher" -}}
{{- $out := list -}}
{{- range $roles -}}{{- if hasKey $.svc . -}}{{- $out = append $out . -}}{{- end -}}{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{- define "opscenter.labels" -}}
app.kubernetes.io/part-of: opscenter
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{ include "opscenter.selectorLabels" . }}
{{- end -}}

{{/* Selector labels of one component: app.kubernetes.io/name is the service (or gateway,
kafka, postgres), component the role. */}}
{{- define "opscenter.selectorLabels" -}}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "opscenter.image" -}}
{{- $image := .root.Values.image -}}
{{- printf "%s/%s-%s:%s" $image.registry $image.repository .image (default .root.Chart.AppVersion $image.tag) -}}
{{- end -}}

{{- define "opscenter.secretName" -}}
{{- default (printf "%s-secrets" (include "opscenter.fullname" .)) .Values.secrets.existingSecret -}}
{{- end -}}

{{- define "opscenter.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "opscenter.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "opscenter.kafkaBootstrap" -}}
{{- if .Values.kafka.inChart.enabled -}}
{{- printf "%s-kafka:9092" (include "opscenter.fullname" .) -}}
{{- else -}}
{{- .Values.kafka.bootstrap -}}
{{- end -}}
{{- end -}}

{{- define "opscenter.postgresHost" -}}
{{- if .Values.postgres.inChart.enabled -}}
{{- printf "%s-postgres" (include "opscenter.fullname" .) -}}
{{- else -}}
{{- .Values.postgres.host -}}
{{- end -}}
{{- end -}}

{{/* The database URL of one service (.service), as the Secret stores it. */}}
{{- define "opscenter.databaseUrl" -}}
{{- $pg := .root.Values.postgres -}}
{{- printf "postgresql+asyncpg://%s:%s@%s:%v/opscenter_%s" $pg.user $pg.password (include "opscenter.postgresHost" .root) $pg.port .service -}}
{{- end -}}

{{/* The API's in-cluster address, host:port (the gateway's upstreams, installer's and
hooks' catalog URL). */}}
{{- define "opscenter.apiAddress" -}}
{{- printf "%s-%s-api:8000" (include "opscenter.fullname" .root) .service -}}
{{- end -}}

{{/*
The command of one process: the same as deploy/local/suite.py's program() (a test compares
them), with the image's python.
*/}}
{{- define "opscenter.command" -}}
{{- if eq .role "api" -}}
{{- toJson (list "python" "-c" (printf "from opscenter.%s.main import run; run()" .service)) -}}
{{- else -}}
{{- toJson (list "python" "-m" (printf "opscenter.%s.%s" .service .role)) -}}
{{- end -}}
{{- end -}}

{{/* The image of a service: hooks has its own target (the sandbox's tools). */}}
{{- define "opscenter.serviceImage" -}}
{{- include "opscenter.image" (dict "root" .root "image" .service) -}}
{{- end -}}

{{/* Environment of every process of one service: its ConfigMap, then its secrets by key. */}}
{{- define "opscenter.serviceEnv" -}}
{{- $prefix := upper .service -}}
{{- $secret := include "opscenter.secretName" .root -}}
envFrom:
  - configMapRef:
      name: {{ include "opscenter.fullname" .root }}-{{ .service }}
env:
  - name: {{ $prefix }}_DATABASE_URL
    valueFrom: {secretKeyRef: {name: {{ $secret }}, key: {{ .service }}-database-url}}
  - name: {{ $prefix }}_JWT_SECRET
    valueFrom: {secretKeyRef: {name: {{ $secret }}, key: jwt-secret, optional: true}}
{{- if eq .service "hooks" }}
  - name: HOOKS_SECRET_KEY
    valueFrom: {secretKeyRef: {name: {{ $secret }}, key: hooks-secret-key}}
  - name: HOOKS_TOKEN_SIGNING_SEED
    valueFrom: {secretKeyRef: {name: {{ $secret }}, key: hooks-token-signing-seed}}
  - name: HOOKS_CONFIG_PRIVATE_KEY
    valueFrom: {secretKeyRef: {name: {{ $secret }}, key: hooks-config-private-key, optional: true}}
{{- end }}
{{- if eq .service "installer" }}
  - name: INSTALLER_SECRET_KEY
    valueFrom: {secretKeyRef: {name: {{ $secret }}, key: installer-secret-key}}
{{- end }}
{{- end -}}

{{/* NetworkPolicy egress rules every service process needs: DNS, Kafka, the database, and the
trace collector when traces are exported. */}}
{{- define "opscenter.egressBase" -}}
- ports: [{port: 53, protocol: UDP}, {port: 53, protocol: TCP}]
{{ include "opscenter.egressTo" (dict "peers" .Values.kafka.networkPeers "inChart" .Values.kafka.inChart.enabled "component" "kafka" "port" .Values.kafka.port "root" .) }}
{{ include "opscenter.egressTo" (dict "peers" .Values.postgres.networkPeers "inChart" .Values.postgres.inChart.enabled "component" "postgres" "port" .Values.postgres.port "root" .) }}
{{- if ne .Values.otelExporter "none" }}
{{ include "opscenter.egressTo" (dict "peers" .Values.networkPolicy.otelPeers "inChart" false "component" "" "port" 4318 "root" .) }}
{{- end }}
{{- end -}}

{{- define "opscenter.egressTo" -}}
- ports: [{port: {{ .port }}, protocol: TCP}]
{{- if .inChart }}
  to:
    - podSelector:
        matchLabels:
          {{- include "opscenter.selectorLabels" (dict "root" .root "name" .component "component" .component) | nindent 10 }}
{{- else if .peers }}
  to: {{- toYaml .peers | nindent 4 }}
{{- end }}
{{- end -}}

{{/* When migrations run: before the release's resources on install and upgrade, except with
the in-chart Postgres, which exists only once the release is installed (the services wait for
their tables by restarting until the first install's Jobs are done). */}}
{{- define "opscenter.migrationHook" -}}
{{- if .Values.postgres.inChart.enabled -}}post-install,pre-upgrade{{- else -}}pre-install,pre-upgrade{{- end -}}
{{- end -}}

{{/* Folders a process writes besides /tmp: name -> mount path (the images create them owned
by the non-root uid). */}}
{{- define "opscenter.dataDirs" -}}
{{- $dirs := dict -}}
{{- if and (eq .service "catalog") (eq .role "api") -}}{{- $_ := set $dirs "artifacts" "/var/lib/opscenter/artifacts" -}}{{- end -}}
{{- if and (eq .service "installer") (eq .role "worker") -}}{{- $_ := set $dirs "installs" "/var/lib/opscenter/installs" -}}{{- end -}}
{{- if eq .role "dispatcher" -}}
{{- $_ := set $dirs "hooks-packages" "/var/lib/opscenter/hooks-packages" -}}
{{- $_ := set $dirs "hooks-storage" "/var/lib/opscenter/hooks-storage" -}}
{{- end -}}
{{- toJson $dirs -}}
{{- end -}}

{{/* The data folders that are shared volumes (a PersistentVolumeClaim every pod of the process
mounts) rather than each pod's emptyDir: folder name -> its persistentVolumeClaim values. */}}
{{- define "opscenter.sharedVolumes" -}}
{{- $shared := dict -}}
{{- with .Values.services.catalog.artifacts.persistentVolumeClaim -}}{{- if .enabled -}}{{- $_ := set $shared "artifacts" . -}}{{- end -}}{{- end -}}
{{- with .Values.services.hooks.storage.persistentVolumeClaim -}}{{- if .enabled -}}{{- $_ := set $shared "hooks-storage" . -}}{{- end -}}{{- end -}}
{{- toJson $shared -}}
{{- end -}}
