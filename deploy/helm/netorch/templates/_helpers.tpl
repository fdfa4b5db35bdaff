{{/* Names and labels. */}}
{{- define "netorch.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "netorch.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "netorch.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "netorch.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "netorch.selectorLabels" -}}
app.kubernetes.io/name: {{ include "netorch.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "netorch.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "netorch.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: netorch
{{- end -}}

{{- define "netorch.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "netorch.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "netorch.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Ports from the configuration, so that the probes and Service follow it. */}}
{{- define "netorch.apiPort" -}}
{{- (splitList ":" (.Values.config.server.listen | default "0.0.0.0:9999")) | last -}}
{{- end -}}
{{- define "netorch.managementPort" -}}
{{- (splitList ":" (required "config.server.management_listen is needed for the probes" .Values.config.server.management_listen)) | last -}}
{{- end -}}

{{/* Refuse combinations that cannot work, with the reason. */}}
{{- define "netorch.validate" -}}
{{- $replicas := int .Values.replicaCount -}}
{{- if or (gt $replicas 1) .Values.autoscaling.enabled -}}
{{- if not .Values.database.existingSecret -}}
{{- fail "more than one replica needs PostgreSQL: set database.existingSecret (a Secret holding the database URL)" -}}
{{- end -}}
{{- if not .Values.secrets.sealingKey.existingSecret -}}
{{- fail "more than one replica needs one sealing key: set secrets.sealingKey.existingSecret" -}}
{{- end -}}
{{- if and (eq .Values.packages.storage "local") (not .Values.packages.existingClaim) -}}
{{- fail "more than one replica needs shared package storage: packages.storage=s3, or packages.existingClaim (ReadWriteMany)" -}}
{{- end -}}
{{- if .Values.persistence.enabled -}}
{{- fail "persistence is for one replica on SQLite; replicas keep their state in PostgreSQL" -}}
{{- end -}}
{{- end -}}
{{- if and (eq .Values.events.sink "kafka") (not .Values.events.kafka.brokers) -}}
{{- fail "events.sink=kafka needs events.kafka.brokers" -}}
{{- end -}}
{{- if and (eq .Values.packages.storage "s3") (or (not .Values.packages.s3.bucket) (not .Values.packages.s3.existingSecret)) -}}
{{- fail "packages.storage=s3 needs packages.s3.bucket and packages.s3.existingSecret" -}}
{{- end -}}
{{- if and .Values.events.kafka.sasl.mechanism (not .Values.events.kafka.sasl.existingSecret) -}}
{{- fail "events.kafka.sasl.mechanism needs events.kafka.sasl.existingSecret (the user name and password)" -}}
{{- end -}}
{{- if and .Values.migrationJob.enabled (not .Values.database.existingSecret) -}}
{{- fail "migrationJob needs PostgreSQL (database.existingSecret)" -}}
{{- end -}}
{{- end -}}

{{/* netorch.toml: the operator's config plus what the chart's own values decide. */}}
{{- define "netorch.config" -}}
{{- $cfg := deepCopy .Values.config -}}
{{- $db := default dict (get $cfg "database") -}}
{{- $_ := set $db "migrate_on_start" .Values.database.migrateOnStart -}}
{{- $_ := set $cfg "database" $db -}}
{{- $events := default dict (get $cfg "events") -}}
{{- $_ := set $events "sink" .Values.events.sink -}}
{{- if eq .Values.events.sink "kafka" -}}
{{- $kafka := dict "brokers" .Values.events.kafka.brokers "topic_prefix" .Values.events.kafka.topicPrefix -}}
{{- with .Values.events.kafka.sasl.mechanism }}{{ $_ := set $kafka "sasl_mechanism" . }}{{ end -}}
{{- $_ := set $events "kafka" $kafka -}}
{{- end -}}
{{- $_ := set $cfg "events" $events -}}
{{- $osm := default dict (get $cfg "osm") -}}
{{- if eq .Values.packages.storage "s3" -}}
{{- $s3 := dict "bucket" .Values.packages.s3.bucket -}}
{{- with .Values.packages.s3.prefix }}{{ $_ := set $s3 "prefix" . }}{{ end -}}
{{- with .Values.packages.s3.region }}{{ $_ := set $s3 "region" . }}{{ end -}}
{{- with .Values.packages.s3.endpoint }}{{ $_ := set $s3 "endpoint" . }}{{ end -}}
{{- $_ := set $osm "package_s3" $s3 -}}
{{- else if .Values.packages.existingClaim -}}
{{- $_ := set $osm "package_dir" "/var/lib/netorch-packages" -}}
{{- end -}}
{{- if $osm }}{{ $_ := set $cfg "osm" $osm }}{{ end -}}
{{- if .Values.secrets.tls.existingSecret -}}
{{- $server := get $cfg "server" -}}
{{- $_ := set $server "tls" (dict "enabled" true "cert" "/etc/netorch/tls/tls.crt" "key" "/etc/netorch/tls/tls.key") -}}
{{- end -}}
{{- toPrettyJson $cfg -}}
{{- end -}}

{{/* Environment: secrets by reference only. */}}
{{- define "netorch.secretEnv" -}}
{{- if .Values.database.existingSecret }}
- name: NETORCH_DATABASE__URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.database.existingSecret }}
      key: {{ .Values.database.urlKey }}
{{- end }}
{{- if .Values.secrets.sealingKey.existingSecret }}
- name: NETORCH_OSM__SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .Values.secrets.sealingKey.existingSecret }}
      key: {{ .Values.secrets.sealingKey.key }}
{{- end }}
{{- if .Values.secrets.adminPassword.existingSecret }}
- name: NETORCH_AUTH__ADMIN_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.secrets.adminPassword.existingSecret }}
      key: {{ .Values.secrets.adminPassword.key }}
{{- end }}
{{- if eq .Values.packages.storage "s3" }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ .Values.packages.s3.existingSecret }}
      key: {{ .Values.packages.s3.accessKeyIdKey }}
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .Values.packages.s3.existingSecret }}
      key: {{ .Values.packages.s3.secretAccessKeyKey }}
{{- end }}
{{- if and (eq .Values.events.sink "kafka") .Values.events.kafka.sasl.mechanism }}
- name: NETORCH_EVENTS__KAFKA__USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ .Values.events.kafka.sasl.existingSecret }}
      key: {{ .Values.events.kafka.sasl.usernameKey }}
- name: NETORCH_EVENTS__KAFKA__PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.events.kafka.sasl.existingSecret }}
      key: {{ .Values.events.kafka.sasl.passwordKey }}
{{- end }}
{{- range .Values.extraSecretEnv }}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ .secretName }}
      key: {{ .key }}
{{- end }}
{{- end -}}
