"""An Embedder on loopback that records what it is asked, for tests of its callers.

Each text gets a small vector derived from its hash. Texts containing "bad" are refused
(INVALID_ARGUMENT); while ``down`` is set every call fails with UNAVAILABLE; ``delay_s`` slows
every call. ``time_remaining`` holds each call's time left when it arrived (None without a
deadline); ``arrived`` is set by each call, ``cancelled_event`` by each call cancelled while
being answered (``cancelled`` counts them). ``hold_until(texts)`` makes any call with one of
``texts`` wait until every one of them has arrived, in whichever calls: a caller that sends them
one after another never gets an answer, so a test proves they were in flight together. Like the
real Embedder it answers health checks (SERVING), which its callers' own health follows.

The ``recorder`` fixture (a plugin of the root conftest) serves one with a client to it.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

import grpc
import pytest
from briefing.v1 import embedder_pb2, embedder_pb2_grpc
from grpc_health.v1 import _async as health_aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.embedder.client import EmbedderClient

DIMENSION = 4


def vector_of(text: str) -> list[float]:
    """A unit vector (as the Embedder's contract says) derived from the text's hash."""
    digest = hashlib.sha256(text.encode()).digest()
    values = [1 + byte / 255 for byte in digest[:DIMENSION]]
    norm = math.sqrt(sum(v * v for v in values))
    return [v / norm for v in values]


class RecordingEmbedder(embedder_pb2_grpc.EmbedderServicer):
    """The servicer; ``requests`` holds each Embed call's texts, in arrival order."""

    def __init__(self) -> None:
        self.requests: list[list[str]] = []
        self.time_remaining: list[float | None] = []
        self.cancelled = 0
        self.arrived = asyncio.Event()
        self.cancelled_event = asyncio.Event()
        self.down = False
        self.delay_s = 0.0
        self._awaited: set[str] = set()
        self._seen: set[str] = set()
        self._all_seen = asyncio.Event()

    def hold_until(self, texts: Iterable[str]) -> None:
        self._awaited = set(texts)
        self._seen = set()
        self._all_seen = asyncio.Event()

    async def Embed(
        self, request: embedder_pb2.EmbedRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> embedder_pb2.EmbedResponse:
        texts = list(request.texts)
        self.requests.append(texts)
        self.time_remaining.append(context.time_remaining())
        self.arrived.set()
        try:
            if self._awaited.intersection(texts):
                self._seen.update(self._awaited.intersection(texts))
                if self._seen == self._awaited:
                    self._all_seen.set()
                await self._all_seen.wait()
            await asyncio.sleep(self.delay_s)
        except asyncio.CancelledError:
            self.cancelled += 1
            self.cancelled_event.set()
            raise
        if self.down:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "model is loading")
        if any("bad" in text for text in texts):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "a text is bad")
        return embedder_pb2.EmbedResponse(
            embeddings=[
                embedder_pb2.Embedding(values=vector_of(t), token_count=len(t.split()))
                for t in texts
            ],
            model="recording",
            dimension=DIMENSION,
        )

    async def GetModelInfo(
        self,
        request: embedder_pb2.GetModelInfoRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> embedder_pb2.GetModelInfoResponse:
        return embedder_pb2.GetModelInfoResponse(
            model="recording",
            backend="recording",
            dimension=DIMENSION,
            max_input_tokens=256,
            max_batch_texts=256,
        )


@asynccontextmanager
async def serve_recording_embedder(
    port: int = 0, servicer: RecordingEmbedder | None = None
) -> AsyncIterator[tuple[RecordingEmbedder, str]]:
    """The servicer (a new one unless given) and its address, on ``port`` of loopback (0: a
    free one)."""
    servicer = servicer or RecordingEmbedder()
    server = grpc.aio.server()
    embedder_pb2_grpc.add_EmbedderServicer_to_server(servicer, server)
    health = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    name = embedder_pb2.DESCRIPTOR.services_by_name["Embedder"].full_name
    await health.set(name, health_pb2.HealthCheckResponse.SERVING)
    port = server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    try:
        yield servicer, f"127.0.0.1:{port}"
    finally:
        await server.stop(None)


@pytest.fixture
async def recorder() -> AsyncIterator[tuple[RecordingEmbedder, EmbedderClient]]:
    """A recording Embedder on loopback and a client to it."""
    async with (
        serve_recording_embedder() as (servicer, address),
        EmbedderClient(address) as client,
    ):
        yield servicer, client
