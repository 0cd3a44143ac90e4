"""The one interceptor wrapper, through a real server: every handler kind, both streaming styles.

The handlers of :data:`KINDS` cover the four kinds of handler, and for streaming responses both
styles gRPC allows: an async generator that yields, and a coroutine that calls
``context.write()``. Each test is about one thing the wrapper must do for all of them.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import pytest
from grpc_health.v1 import _async as health_aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.common.errors import ErrorMappingInterceptor, NotFound
from services.common.interceptors import Call, CallInterceptor, Context

SERVICE = "test.v1.Kinds"
CALLER: contextvars.ContextVar[bytes] = contextvars.ContextVar("caller", default=b"nobody")


def _answer(request: bytes) -> bytes:
    """What a handler answers: the request, the caller the interceptor put in the context,
    and a failure when the request asks for one."""
    if request == b"fail":
        raise NotFound("no such thing")
    return request + b"/" + CALLER.get()


async def unary_unary(request: bytes, context: Context) -> bytes:
    return _answer(request)


async def stream_unary(requests: AsyncIterator[bytes], context: Context) -> bytes:
    return _answer(b"+".join([request async for request in requests]))


async def unary_stream_yielding(request: bytes, context: Context) -> AsyncIterator[bytes]:
    yield b"first"
    yield _answer(request)


async def unary_stream_writing(request: bytes, context: Context) -> None:
    await context.write(b"first")
    await context.write(_answer(request))


async def stream_stream_yielding(
    requests: AsyncIterator[bytes], context: Context
) -> AsyncIterator[bytes]:
    yield b"first"
    async for request in requests:
        yield _answer(request)


async def stream_stream_writing(requests: AsyncIterator[bytes], context: Context) -> None:
    await context.write(b"first")
    while isinstance(request := await context.read(), bytes):  # until grpc.aio.EOF
        await context.write(_answer(request))


KINDS: dict[str, Callable[..., grpc.RpcMethodHandler[Any, Any]]] = {
    "UnaryUnary": lambda: grpc.unary_unary_rpc_method_handler(unary_unary),
    "StreamUnary": lambda: grpc.stream_unary_rpc_method_handler(stream_unary),
    "UnaryStreamYielding": lambda: grpc.unary_stream_rpc_method_handler(unary_stream_yielding),
    "UnaryStreamWriting": lambda: grpc.unary_stream_rpc_method_handler(unary_stream_writing),
    "StreamStreamYielding": lambda: grpc.stream_stream_rpc_method_handler(stream_stream_yielding),
    "StreamStreamWriting": lambda: grpc.stream_stream_rpc_method_handler(stream_stream_writing),
}


async def _call(channel: grpc.aio.Channel, method: str, request: bytes) -> list[bytes]:
    """Calls ``method`` with one request message (raw bytes); returns every response message."""
    path = f"/{SERVICE}/{method}"
    raw: dict[str, None] = {"request_serializer": None, "response_deserializer": None}
    if method == "UnaryUnary":
        return [await channel.unary_unary(path, **raw)(request)]
    if method == "StreamUnary":
        return [await channel.stream_unary(path, **raw)(iter([request]))]
    if method.startswith("UnaryStream"):
        return [response async for response in channel.unary_stream(path, **raw)(request)]
    return [response async for response in channel.stream_stream(path, **raw)(iter([request]))]


class Recorder(CallInterceptor):
    """Names the caller in a context variable, and records what it saw of each call."""

    def __init__(self, refuse: bool = False) -> None:
        self.refuse = refuse
        self.seen: list[tuple[str, str]] = []

    async def around_call(self, method: str, context: Context, call: Call) -> Any:
        self.seen.append(("entered", method))
        if self.refuse:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "refused")
        token = CALLER.set(b"recorder")
        try:
            result = await call()
        except Exception as exc:
            self.seen.append(("failed", type(exc).__name__))
            raise
        finally:
            CALLER.reset(token)
        self.seen.append(("left", method))
        return result


@contextlib.asynccontextmanager
async def serving(
    *interceptors: grpc.aio.ServerInterceptor[Any, Any],
) -> AsyncIterator[grpc.aio.Channel]:
    """A real server on loopback with the handlers of :data:`KINDS`; yields a channel to it."""
    server = grpc.aio.server(interceptors=interceptors)
    handlers = {name: make() for name, make in KINDS.items()}
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(SERVICE, handlers)])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield channel
    finally:
        await server.stop(None)


@pytest.mark.parametrize("method", KINDS)
async def test_every_kind_runs_inside_the_interceptor(method: str) -> None:
    recorder = Recorder()
    async with serving(recorder) as channel:
        responses = await _call(channel, method, b"ping")
    assert responses[-1] == b"ping/recorder", "the handler ran outside around_call"
    assert recorder.seen == [("entered", f"/{SERVICE}/{method}"), ("left", f"/{SERVICE}/{method}")]


@pytest.mark.parametrize("method", KINDS)
async def test_an_interceptor_that_aborts_on_entry_refuses_the_call(method: str) -> None:
    recorder = Recorder(refuse=True)
    async with serving(recorder) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await _call(channel, method, b"ping")
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert recorder.seen == [("entered", f"/{SERVICE}/{method}")], "the handler ran"


@pytest.mark.parametrize("method", KINDS)
async def test_a_failing_handler_fails_inside_the_interceptor(method: str) -> None:
    recorder = Recorder()
    async with serving(recorder) as channel:
        with pytest.raises(grpc.aio.AioRpcError):
            await _call(channel, method, b"fail")
    assert recorder.seen == [("entered", f"/{SERVICE}/{method}"), ("failed", "NotFound")]


@pytest.mark.parametrize("method", KINDS)
async def test_errors_of_every_kind_map_to_their_status(method: str) -> None:
    async with serving(ErrorMappingInterceptor()) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await _call(channel, method, b"fail")
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert err.value.details() == "no such thing"


async def test_an_unknown_method_stays_unimplemented() -> None:
    recorder = Recorder()
    async with serving(recorder) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await channel.unary_unary(
                f"/{SERVICE}/Missing", request_serializer=None, response_deserializer=None
            )(b"ping")
    assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert recorder.seen == []


async def test_health_watch_streams_status_changes_through_error_mapping() -> None:
    """grpc_health's Watch is a coroutine that writes; it used to fail with INTERNAL."""
    server = grpc.aio.server(interceptors=[ErrorMappingInterceptor()])
    health = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    await health.set(SERVICE, health_pb2.HealthCheckResponse.SERVING)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            watch = health_pb2_grpc.HealthStub(channel).Watch(
                health_pb2.HealthCheckRequest(service=SERVICE), timeout=10
            )
            statuses = [(await watch.read()).status]
            await health.set(SERVICE, health_pb2.HealthCheckResponse.NOT_SERVING)
            statuses.append((await watch.read()).status)
            watch.cancel()
    finally:
        await server.stop(None)
    assert statuses == [
        health_pb2.HealthCheckResponse.SERVING,
        health_pb2.HealthCheckResponse.NOT_SERVING,
    ]
