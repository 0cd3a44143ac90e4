#!/usr/bin/env bash
# Creates the development Secrets in the current kubectl context, with a random database
# password (nothing secret is committed, nor passed on a command line):
#   deploy/k8s/overlays/dev/create-secrets.sh [NAMESPACE]      default: briefing-dev
# ANTHROPIC_API_KEY, when set in your shell, goes into briefing-anthropic (else the offline
# agent answers).
set -euo pipefail
namespace="${1:-briefing-dev}"
if kubectl -n "$namespace" get secret briefing-database >/dev/null 2>&1; then
  # The database was initialised with that password: a new one would lock the services out.
  echo "briefing-database exists in $namespace: kept" >&2
  exit 0
fi
python3 - "$namespace" <<'PY' | kubectl create -f -
import json
import os
import secrets
import sys

namespace = sys.argv[1]
password = secrets.token_urlsafe(24)


def secret(name: str, data: dict[str, str]) -> dict[str, object]:
    metadata = {"name": name, "namespace": namespace}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": metadata, "stringData": data}


items = [
    secret(
        "briefing-database",
        {"password": password, "url": f"postgresql://briefing:{password}@postgres:5432/briefing"},
    )
]
if os.environ.get("ANTHROPIC_API_KEY"):
    items.append(secret("briefing-anthropic", {"api-key": os.environ["ANTHROPIC_API_KEY"]}))
print(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
PY
