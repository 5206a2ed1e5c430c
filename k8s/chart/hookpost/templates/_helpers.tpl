{{/*
Names, labels and the facts about the four services that the templates share.
*/}}

{{- define "hookpost.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The prefix of every resource name: the release name, with the chart name unless it is in it. */}}
{{- define "hookpost.fullname" -}}
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

{{- define "hookpost.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels of every resource. Call with the root context. */}}
{{- define "hookpost.labels" -}}
helm.sh/chart: {{ include "hookpost.chart" . }}
app.kubernetes.io/name: {{ include "hookpost.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: hookpost
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels of one component. Call with (dict "root" $ "component" "deliverer"). */}}
{{- define "hookpost.selectorLabels" -}}
app.kubernetes.io/name: {{ include "hookpost.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Every label of one component's resources. Same argument as hookpost.selectorLabels. */}}
{{- define "hookpost.componentLabels" -}}
{{ include "hookpost.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "hookpost.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "hookpost.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The Secret the services read: existingSecret, or <fullname>-secrets (created or not). */}}
{{- define "hookpost.secretName" -}}
{{- if and .Values.secrets.existingSecret .Values.secrets.create -}}
{{- fail "secrets: set either existingSecret or create, not both" -}}
{{- end -}}
{{- default (printf "%s-secrets" (include "hookpost.fullname" .)) .Values.secrets.existingSecret -}}
{{- end -}}

{{- define "hookpost.image" -}}
{{- $tag := default .root.Chart.AppVersion .root.Values.image.tag -}}
{{- printf "%s/%s/%s:%s" .root.Values.image.registry .root.Values.image.repository .component $tag -}}
{{- end -}}

{{/*
The four services. `values` is the key of their section in values.yaml; `secrets` the
Secret keys they read (their environment variable names are in hookpost.secretEnv);
`postgres` whether they connect to the database; `grpc` whether they serve gRPC; `lag`
the consumer group and topic KEDA scales them on.
*/}}
{{- define "hookpost.components" -}}
subscription-api:
  values: subscriptionApi
  secrets: [secretEncryptionKey, adminToken, databaseUrl]
  postgres: true
  grpc: true
event-ingest:
  values: eventIngest
  secrets: [databaseUrl]
  postgres: true
matcher:
  values: matcher
  secrets: []
  lag:
    consumerGroup: hookpost-matcher
    topic: hookpost.events.v1
deliverer:
  values: deliverer
  secrets: [secretEncryptionKey]
  internet: true
  lag:
    consumerGroup: hookpost-deliverer
    topic: hookpost.delivery-jobs.v1
{{- end -}}

{{- define "hookpost.secretEnv" -}}
secretEncryptionKey: SECRET_ENCRYPTION_KEY
adminToken: ADMIN_TOKEN
databaseUrl: DATABASE_URL
kafkaSaslPassword: KAFKA_SASL_PASSWORD
{{- end -}}

{{/* Topic names, as in libs/contracts/src/topics/topics.ts (validate.ts checks they agree). */}}
{{- define "hookpost.topicNames" -}}
mailEvents: mail-events
mailEventsDeadLetter: hookpost.mail-events.dlq.v1
canonicalEvents: hookpost.events.v1
organizationEvents: hookpost.organization-events.v1
subscriptionEvents: hookpost.subscription-events.v1
subscriptionState: hookpost.subscription-state.v1
deliveryJobs: hookpost.delivery-jobs.v1
deliveryAttempts: hookpost.delivery-attempts.v1
deliveriesDead: hookpost.deliveries.dlq.v1
{{- end -}}

{{/*
The distinct delays of deliverer.config.RETRY_SCHEDULE in seconds, comma-separated, in
schedule order: one retry topic each, hookpost.delivery-retry.<seconds>s.v1. Accepts what
the deliverer accepts (whole seconds written as ms, s, m, h or d; at most 20 delays) and
fails the render on anything else, so that a bad schedule is caught before rollout.
*/}}
{{- define "hookpost.retryDelays" -}}
{{- $seen := list -}}
{{- $items := splitList "," (toString .Values.deliverer.config.RETRY_SCHEDULE) -}}
{{- if gt (len $items) 20 -}}
{{- fail "deliverer.config.RETRY_SCHEDULE: at most 20 delays" -}}
{{- end -}}
{{- range $item := $items -}}
{{- $text := trim $item -}}
{{- if not (regexMatch "^[0-9]+(ms|s|m|h|d)$" $text) -}}
{{- fail (printf "deliverer.config.RETRY_SCHEDULE: %q is not a delay such as 30s, 5m or 2h" $text) -}}
{{- end -}}
{{- $n := regexFind "^[0-9]+" $text | int64 -}}
{{- $unit := regexFind "(ms|s|m|h|d)$" $text -}}
{{- $seconds := $n -}}
{{- if eq $unit "ms" -}}
{{- if ne (mod $n 1000) 0 -}}
{{- fail (printf "deliverer.config.RETRY_SCHEDULE: %q is not a whole number of seconds" $text) -}}
{{- end -}}
{{- $seconds = div $n 1000 -}}
{{- else if eq $unit "m" -}}
{{- $seconds = mul $n 60 -}}
{{- else if eq $unit "h" -}}
{{- $seconds = mul $n 3600 -}}
{{- else if eq $unit "d" -}}
{{- $seconds = mul $n 86400 -}}
{{- end -}}
{{- if lt (int64 $seconds) 1 -}}
{{- fail (printf "deliverer.config.RETRY_SCHEDULE: %q is shorter than 1s" $text) -}}
{{- end -}}
{{- $key := toString $seconds -}}
{{- if not (has $key $seen) -}}
{{- $seen = append $seen $key -}}
{{- end -}}
{{- end -}}
{{- join "," $seen -}}
{{- end -}}

{{/*
The trusted certificate authority (trustedCA), when set: Node reads NODE_EXTRA_CA_CERTS
at start and trusts it besides its own, for Kafka and Postgres alike.
*/}}
{{- define "hookpost.trustedCA.env" -}}
{{- with .Values.trustedCA.secretName }}
- name: NODE_EXTRA_CA_CERTS
  value: /etc/hookpost/trusted-ca/{{ $.Values.trustedCA.key }}
{{- end }}
{{- end }}

{{- define "hookpost.trustedCA.mount" -}}
{{- if .Values.trustedCA.secretName }}
- name: trusted-ca
  mountPath: /etc/hookpost/trusted-ca
  readOnly: true
{{- end }}
{{- end }}

{{- define "hookpost.trustedCA.volume" -}}
{{- with .Values.trustedCA.secretName }}
- name: trusted-ca
  secret:
    secretName: {{ . }}
    items:
      - key: {{ $.Values.trustedCA.key }}
        path: {{ $.Values.trustedCA.key }}
{{- end }}
{{- end }}
