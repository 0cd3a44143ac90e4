"""Fixtures for the deployment tests: the files a deployment mounts, made at test time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.deploy.kube import K8S, ROOT, ObjectFiles

CREATE_SECRETS = K8S / "overlays" / "dev" / "create-secrets.sh"
MAKE_COMPOSE_PKI = ROOT / "deploy" / "compose" / "make-pki.sh"


@pytest.fixture(scope="session")
def compose_host(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stand-in for the project folder compose mounts from, holding what ``make compose-pki``
    (deploy/compose/make-pki.sh) writes under var/: the development CA and certificates, the
    token key, the ingest job's token."""
    root = tmp_path_factory.mktemp("compose-host")
    completed = subprocess.run(
        [str(MAKE_COMPOSE_PKI), str(root / "var")],
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return root


@dataclass(frozen=True)
class ClusterObjects:
    """What the dev overlay's create-secrets.sh makes (the objects an operator provides in
    prod, under the same names), written as the kubelet would mount them."""

    files: ObjectFiles
    items: list[dict[str, Any]]


@pytest.fixture(scope="session")
def cluster_objects(tmp_path_factory: pytest.TempPathFactory) -> ClusterObjects:
    """``create-secrets.sh --print``'s Secrets and ConfigMap, and the JWKS file prod's
    briefing-auth-keys holds instead of a PEM key (made from the same development key)."""
    root = tmp_path_factory.mktemp("cluster")
    completed = subprocess.run(
        [str(CREATE_SECRETS), "--print"],
        env={**os.environ, "PYTHON": sys.executable, "PKI_DIR": str(root / "pki")},
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    items: list[dict[str, Any]] = json.loads(completed.stdout)["items"]
    files = ObjectFiles(root / "objects")
    for item in items:
        files.add(item)
    keys = files.folder("ConfigMap", "briefing-auth-keys")
    public_key = serialization.load_pem_public_key((keys / "public-key.pem").read_bytes())
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(public_key))
    (keys / "jwks.json").write_text(json.dumps({"keys": [{**jwk, "kid": "dev", "use": "sig"}]}))
    return ClusterObjects(files, items)
