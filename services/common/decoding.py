"""Undecodable request bytes answered with INVALID_ARGUMENT, on every RPC of a server.

gRPC decodes a request with the method handler's ``request_deserializer`` before any handler or
interceptor behaviour runs. When the bytes are not the declared message, grpc answers UNKNOWN
(INTERNAL on a streaming request) with the decoder's exception class in the message, and logs a
traceback, although the fault is the caller's. :class:`DecodingInterceptor` gives every handler a
deserializer that never raises: it hands on a marker (:class:`Undecodable`) instead, and the
behaviour aborts the call with INVALID_ARGUMENT "request is not a valid <message>" when it meets
one, whether as the single request or as any message of a request stream. The bytes are neither
quoted nor logged (they may hold patient data).
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from services.common.interceptors import Behavior, Context, handler_factory
from services.common.logging import get_logger

log = get_logger(__name__)
Deserializer = Callable[[bytes], Any]


@dataclass(frozen=True, slots=True)
class Undecodable:
    """Stands for request bytes that are not a valid ``message`` (its full protobuf name)."""

    message: str


def message_name(deserializer: Deserializer) -> str:
    """The full name of the message a generated ``FromString`` decodes, else a generic word."""
    descriptor = getattr(getattr(deserializer, "__self__", None), "DESCRIPTOR", None)
    return str(getattr(descriptor, "full_name", "request message"))


def safe_deserializer(deserializer: Deserializer) -> Deserializer:
    """``deserializer`` returning an :class:`Undecodable` instead of raising DecodeError (the
    one error bytes from a caller can cause; any other is a fault here and stays one)."""
    name = message_name(deserializer)

    def decode(data: bytes) -> Any:
        try:
            return deserializer(data)
        except DecodeError:
            return Undecodable(name)

    return decode


async def _refuse(method: str, context: Context, request: Undecodable) -> None:
    log.info("request_undecodable", method=method, message=request.message)
    await context.abort(
        grpc.StatusCode.INVALID_ARGUMENT,
        f"request is not a valid {request.message}: send the message the method declares, "
        "encoded as protobuf",
    )


async def _checked_stream(
    method: str, context: Context, requests: AsyncIterator[Any]
) -> AsyncIterator[Any]:
    async for request in requests:
        if isinstance(request, Undecodable):
            await _refuse(method, context, request)
        yield request


class DecodingInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Refuses undecodable requests with INVALID_ARGUMENT (see the module docstring).

    Place it last (innermost): the deserializer it installs is handed on by the interceptors
    outside it, and its check runs after theirs (authentication, admission) have let the call in.
    """

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        handler = await continuation(handler_call_details)
        if handler is None or handler.request_deserializer is None:
            return handler
        name, make_handler = handler_factory(handler)
        behavior: Behavior = getattr(handler, name)
        method = handler_call_details.method

        async def unary_response(request: Any, context: Context) -> Any:
            if isinstance(request, Undecodable):
                await _refuse(method, context, request)
            return await behavior(request, context)

        async def streaming_response(request: Any, context: Context) -> AsyncIterator[Any]:
            if handler.request_streaming:
                request = _checked_stream(method, context, request)
            elif isinstance(request, Undecodable):
                await _refuse(method, context, request)
            responses = behavior(request, context)
            if inspect.isawaitable(responses):  # it writes with context.write()
                await responses
                return
            async for response in responses:
                yield response

        async def stream_unary(requests: Any, context: Context) -> Any:
            return await behavior(_checked_stream(method, context, requests), context)

        if handler.response_streaming:
            checked: Behavior = streaming_response
        elif handler.request_streaming:
            checked = stream_unary
        else:
            checked = unary_response
        return make_handler(
            checked,
            request_deserializer=safe_deserializer(handler.request_deserializer),
            response_serializer=handler.response_serializer,
        )
