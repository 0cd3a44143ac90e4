#!/usr/bin/env bash
# Runs the built image's services on loopback with TLS and auth on, as the deployments run
# them, and asks them for a briefing: the image works.
#
#   deploy/container/smoke.sh [IMAGE]          default: localhost/clinical-briefing:latest
#   PYTHON=.venv/bin/python                    makes the certificates and tokens (make image-smoke)
#
# For machines where containers cannot be run (this project's build machines: `podman run`
# fails on setrlimit), each part runs with `buildah run --isolation chroot`: the process runs in
# the image's file system, as the image's user, with the image's environment and working
# folder, on the host's network. One working container per part, as in a deployment:
#   embedder, retriever (Qdrant local mode in the image's var/), orchestrator (embedded
#   PostgreSQL in var/, seeded first), gateway; a fifth one runs the ingestion and the client.
# Each part gets its own certificate from a development CA made here (scripts/dev_ca.py) and the
# key that verifies tokens (scripts/dev_token.py), mounted read-only; the client calls with the
# CA bundle, the `client` certificate where a service asks for one, and bearer tokens.
# Then: the image's HEALTHCHECK (the embedder's) and each other part's own --check-health, the
# ingestion of data/guidelines, a Brief over gRPC and one over HTTPS through the gateway, a
# graceful stop (SIGTERM) of each part, and the list of files the parts wrote outside /tmp and
# /app/var (none may be written where Kubernetes mounts a read-only root file system).
set -euo pipefail

image="${1:-localhost/clinical-briefing:latest}"
[[ "$image" == */* ]] || image="localhost/$image"
python="${PYTHON:-.venv/bin/python}"
export BUILDAH_ISOLATION=chroot
work="$(mktemp -d)"
prefix="cb-smoke-$$"
parts=(embedder retriever orchestrator gateway client)
declare -A pids=() roots=()

log() { printf '== %s\n' "$*"; }

cleanup() {
  # Killing `buildah run` would orphan the service (its chroot runner outlives it): the
  # service itself gets SIGTERM, and whatever is left SIGKILL.
  local name pid
  for name in "${!pids[@]}"; do
    pid="$(service_pid "${pids[$name]}")" && kill -TERM "$pid" 2>/dev/null || true
  done
  for name in "${!pids[@]}"; do
    timeout 30 tail --pid="${pids[$name]}" -f /dev/null || true
    pid="$(service_pid "${pids[$name]}")" && kill -KILL "$pid" 2>/dev/null || true
    kill -KILL "${pids[$name]}" 2>/dev/null || true
  done
  for part in "${parts[@]}"; do
    buildah rm "$prefix-$part" >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# The python process that `buildah run` started (buildah, its runtime, then python).
service_pid() {
  local queue=("$1") pid child
  while ((${#queue[@]})); do
    pid="${queue[0]}"
    queue=("${queue[@]:1}")
    if [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == python* ]]; then
      echo "$pid"
      return 0  # explicit: in the EXIT trap a bare return gives the failed command's status
    fi
    for child in $(ps -o pid= --ppid "$pid"); do queue+=("$child"); done
  done
  return 1
}

# The development CA, a certificate per part and for the client, and the token key: in $work,
# readable by the image's user (10001) only, mounted read-only into every container (without
# the CA's key, which stays outside).
(cd "$(dirname "$0")/../.." && "$python" -m scripts.dev_ca --out "$work/pki" \
  && "$python" -m scripts.dev_token --key-dir "$work/auth" >/dev/null) 2>/dev/null
mv "$work/pki/ca-key.pem" "$work/ca-key.pem"
if ((EUID == 0)); then
  chown -R 10001:10001 "$work/pki" "$work/auth/public-key.pem"
else
  buildah unshare chown -R 10001:10001 "$work/pki" "$work/auth/public-key.pem"
fi
mounts=(--volume "$work/pki:/pki/tls:ro" --volume "$work/auth/public-key.pem:/pki/auth/public-key.pem:ro")

# identity NAME: the variables that make part NAME speak TLS as itself and verify tokens.
identity() {
  echo "TLS_CERT_FILE=/pki/tls/$1.pem" "TLS_KEY_FILE=/pki/tls/$1-key.pem" \
    TLS_CA_FILE=/pki/tls/ca.pem AUTH_JWT_PUBLIC_KEY_FILE=/pki/auth/public-key.pem \
    AUTH_ISSUER=clinical-briefing-dev AUTH_AUDIENCE=clinical-briefing
}

# token SCOPES: a development bearer token holding SCOPES.
token() {
  (cd "$(dirname "$0")/../.." && "$python" -m scripts.dev_token --key-dir "$work/auth" \
    --scopes "$1" 2>/dev/null)
}

# start NAME ENV... -- COMMAND...: runs COMMAND in NAME's container, in the background.
start() {
  local name="$1"
  shift
  local envs=()
  while [[ "$1" != "--" ]]; do envs+=(--env "$1"); shift; done
  shift
  buildah run "${mounts[@]}" "${envs[@]}" "$prefix-$name" -- "$@" >"$work/$name.log" 2>&1 &
  pids[$name]=$!
}

# run NAME ENV... -- COMMAND...: runs COMMAND in NAME's container and waits for it.
run() {
  local name="$1"
  shift
  local envs=()
  while [[ "$1" != "--" ]]; do envs+=(--env "$1"); shift; done
  shift
  buildah run "${mounts[@]}" "${envs[@]}" "$prefix-$name" -- "$@"
}

# The image's own HEALTHCHECK asks the part its CMD runs (the embedder): `python -m
# services.embedder --check-health`, the part's own port on loopback. Every other part is asked
# the same way by its own module, as docker-compose.yml and the Kubernetes probes declare it.
healthcheck=$(podman image inspect "$image" --format '{{join .Config.Healthcheck.Test " "}}')
[[ "$healthcheck" == "CMD python -m services.embedder --check-health" ]] \
  || { echo "the image's HEALTHCHECK is not the embedder's own check: $healthcheck" >&2; exit 1; }
read -r -a healthcheck <<<"${healthcheck#CMD }"

wait_healthy() {  # NAME PORT_VARIABLE PORT: the check runs with the part's own variables
  local deadline=$((SECONDS + 180)) check=("${healthcheck[@]}")
  check[2]="services.$1"
  # shellcheck disable=SC2046  # identity's words are NAME=value pairs without spaces
  until run "$1" $(identity "$1") "$2=$3" -- "${check[@]}" 2>/dev/null; do
    if ! kill -0 "${pids[$1]}" 2>/dev/null || ((SECONDS > deadline)); then
      echo "$1 did not become healthy; its log:" >&2
      cat "$work/$1.log" >&2
      exit 1
    fi
    sleep 2
  done
  log "$1 healthy: ${check[*]} with $2=$3, over TLS as $1"
  grep -q '"event": "secured"' "$work/$1.log" || { echo "$1 is not secured" >&2; exit 1; }
  roots[$1]="$(readlink "/proc/$(service_pid "${pids[$1]}")/root")"
}

# The processes still running in a part's file system (its service's children too).
leftovers() {
  local proc
  for proc in /proc/[0-9]*; do
    [[ "$(readlink "$proc/root" 2>/dev/null)" == "${roots[$1]:-none}" ]] && echo "${proc#/proc/}"
  done
  return 0
}

stop() {  # NAME: SIGTERM to the service itself, then its exit status and last log line
  local pid
  pid="$(service_pid "${pids[$1]}")"
  kill -TERM "$pid"
  local status=0
  wait "${pids[$1]}" || status=$?
  unset "pids[$1]"
  log "$1 stopped with status $status: $(tail -n 1 "$work/$1.log")"
  local left
  left="$(leftovers "$1")"
  if [[ -n "$left" ]]; then
    log "$1 left processes running:"
    ps -o pid=,args= -p "${left//$'\n'/,}"
    kill -TERM $left
    return 1
  fi
  [[ $status -eq 0 ]]
}

log "image $image"
for part in "${parts[@]}"; do buildah from --name "$prefix-$part" "$image" >/dev/null; done
touch "$work/started"
embedder_port=$(free_port); retriever_port=$(free_port)
orchestrator_port=$(free_port); gateway_port=$(free_port)

# shellcheck disable=SC2046  # identity's words are NAME=value pairs without spaces
start embedder $(identity embedder) EMBEDDER_HOST=127.0.0.1 "EMBEDDER_PORT=$embedder_port" \
  -- python -m services.embedder
wait_healthy embedder EMBEDDER_PORT "$embedder_port"

# Ingestion one small batch at a time: on a busy 2-core machine four batches of 32 passages
# queued at the embedder can outlast the 30 s deadline of an Embed call.
# shellcheck disable=SC2046
start retriever $(identity retriever) RETRIEVER_HOST=127.0.0.1 "RETRIEVER_PORT=$retriever_port" \
  "EMBEDDER_ADDR=127.0.0.1:$embedder_port" RETRIEVER_INGEST_CONCURRENCY=1 \
  RETRIEVER_INGEST_BATCH_SIZE=16 -- python -m services.retriever
wait_healthy retriever RETRIEVER_PORT "$retriever_port"

log "seeding the synthetic patients (embedded PostgreSQL in the image's var/)"
run orchestrator -- python -m services.orchestrator.patients.seed data/patients
# shellcheck disable=SC2046
start orchestrator $(identity orchestrator) ORCHESTRATOR_HOST=127.0.0.1 \
  "ORCHESTRATOR_PORT=$orchestrator_port" \
  "RETRIEVER_ADDR=127.0.0.1:$retriever_port" "EMBEDDER_ADDR=127.0.0.1:$embedder_port" \
  -- python -m services.orchestrator
wait_healthy orchestrator ORCHESTRATOR_PORT "$orchestrator_port"

# shellcheck disable=SC2046
start gateway $(identity gateway) GATEWAY_HOST=127.0.0.1 "GATEWAY_PORT=$gateway_port" \
  "ORCHESTRATOR_ADDR=127.0.0.1:$orchestrator_port" -- python -m services.orchestrator.gateway

log "ingesting data/guidelines through Retriever.Ingest (client certificate, guidelines:write)"
# shellcheck disable=SC2046
if ! run client $(identity client) "AUTH_TOKEN=$(token guidelines:write)" \
  "RETRIEVER_ADDR=127.0.0.1:$retriever_port" -- python -m services.retriever.ingest \
  data/guidelines >"$work/ingest.log" 2>&1; then
  cat "$work/ingest.log" >&2
  exit 1
fi
grep -v '^ingest:' "$work/ingest.log" | tail -n 5  # the summary, without the progress bar

log "Orchestrator.Brief over gRPC (TLS, briefing:read)"
briefing_token="$(token briefing:read)"
run client TLS_CA_FILE=/pki/tls/ca.pem "AUTH_TOKEN=$briefing_token" \
  -- python -m services.orchestrator.client brief pt-0001 \
  --addr "127.0.0.1:$orchestrator_port" >"$work/brief.txt"
head -n 12 "$work/brief.txt"
grep -q "pt-0001" "$work/brief.txt"

log "POST /api/v1/patients/pt-0001/briefing through the gateway (HTTPS, briefing:read)"
python3 - "$gateway_port" "$work/pki/ca.pem" "$briefing_token" <<'PY'
import json
import ssl
import sys
import time
import urllib.request

base = f"https://127.0.0.1:{sys.argv[1]}"
context = ssl.create_default_context(cafile=sys.argv[2])
deadline = time.monotonic() + 60
while True:
    try:
        with urllib.request.urlopen(f"{base}/healthz", timeout=5, context=context) as reply:
            print("gateway /healthz:", reply.status, reply.read().decode())
            break
    except OSError:
        if time.monotonic() > deadline:
            raise
        time.sleep(1)
request = urllib.request.Request(
    f"{base}/api/v1/patients/pt-0001/briefing",
    data=b"{}",
    headers={"Authorization": f"Bearer {sys.argv[3]}"},
)
with urllib.request.urlopen(request, timeout=120, context=context) as reply:
    briefing = json.load(reply)
assert briefing["patient_id"] == "pt-0001", briefing
print(
    "briefing:", len(briefing["recommendations"]), "recommendations,",
    len(briefing["sources"]), "sources, mode", briefing["mode"],
)
PY
roots[gateway]="$(readlink "/proc/$(service_pid "${pids[gateway]}")/root")"

log "memory in use (RSS)"
for part in embedder retriever orchestrator gateway; do
  pid="$(service_pid "${pids[$part]}")"
  printf '   %-13s %6d MiB\n' "$part" "$(($(ps -o rss= -p "$pid") / 1024))"
done

for part in gateway orchestrator retriever embedder; do stop "$part"; done

log "files written outside /tmp and /app/var (a read-only root file system must see none)"
written=0
for part in embedder retriever orchestrator gateway; do
  root="$(buildah mount "$prefix-$part")"
  while IFS= read -r path; do
    echo "   $part: ${path#"$root"}"
    written=1
  done < <(find "$root" -xdev -newer "$work/started" -type f \
    -not -path "$root/tmp/*" -not -path "$root/app/var/*" -not -path "$root/run/*" \
    -not -path "$root/etc/hosts" -not -path "$root/etc/resolv.conf" -not -path "$root/etc/hostname" \
    -not -path "$root/pki/*")  # /pki: the mount points buildah makes for the volumes
  buildah umount "$prefix-$part" >/dev/null
done
((written == 0)) && echo "   none"
log "smoke test passed"
