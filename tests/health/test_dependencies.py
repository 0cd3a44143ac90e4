"""Health follows the dependencies, on the three services as real processes.

One stack for the module (its own PostgreSQL and Qdrant folders, checks every 0.2 s), and Watch
streams open on the orchestrator (its service, the overall health and its guidelines
capability) and on the retriever while PostgreSQL, the embedder and the retriever are stopped
and started again on the same addresses. Every flip is seen, and the statuses come back without
restarting anything that stayed up. The gateway's /healthz mirrors the orchestrator.
The tests run in file order; each leaves the stack whole again.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from services.launcher import ServiceProcess, start_service
from services.orchestrator.client import SERVICE_NAME as ORCHESTRATOR
from services.orchestrator.client import WITH_GUIDELINES
from services.retriever.client import SERVICE_NAME as RETRIEVER
from tests.health.support import (
    NOT_SERVING,
    SERVING,
    WatchRecorder,
    check,
    start_embedded_postgres,
    watching,
)
from tests.orchestrator.conftest import (
    BASE_ENV,
    scratch_dir,
    serve_gateway,
    stop_embedded_postgres,
)


@dataclass
class Stack:
    """The running services by name (replaced when restarted), and their shared settings."""

    services: dict[str, ServiceProcess]
    env: dict[str, str]
    pg_dir: Path

    def address(self, name: str) -> str:
        return self.services[name].address

    async def stop(self, name: str) -> None:
        assert await self.services[name].stop() == 0

    async def restart(self, name: str) -> None:
        """Starts ``name`` again on the address it had."""
        port = int(self.address(name).rsplit(":", 1)[1])
        self.services[name] = await start_service(name, self.env, port=port)


@pytest.fixture(scope="module")
async def stack() -> AsyncIterator[Stack]:
    with scratch_dir("health-") as tmp:
        env = {
            **BASE_ENV,
            "PG_DATA_DIR": str(tmp / "pg"),
            "RETRIEVER_QDRANT_PATH": str(tmp / "qdrant"),
            "HEALTH_CHECK_INTERVAL_S": "0.2",
            "HEALTH_CHECK_TIMEOUT_S": "2",
        }
        services: dict[str, ServiceProcess] = {}
        state = Stack(services, env, tmp / "pg")
        try:
            for name in ("embedder", "retriever", "orchestrator"):
                services[name] = await start_service(name, env)
                env[f"{name.upper()}_ADDR"] = services[name].address
            yield state
        finally:
            for process in reversed(list(services.values())):
                await process.stop()
            await stop_embedded_postgres(tmp / "pg")


@dataclass
class Watches:
    orchestrator: WatchRecorder
    overall: WatchRecorder
    guidelines: WatchRecorder
    retriever: WatchRecorder


@contextlib.asynccontextmanager
async def watches(stack: Stack) -> AsyncIterator[Watches]:
    """Watch streams on the orchestrator and the retriever, all SERVING to begin with."""
    async with (
        watching(stack.address("orchestrator"), ORCHESTRATOR, "", WITH_GUIDELINES) as mine,
        watching(stack.address("retriever"), RETRIEVER) as (retriever,),
    ):
        orchestrator, overall, guidelines = mine
        for watch in (*mine, retriever):
            await watch.until(SERVING)
        yield Watches(orchestrator, overall, guidelines, retriever)


async def healthz(url: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/healthz") as response:
        return response.status, await response.json()


async def retriever_check_health(stack: Stack) -> int:
    """Exit code of the retriever's container health check, run as a container runs it."""
    port = stack.address("retriever").rsplit(":", 1)[1]
    probe = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.retriever",
        "--check-health",
        env={**os.environ, **stack.env, "RETRIEVER_PORT": port},
    )
    return await probe.wait()


async def test_postgresql_stopped_and_started_flips_the_orchestrator(stack: Stack) -> None:
    async with watches(stack) as seen, serve_gateway(stack.address("orchestrator")) as url:
        assert await healthz(url) == (
            200,
            {"status": "ok", "orchestrator": "SERVING", "guidelines": "SERVING"},
        )
        await stop_embedded_postgres(stack.pg_dir)
        for watch in (seen.orchestrator, seen.overall, seen.guidelines):
            await watch.until(NOT_SERVING)
        assert await healthz(url) == (
            503,
            {"status": "unavailable", "orchestrator": "NOT_SERVING", "guidelines": "NOT_SERVING"},
        )
        # The retriever searches without PostgreSQL (it only writes audit rows there).
        assert await check(stack.address("retriever"), RETRIEVER) == SERVING

        await start_embedded_postgres(stack.pg_dir)
        for watch in (seen.orchestrator, seen.overall, seen.guidelines):
            await watch.until(SERVING)
        assert (await healthz(url))[0] == 200

    for watch in (seen.orchestrator, seen.overall, seen.guidelines):
        assert watch.statuses == [SERVING, NOT_SERVING, SERVING], watch.service
    assert seen.retriever.statuses == [SERVING]


async def test_the_embedder_stopped_and_started_flips_the_retriever_and_the_guidelines(
    stack: Stack,
) -> None:
    async with watches(stack) as seen, serve_gateway(stack.address("orchestrator")) as url:
        await stack.stop("embedder")
        await seen.retriever.until(NOT_SERVING)
        await seen.guidelines.until(NOT_SERVING)
        # Briefings go on without guidelines: the orchestrator itself stays SERVING.
        assert await healthz(url) == (
            200,
            {"status": "degraded", "orchestrator": "SERVING", "guidelines": "NOT_SERVING"},
        )
        assert await retriever_check_health(stack) == 1

        await stack.restart("embedder")
        await seen.retriever.until(SERVING)
        await seen.guidelines.until(SERVING)
        assert await retriever_check_health(stack) == 0

    assert seen.retriever.statuses == [SERVING, NOT_SERVING, SERVING]
    assert seen.guidelines.statuses == [SERVING, NOT_SERVING, SERVING]
    assert seen.orchestrator.statuses == seen.overall.statuses == [SERVING]


async def test_the_retriever_stopped_and_started_flips_the_guidelines(stack: Stack) -> None:
    async with watching(stack.address("orchestrator"), ORCHESTRATOR, WITH_GUIDELINES) as (
        orchestrator,
        guidelines,
    ):
        await guidelines.until(SERVING)
        await stack.stop("retriever")
        await guidelines.until(NOT_SERVING)
        await stack.restart("retriever")
        await guidelines.until(SERVING)

    assert guidelines.statuses == [SERVING, NOT_SERVING, SERVING]
    assert orchestrator.statuses == [SERVING]
