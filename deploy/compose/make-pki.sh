#!/usr/bin/env bash
# Makes what docker-compose.yml mounts from var/ (`make compose-pki`; again when the ingest
# token has expired):
#   deploy/compose/make-pki.sh [VAR]                default: var (relative to the project)
#
#   VAR/dev-ca/            a development CA (ca.pem) and a certificate and key per program
#                          (scripts/dev_ca.py): embedder, retriever, orchestrator, gateway,
#                          client (the ingest job's), otel-collector, prometheus (its client
#                          certificate for scraping the services); each valid for its compose
#                          service name, which every replica of a scaled service shares
#   VAR/dev-auth/          the development token key (scripts/dev_token.py); the services verify
#                          tokens with public-key.pem
#   VAR/compose/ingest.env AUTH_TOKEN=, a token with guidelines:write for the ingest job, valid
#                          30 days, made anew at every run
# Existing certificates and keys are kept. Keys are readable by their owner only: compose runs
# the containers as your user (BRIEFING_UID, BRIEFING_GID). PYTHON names the interpreter
# (default: the project's .venv).
set -euo pipefail
cd "$(dirname "$0")/../.."
python="${PYTHON:-.venv/bin/python}"
var="${1:-var}"
ingest_token_ttl_s=$((30 * 24 * 3600))

"$python" -m scripts.dev_ca --out "$var/dev-ca"
"$python" -m scripts.dev_ca --out "$var/dev-ca" --name otel-collector
"$python" -m scripts.dev_ca --out "$var/dev-ca" --name prometheus
token="$("$python" -m scripts.dev_token --key-dir "$var/dev-auth" --scopes guidelines:write \
  --subject compose-ingest --ttl-s "$ingest_token_ttl_s")"
mkdir -p "$var/compose"
env_file="$var/compose/ingest.env"
(umask 077 && printf 'AUTH_TOKEN=%s\n' "$token" >"$env_file")
chmod 600 "$env_file"
echo "ingest token (guidelines:write, 30 days): $env_file" >&2
