"""One wrapper for server interceptors, whatever the kind of handler they wrap.

A handler is one of four kinds (unary or streaming request and response), and a streaming one
either yields its responses or writes them with ``context.write()`` (as grpc_health's ``Watch``
does). :class:`CallInterceptor` deals with all of that once; a subclass only writes
:meth:`~CallInterceptor.around_call`. An auth interceptor, for example::

    async def around_call(self, method: str, context: Context, call: Call) -> Any:
        token = PRINCIPAL.set(await verify(context))  # aborts with UNAUTHENTICATED
        try:
            return await call()
        finally:
            PRINCIPAL.reset(token)
"""

from __future__ import annotations

import abc
import functools
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

Context = grpc.aio.ServicerContext[Any, Any]
Behavior = Callable[[Any, Context], Any]
# The rest of one call: the handler, up to its last response. Returns a unary call's response.
Call = Callable[[], Awaitable[Any]]

# By (request streaming, response streaming): the handler's attribute holding its behaviour,
# and the factory of handlers of that kind.
_KINDS: dict[tuple[bool, bool], tuple[str, Callable[..., grpc.RpcMethodHandler[Any, Any]]]] = {
    (False, False): ("unary_unary", grpc.unary_unary_rpc_method_handler),
    (True, False): ("stream_unary", grpc.stream_unary_rpc_method_handler),
    (False, True): ("unary_stream", grpc.unary_stream_rpc_method_handler),
    (True, True): ("stream_stream", grpc.stream_stream_rpc_method_handler),
}


def handler_factory(
    handler: grpc.RpcMethodHandler[Any, Any],
) -> tuple[str, Callable[..., grpc.RpcMethodHandler[Any, Any]]]:
    """The attribute of ``handler`` holding its behaviour, and the factory of its kind."""
    return _KINDS[(handler.request_streaming, handler.response_streaming)]


class CallInterceptor(grpc.aio.ServerInterceptor, abc.ABC):  # type: ignore[type-arg]
    """A server interceptor that runs every call, of any kind, through :meth:`around_call`."""

    @abc.abstractmethod
    async def around_call(self, method: str, context: Context, call: Call) -> Any:
        """Runs one call of ``method`` (``/package.Service/Method``) by awaiting ``call()``.

        Returns what ``call()`` returned. Aborting through ``context`` before awaiting it
        refuses the call before the handler sees it; the handler's exceptions come out of it.
        """

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        handler = await continuation(handler_call_details)
        if handler is None:  # no such method: gRPC answers UNIMPLEMENTED
            return handler
        name, make_handler = handler_factory(handler)
        behavior: Behavior = getattr(handler, name)
        method = handler_call_details.method

        async def unary_response(request: Any, context: Context) -> Any:
            return await self.around_call(
                method, context, functools.partial(behavior, request, context)
            )

        async def streaming_response(request: Any, context: Context) -> AsyncIterator[Any]:
            await self.around_call(
                method, context, functools.partial(_write_responses, behavior, request, context)
            )
            # Nothing to yield (the responses went out through context.write()), yet an async
            # generator: OpenTelemetry's interceptor, outside this one, iterates stream handlers.
            return
            yield

        return make_handler(
            streaming_response if handler.response_streaming else unary_response,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


async def _write_responses(behavior: Behavior, request: Any, context: Context) -> None:
    """Runs a streaming handler, writing each response it yields (or letting it write them)."""
    responses = behavior(request, context)
    if inspect.isawaitable(responses):
        await responses
        return
    async for response in responses:
        await context.write(response)
