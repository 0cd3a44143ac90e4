"""Fixtures for the deployment tests: the host files a deployment mounts, made at test time."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts import dev_ca, dev_token


@pytest.fixture(scope="session")
def compose_host(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stand-in for the project folder compose mounts from, holding what ``make dev-ca token``
    writes under var/: the development CA and certificates, the token key."""
    root = tmp_path_factory.mktemp("compose-host")
    assert dev_ca.main(["--out", str(root / "var" / "dev-ca")]) == 0
    dev_token.signing_key(root / "var" / "dev-auth")
    return root
