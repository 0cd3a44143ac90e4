"""Fixtures for the Embedder tests: real service processes on loopback, a Vertex stand-in."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from briefing.v1 import embedder_pb2_grpc

from services.common.channels import create_channel
from services.embedder.client import METHOD_POLICIES, SERVICE_NAME, EmbedderClient
from services.launcher import ServiceProcess, start_service
from tests.support.vertex_standin import VertexStandIn

OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


@pytest.fixture(scope="session")
async def embedder() -> AsyncIterator[ServiceProcess]:
    """One Embedder process with the local model and default settings, for the session."""
    service = await start_service("embedder", {**OFFLINE, "EMBEDDER_BACKEND": "local"})
    yield service
    await service.stop()


@pytest.fixture(scope="session")
async def stub(embedder: ServiceProcess) -> AsyncIterator[embedder_pb2_grpc.EmbedderAsyncStub]:
    """A raw stub, to see status codes and messages exactly as the service sends them."""
    channel = create_channel(embedder.address, SERVICE_NAME, METHOD_POLICIES)
    yield embedder_pb2_grpc.EmbedderStub(channel)
    await channel.close(None)


@pytest.fixture(scope="session")
async def client(embedder: ServiceProcess) -> AsyncIterator[EmbedderClient]:
    async with EmbedderClient(embedder.address) as embedder_client:
        yield embedder_client


@pytest.fixture
async def vertex_standin() -> AsyncIterator[VertexStandIn]:
    standin = VertexStandIn()
    await standin.start()
    yield standin
    await standin.stop()
