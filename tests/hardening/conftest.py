"""One stack for the hardening tests: embedder, retriever, orchestrator and gateway processes.

Shared by every module of the package (starting the model takes long on a loaded machine). Some
limits are set low here, so that a test crosses them with small requests; the defaults are
checked by the unit tests and the contracts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.launcher import running_stack, start_service
from tests.orchestrator.conftest import BASE_ENV, scratch_dir, seed, stop_embedded_postgres

#: Limits set low for the stack (the settings' names, as the error messages give them).
LOW_LIMITS = {
    "RETRIEVER_MAX_CHUNKS_PER_STREAM": "50",
    "EMBEDDER_CACHE_MAX_BYTES": "1000000",
    "GATEWAY_HEADER_TIMEOUT_S": "2",
    "GATEWAY_BODY_TIMEOUT_S": "2",
}


@dataclass(frozen=True)
class Stack:
    embedder: str
    retriever: str
    orchestrator: str
    gateway: str  # the base URL, http://host:port


@pytest.fixture(scope="package")
async def stack() -> AsyncIterator[Stack]:
    with scratch_dir("hardening-") as tmp:
        await seed(tmp / "pg")
        env = {
            **BASE_ENV,
            **LOW_LIMITS,
            "RETRIEVER_QDRANT_PATH": str(tmp / "qdrant"),
            "PG_DATA_DIR": str(tmp / "pg"),
            "RETRIEVER_INGEST_CONCURRENCY": "1",
        }
        try:
            async with running_stack(env) as services:
                gateway = await start_service(
                    "orchestrator.gateway",
                    {**env, "ORCHESTRATOR_ADDR": services["orchestrator"].address},
                )
                try:
                    yield Stack(
                        embedder=services["embedder"].address,
                        retriever=services["retriever"].address,
                        orchestrator=services["orchestrator"].address,
                        gateway=f"http://{gateway.address}",
                    )
                finally:
                    await gateway.stop()
        finally:
            await stop_embedded_postgres(tmp / "pg")


async def assert_serving(address: str) -> None:
    """The service at ``address`` answers its health check with SERVING, promptly."""
    async with grpc.aio.insecure_channel(address) as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=10
        )
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
