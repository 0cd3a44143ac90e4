"""The container health probe against a real health service on loopback."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator

import grpc
import pytest
from grpc_health.v1 import _async as health_aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.common.healthcheck import check

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@contextlib.asynccontextmanager
async def health_server(status: health_pb2.HealthCheckResponse.ServingStatus) -> AsyncIterator[str]:
    server = grpc.aio.server()
    health = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    await health.set("", status)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(None)


@pytest.mark.parametrize(("status", "healthy"), [(SERVING, True), (NOT_SERVING, False)])
async def test_the_probe_passes_only_when_serving(
    status: health_pb2.HealthCheckResponse.ServingStatus, healthy: bool
) -> None:
    async with health_server(status) as address:
        assert await check(address) is healthy


async def test_the_probe_fails_when_nothing_listens() -> None:
    with socket.socket() as unused:  # a port nobody listens on once the socket is closed
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    assert await check(f"127.0.0.1:{port}") is False
