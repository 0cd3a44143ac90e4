#!/usr/bin/env bash
# Creates what the dev overlay mounts and reads but never commits, in the current kubectl
# context (nothing secret is passed on a command line):
#   deploy/k8s/overlays/dev/create-secrets.sh [NAMESPACE]          default: briefing-dev
#   deploy/k8s/overlays/dev/create-secrets.sh --print [NAMESPACE]  print them as a List instead
#
#   briefing-tls-<part>     tls.crt, tls.key, ca.crt (as cert-manager writes them) for the
#                           embedder, retriever, orchestrator, gateway and the ingest Job, from a
#                           development CA (scripts/dev_ca.py); common name: the part (the
#                           identity AUTH_CERTIFICATE_SCOPES maps), valid for the part's Services
#                           (the headless names its clients dial), in short and in the namespace
#   briefing-auth-keys      ConfigMap: public-key.pem, which verifies the development tokens
#                           (scripts/dev_token.py's key)
#   briefing-ingest-token   token: guidelines:write for the ingest Job, valid 30 days
#   briefing-database       a random password, and the DATABASE_URL holding it
#   briefing-anthropic      api-key, from ANTHROPIC_API_KEY when it is set (else the offline
#                           agent answers)
#
# The CA, the certificates and the token key stay under var/k8s/NAMESPACE/ (PKI_DIR), so a run
# adds what is missing without breaking what exists: an object already in the namespace is kept
# (the database was initialised with that password), except the ingest token, made anew each
# time (it expires; delete and re-apply the ingest Job to use it). Needs the project's
# virtualenv (make install); PYTHON names another interpreter.
set -euo pipefail

print=false
if [[ "${1:-}" == "--print" ]]; then
  print=true
  shift
fi
namespace="${1:-briefing-dev}"
repo="$(cd "$(dirname "$0")/../../../.." && pwd)"
python="${PYTHON:-$repo/.venv/bin/python}"
folder="${PKI_DIR:-$repo/var/k8s/$namespace}"

objects="$(cd "$repo" && "$python" - "$namespace" "$folder" <<'PY'
import json
import os
import secrets
import sys
from pathlib import Path

from scripts import dev_ca, dev_token

namespace, folder = sys.argv[1], Path(sys.argv[2])
ca_dir = folder / "ca"
# Each part and the Services its clients reach it by (deploy/k8s/base).
SERVICES = {
    "embedder": ["embedder", "embedder-headless"],
    "retriever": ["retriever", "retriever-headless"],
    "orchestrator": ["orchestrator", "orchestrator-headless"],
    "gateway": ["gateway"],
    "ingest": [],  # a client only
}
INGEST_TOKEN_TTL_S = 30 * 24 * 3600


def metadata(name: str) -> dict[str, str]:
    return {"name": name, "namespace": namespace}


def secret(name: str, data: dict[str, str], kind: str = "Opaque") -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "Secret", "type": kind, "metadata": metadata(name),
            "stringData": data}


items: list[dict[str, object]] = []
for part, services in SERVICES.items():
    hosts = [*services, *(f"{service}.{namespace}.svc" for service in services)]
    arguments = ["--out", str(ca_dir), "--name", part]
    dev_ca.main([*arguments, *(f"--host={host}" for host in hosts if host != part)])
    files = {"tls.crt": f"{part}.pem", "tls.key": f"{part}-key.pem", "ca.crt": "ca.pem"}
    data = {key: (ca_dir / name).read_text() for key, name in files.items()}
    items.append(secret(f"briefing-tls-{part}", data, "kubernetes.io/tls"))

key = dev_token.signing_key(folder / "auth")
public_key = (folder / "auth" / "public-key.pem").read_text()
items.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata("briefing-auth-keys"),
              "data": {"public-key.pem": public_key}})
token = dev_token.mint(key, ["guidelines:write"], "ingest-job", INGEST_TOKEN_TTL_S)
items.append(secret("briefing-ingest-token", {"token": token}))

password = secrets.token_urlsafe(24)
url = f"postgresql://briefing:{password}@postgres:5432/briefing"
items.append(secret("briefing-database", {"password": password, "url": url}))
if os.environ.get("ANTHROPIC_API_KEY"):
    items.append(secret("briefing-anthropic", {"api-key": os.environ["ANTHROPIC_API_KEY"]}))
print(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
PY
)"

if $print; then
  echo "$objects"
  exit 0
fi
# One object per line: KIND NAME JSON.
"$python" -c '
import json, sys
for item in json.load(sys.stdin)["items"]:
    print(item["kind"], item["metadata"]["name"], json.dumps(item))
' <<<"$objects" | while read -r kind name object; do
  # create and replace, not apply: apply would copy the secret into an annotation.
  if ! kubectl -n "$namespace" get "$kind" "$name" >/dev/null 2>&1; then
    kubectl -n "$namespace" create -f - <<<"$object"
  elif [[ "$name" == briefing-ingest-token ]]; then
    kubectl -n "$namespace" replace -f - <<<"$object"
  else
    echo "$kind $name exists in $namespace: kept" >&2
  fi
done
