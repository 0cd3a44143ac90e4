"""The concurrency limit: a permit per call, held to its end, refused at once when none is free,
never taken by health or reflection; on an in-process server, then on a real Embedder."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import grpc
import pytest
from briefing.v1 import embedder_pb2, embedder_pb2_grpc
from grpc_health.v1 import _async as health_aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc

from services.common.admission import AdmissionInterceptor
from services.common.errors import ErrorMappingInterceptor
from services.common.server import INFRASTRUCTURE_SERVICES
from services.embedder.client import SERVICE_NAME as EMBEDDER
from services.launcher import start_service
from tests.embedder.texts import passage
from tests.health.support import SERVING

SERVICE = "test.v1.Slow"
LIMIT = 2
RAW: dict[str, None] = {"request_serializer": None, "response_deserializer": None}


class Gate:
    """Handlers that wait until the test opens the gate; counts the calls inside."""

    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.full = asyncio.Event()  # the limit's worth of calls are inside
        self.inside = 0

    def _enter(self) -> None:
        self.inside += 1
        if self.inside == LIMIT:
            self.full.set()

    async def unary(self, request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        self._enter()
        await self.open.wait()
        return request

    async def stream(
        self, request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]
    ) -> AsyncIterator[bytes]:
        self._enter()
        yield b"first"
        await self.open.wait()
        yield request


@contextlib.asynccontextmanager
async def limited_server(gate: Gate) -> AsyncIterator[grpc.aio.Channel]:
    """A server with the limit, health, reflection and the gate's handlers; yields a channel."""
    server = grpc.aio.server(
        interceptors=[
            AdmissionInterceptor(LIMIT, INFRASTRUCTURE_SERVICES),
            ErrorMappingInterceptor(),
        ]
    )
    handlers = {
        "Unary": grpc.unary_unary_rpc_method_handler(gate.unary),
        "Stream": grpc.unary_stream_rpc_method_handler(gate.stream),
    }
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(SERVICE, handlers)])
    health = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    reflection.enable_server_reflection([SERVICE, *INFRASTRUCTURE_SERVICES], server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield channel
    finally:
        await server.stop(None)


async def _listed_services(channel: grpc.aio.Channel) -> list[str]:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    async for reply in stub.ServerReflectionInfo(iter([request]), timeout=10):
        return [service.name for service in reply.list_services_response.service]
    raise AssertionError("no reflection answer")


async def test_a_full_server_refuses_at_once_but_answers_health_and_reflection() -> None:
    gate = Gate()
    async with limited_server(gate) as channel:
        unary = channel.unary_unary(f"/{SERVICE}/Unary", **RAW)
        stream = channel.unary_stream(f"/{SERVICE}/Stream", **RAW)
        held_unary = asyncio.ensure_future(unary(b"one", timeout=30))
        held_stream = stream(b"two", timeout=30)
        assert await held_stream.read() == b"first"
        await asyncio.wait_for(gate.full.wait(), 10)

        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await unary(b"three", timeout=5)
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert f"{LIMIT} calls are already in progress" in str(refused.value.details())
        assert gate.inside == LIMIT, "the refused call reached its handler"

        health = health_pb2_grpc.HealthStub(channel)
        for _ in range(5):
            reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=5)
            assert reply.status == SERVING
        watch = health.Watch(health_pb2.HealthCheckRequest(), timeout=5)
        assert (await watch.read()).status == SERVING
        watch.cancel()
        assert SERVICE in await _listed_services(channel)

        gate.open.set()
        assert await held_unary == b"one"
        assert await held_stream.read() == b"two"
        assert await held_stream.code() == grpc.StatusCode.OK
        # Every permit came back: the limit's worth of calls is admitted again.
        assert list(await asyncio.gather(unary(b"a", timeout=5), unary(b"b", timeout=5))) == [
            b"a",
            b"b",
        ]


async def test_a_streaming_call_holds_its_permit_until_it_ends() -> None:
    gate = Gate()
    async with limited_server(gate) as channel:
        stream = channel.unary_stream(f"/{SERVICE}/Stream", **RAW)
        calls = [stream(f"s{i}".encode(), timeout=30) for i in range(LIMIT)]
        for call in calls:
            assert await call.read() == b"first"  # the handlers are between two messages
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await channel.unary_unary(f"/{SERVICE}/Unary", **RAW)(b"x", timeout=5)
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        gate.open.set()
        for number, call in enumerate(calls):
            assert await call.read() == f"s{number}".encode()
            assert await call.code() == grpc.StatusCode.OK


async def _hold_the_only_permit(
    stub: embedder_pb2_grpc.EmbedderAsyncStub,
) -> asyncio.Task[embedder_pb2.EmbedResponse]:
    """A long Embed call holding the server's one permit (sent again when another call held it,
    since a refusal comes at once)."""
    request = embedder_pb2.EmbedRequest(
        texts=[passage(30_000 + i) for i in range(64)],
        input_type=embedder_pb2.INPUT_TYPE_DOCUMENT,
    )

    async def embed() -> embedder_pb2.EmbedResponse:
        return await stub.Embed(request, timeout=300)

    for _ in range(5):
        long_call = asyncio.create_task(embed())
        await asyncio.wait([long_call], timeout=1.0)
        if not long_call.done():
            return long_call
        error = long_call.exception()
        assert isinstance(error, grpc.aio.AioRpcError), error
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    raise AssertionError("the long call never got the permit")


async def test_a_busy_embedder_still_passes_its_health_checks() -> None:
    service = await start_service(
        "embedder",
        {
            "HF_HUB_OFFLINE": "1",
            "EMBEDDER_MAX_CONCURRENT_RPCS": "1",
            # Batches of 32 passages (most of a second each, on an idle machine) against a
            # check timeout a one-word forward pass meets easily: a check that queued behind a
            # batch would time out and report the busy model unhealthy.
            "EMBEDDER_MAX_BATCH_SIZE": "32",
            "HEALTH_CHECK_TIMEOUT_S": "0.25",
            "HEALTH_CHECK_INTERVAL_S": "0.1",
        },
    )
    try:
        async with grpc.aio.insecure_channel(service.address) as channel:
            stub = embedder_pb2_grpc.EmbedderStub(channel)
            logged_before = len(service.log_lines)
            long_call = await _hold_the_only_permit(stub)
            probe = embedder_pb2.EmbedRequest(texts=["x"], input_type=embedder_pb2.INPUT_TYPE_QUERY)
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.Embed(probe, timeout=30)
            assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED

            health = health_pb2_grpc.HealthStub(channel)
            checks_while_full = 0
            while not long_call.done():
                for name in ("", EMBEDDER):
                    reply = await health.Check(
                        health_pb2.HealthCheckRequest(service=name), timeout=5
                    )
                    assert reply.status == SERVING
                checks_while_full += not long_call.done()
                await asyncio.sleep(0.1)
            assert checks_while_full >= 3, "the long call ended before health was checked"
            assert len((await long_call).embeddings) == 64
            logged_while_busy = service.log_lines[logged_before:]
    finally:
        assert await service.stop() == 0
    # The monitor checked the model all along (every 0.1 s) and never found it unhealthy.
    assert not [line for line in logged_while_busy if "dependency_unhealthy" in line]
