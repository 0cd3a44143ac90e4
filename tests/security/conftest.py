"""Fixtures for the security tests: a test CA, a token mint, and the stack with TLS and auth on.

``secure_stack`` starts, once per session, the three services as real processes on loopback,
each with its own certificate (mutual TLS between them) and auth on: PostgreSQL embedded and
seeded, Qdrant local mode holding two guidelines ingested with the real CLI, which presents the
operator's client certificate and a token with guidelines:write.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from services.launcher import ServiceProcess, running_stack
from tests.orchestrator.conftest import (
    BASE_ENV,
    GUIDELINES,
    scratch_dir,
    seed,
    stop_embedded_postgres,
)
from tests.security.support import Pki, TokenMint

CORPUS = ("kdigo-2022-diabetes-in-ckd.md", "ehra-2021-doac-dosing-kidney.md")


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki.create(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def mint(tmp_path_factory: pytest.TempPathFactory) -> TokenMint:
    return TokenMint(tmp_path_factory.mktemp("mint"))


@dataclass
class SecureStack:
    """The running services, and the settings every program of the stack shares."""

    services: dict[str, ServiceProcess]
    env: dict[str, str]

    def address(self, name: str) -> str:
        return self.services[name].address


async def run_cli(env: dict[str, str], *args: str) -> tuple[int, str]:
    """Runs ``python -m ARGS`` with ``env`` over this process's; returns its code and output."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        *args,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, output.decode(errors="replace")


@pytest.fixture(scope="session")
async def secure_stack(pki: Pki, mint: TokenMint) -> AsyncIterator[SecureStack]:
    with scratch_dir("secure-stack-") as tmp:
        await seed(tmp / "pg")
        env = {
            **BASE_ENV,
            **mint.env(),
            "RETRIEVER_QDRANT_PATH": str(tmp / "qdrant"),
            "PG_DATA_DIR": str(tmp / "pg"),
        }
        try:
            async with running_stack(env, tls_dir=pki.folder) as services:
                await _ingest(services["retriever"].address, pki, mint, tmp)
                yield SecureStack(services=services, env=env)
        finally:
            await stop_embedded_postgres(tmp / "pg")


async def _ingest(retriever: str, pki: Pki, mint: TokenMint, tmp: Path) -> None:
    env = {
        **BASE_ENV,
        **pki.env("client"),
        "AUTH_TOKEN": mint.token("guidelines:write"),
        "RETRIEVER_ADDR": retriever,
    }
    paths = [str(GUIDELINES / name) for name in CORPUS]
    code, output = await run_cli(env, "services.retriever.ingest", *paths)
    assert code == 0, output
