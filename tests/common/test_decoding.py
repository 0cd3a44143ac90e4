"""Undecodable requests are INVALID_ARGUMENT on every kind of handler, through a real server.

The handlers take ``HealthCheckRequest`` messages (any generated message would do) and are built
as the generated code builds them, with its ``FromString`` as the deserializer. Without the
interceptor grpc answers UNKNOWN or INTERNAL naming the decoder's exception class.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from grpc_health.v1.health_pb2 import HealthCheckRequest as Request
from grpc_health.v1.health_pb2 import HealthCheckResponse as Response
from opentelemetry.instrumentation.grpc import GrpcAioInstrumentorServer

from services.common.decoding import DecodingInterceptor
from services.common.errors import ErrorMappingInterceptor
from services.common.interceptors import Context

SERVICE = "test.v1.Decoding"
# A truncated varint: no message decodes from it.
GARBAGE = b"\xff\xff\xff"
# Field 1 (HealthCheckRequest.service, a string) holding bytes that are not UTF-8.
NOT_UTF8 = b"\x0a\x02\xff\xfe"
ANSWER = Response(status=Response.SERVING)


async def unary_unary(request: Request, context: Context) -> Response:
    return ANSWER


async def stream_unary(requests: AsyncIterator[Request], context: Context) -> Response:
    async for _ in requests:
        pass
    return ANSWER


async def unary_stream(request: Request, context: Context) -> AsyncIterator[Response]:
    yield ANSWER


async def stream_stream(
    requests: AsyncIterator[Request], context: Context
) -> AsyncIterator[Response]:
    async for _ in requests:
        yield ANSWER


KINDS = {
    "UnaryUnary": grpc.unary_unary_rpc_method_handler,
    "StreamUnary": grpc.stream_unary_rpc_method_handler,
    "UnaryStream": grpc.unary_stream_rpc_method_handler,
    "StreamStream": grpc.stream_stream_rpc_method_handler,
}
BEHAVIOURS: dict[str, Any] = {
    "UnaryUnary": unary_unary,
    "StreamUnary": stream_unary,
    "UnaryStream": unary_stream,
    "StreamStream": stream_stream,
}


@contextlib.asynccontextmanager
async def traced() -> AsyncIterator[None]:
    """OpenTelemetry's server interceptor installed, outermost, as telemetry.py does."""
    instrumentor = GrpcAioInstrumentorServer()  # type: ignore[no-untyped-call]
    instrumentor.instrument()
    try:
        yield
    finally:
        instrumentor.uninstrument()


@contextlib.asynccontextmanager
async def serving() -> AsyncIterator[grpc.aio.Channel]:
    """A server with the interceptors every service has, in the order server.py gives them."""
    server = grpc.aio.server(interceptors=[ErrorMappingInterceptor(), DecodingInterceptor()])
    handlers = {
        name: make(
            BEHAVIOURS[name],
            request_deserializer=Request.FromString,
            response_serializer=Response.SerializeToString,
        )
        for name, make in KINDS.items()
    }
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(SERVICE, handlers)])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield channel
    finally:
        await server.stop(None)


async def _call(channel: grpc.aio.Channel, method: str, messages: list[bytes]) -> list[bytes]:
    """Sends raw request bytes (one message, or each of a stream); returns the raw responses."""
    path = f"/{SERVICE}/{method}"
    raw: dict[str, None] = {"request_serializer": None, "response_deserializer": None}
    if method == "UnaryUnary":
        return [await channel.unary_unary(path, **raw)(messages[0], timeout=10)]
    if method == "StreamUnary":
        return [await channel.stream_unary(path, **raw)(iter(messages), timeout=10)]
    if method == "UnaryStream":
        return [r async for r in channel.unary_stream(path, **raw)(messages[0], timeout=10)]
    return [r async for r in channel.stream_stream(path, **raw)(iter(messages), timeout=10)]


@pytest.mark.parametrize("garbage", [GARBAGE, NOT_UTF8], ids=["truncated", "not-utf8"])
@pytest.mark.parametrize("method", KINDS)
async def test_undecodable_bytes_are_invalid_argument(method: str, garbage: bytes) -> None:
    async with serving() as channel:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await _call(channel, method, [garbage])
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = err.value.details() or ""
    assert details.startswith("request is not a valid grpc.health.v1.HealthCheckRequest")
    assert "Error" not in details, "an exception class leaked into the message"


@pytest.mark.parametrize("method", KINDS)
async def test_undecodable_bytes_are_invalid_argument_under_opentelemetry(method: str) -> None:
    async with traced(), serving() as channel:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await _call(channel, method, [GARBAGE])
        good = Request(service="x").SerializeToString()
        responses = await _call(channel, method, [good])
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert Response.FromString(responses[-1]) == ANSWER


@pytest.mark.parametrize("method", ["StreamUnary", "StreamStream"])
async def test_a_bad_message_later_in_a_stream_is_invalid_argument(method: str) -> None:
    good = Request(service="x").SerializeToString()
    async with serving() as channel:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await _call(channel, method, [good, good, GARBAGE, good])
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize("method", KINDS)
async def test_valid_requests_still_pass(method: str) -> None:
    good = Request(service="x").SerializeToString()
    async with serving() as channel:
        responses = await _call(channel, method, [good, good])
    assert Response.FromString(responses[-1]) == ANSWER


async def test_an_undecodable_request_logs_no_traceback(capfd: pytest.CaptureFixture[str]) -> None:
    async with serving() as channel:
        with pytest.raises(grpc.aio.AioRpcError):
            await _call(channel, "UnaryUnary", [GARBAGE])
    captured = capfd.readouterr()
    assert "Traceback" not in captured.out + captured.err
