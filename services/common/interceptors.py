"""One wrapper for server interceptors, whatever the kind of handler they wrap.

gRPC hands a server interceptor a method handler of one of four kinds (unary or streaming
request, unary or streaming response), and a streaming handler either yields its responses (an
async generator) or writes them with ``context.write()`` and returns (a coroutine, as
grpc_health's ``Watch`` does). :class:`CallInterceptor` deals with all of them once: a subclass
only says what happens around one call, in :meth:`CallInterceptor.around_call`. For example, an
interceptor that verifies a token before the handler runs and leaves the principal in a
``ContextVar`` for it::

    class AuthInterceptor(CallInterceptor):
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
# Runs the rest of one call: the handler, to its last response. Its result is the response of
# a unary call, and None for a streaming one (whose responses have been written by then).
Call = Callable[[], Awaitable[Any]]
# Runs one call given its context: CallInterceptor.around_call with the method filled in.
Around = Callable[[Context, Call], Awaitable[Any]]

# For each kind, by (request streaming, response streaming): the handler's attribute holding
# its behaviour, and the factory that makes a handler of that kind.
_KINDS: dict[tuple[bool, bool], tuple[str, Callable[..., grpc.RpcMethodHandler[Any, Any]]]] = {
    (False, False): ("unary_unary", grpc.unary_unary_rpc_method_handler),
    (True, False): ("stream_unary", grpc.stream_unary_rpc_method_handler),
    (False, True): ("unary_stream", grpc.unary_stream_rpc_method_handler),
    (True, True): ("stream_stream", grpc.stream_stream_rpc_method_handler),
}


class CallInterceptor(grpc.aio.ServerInterceptor, abc.ABC):  # type: ignore[type-arg]
    """A server interceptor that runs every call, of any kind, inside :meth:`around_call`."""

    @abc.abstractmethod
    async def around_call(self, method: str, context: Context, call: Call) -> Any:
        """Runs one call by awaiting ``call()`` and returns what it returned.

        ``method`` is the call's full name (``/package.Service/Method``). Aborting through
        ``context`` before awaiting ``call()`` refuses the call before the handler sees it;
        an exception the handler raises comes out of ``call()``.
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
        return wrap_handler(
            handler, functools.partial(self.around_call, handler_call_details.method)
        )


def wrap_handler(
    handler: grpc.RpcMethodHandler[Any, Any], around: Around
) -> grpc.RpcMethodHandler[Any, Any]:
    """A handler of the same kind and codec whose every call runs through ``around``."""
    attribute, make_handler = _KINDS[(handler.request_streaming, handler.response_streaming)]
    behavior: Behavior = getattr(handler, attribute)
    wrap = _wrap_streaming_response if handler.response_streaming else _wrap_unary_response
    return make_handler(
        wrap(behavior, around),
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


def _wrap_unary_response(behavior: Behavior, around: Around) -> Behavior:
    async def unary_response(request_or_iterator: Any, context: Context) -> Any:
        return await around(context, functools.partial(behavior, request_or_iterator, context))

    return unary_response


def _wrap_streaming_response(behavior: Behavior, around: Around) -> Behavior:
    async def streaming_response(request_or_iterator: Any, context: Context) -> AsyncIterator[Any]:
        await around(context, functools.partial(_respond, behavior, request_or_iterator, context))
        # The responses went out through context.write(). This stays an async generator all the
        # same: OpenTelemetry's server interceptor, outside this one, iterates stream handlers.
        return
        yield

    return streaming_response


async def _respond(behavior: Behavior, request_or_iterator: Any, context: Context) -> None:
    """Runs a streaming handler, writing each response it yields; it may write them itself."""
    responses = behavior(request_or_iterator, context)
    if inspect.isawaitable(responses):
        await responses
        return
    async for response in responses:
        await context.write(response)
