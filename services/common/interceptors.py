"""One wrapper for server interceptors, whatever the kind of handler they wrap.

gRPC hands a server interceptor a method handler of one of four kinds (unary or streaming
request, unary or streaming response), and a streaming handler either yields its responses (an
async generator) or writes them with ``context.write()`` and returns (a coroutine, as
grpc_health's ``Watch`` does). :class:`CallInterceptor` deals with all of them once: a subclass
only says what happens around one call, in :meth:`CallInterceptor.around_call`. For example, an
interceptor that verifies a token before the handler runs and leaves the principal in a
``ContextVar`` for it::

    class AuthInterceptor(CallInterceptor):
        @contextlib.asynccontextmanager
        async def around_call(self, method: str, context: Context) -> AsyncIterator[None]:
            principal = await verify(context)  # aborts with UNAUTHENTICATED
            token = PRINCIPAL.set(principal)
            try:
                yield
            finally:
                PRINCIPAL.reset(token)
"""

from __future__ import annotations

import abc
import functools
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import grpc

Context = grpc.aio.ServicerContext[Any, Any]
Behavior = Callable[[Any, Context], Any]
# Makes the async context manager one call runs in, given the call's context.
Around = Callable[[Context], AbstractAsyncContextManager[None]]

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
    def around_call(self, method: str, context: Context) -> AbstractAsyncContextManager[None]:
        """Entered before the handler runs; left after its last response, or when it fails.

        ``method`` is the call's full name (``/package.Service/Method``). Aborting through
        ``context`` on entry refuses the call before the handler sees it.
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
    """A handler of the same kind and codec whose every call runs inside ``around(context)``."""
    attribute, make_handler = _KINDS[(handler.request_streaming, handler.response_streaming)]
    behavior: Behavior = getattr(handler, attribute)
    wrap = _wrap_streaming_response if handler.response_streaming else _wrap_unary_response
    return make_handler(
        wrap(behavior, around),
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


def _wrap_unary_response(behavior: Behavior, around: Around) -> Behavior:
    async def call(request_or_iterator: Any, context: Context) -> Any:
        async with around(context):
            return await behavior(request_or_iterator, context)

    return call


def _wrap_streaming_response(behavior: Behavior, around: Around) -> Behavior:
    async def call(request_or_iterator: Any, context: Context) -> AsyncIterator[Any]:
        async with around(context):
            responses = behavior(request_or_iterator, context)
            if inspect.isawaitable(responses):  # it writes its responses with context.write()
                await responses
                return
            async for response in responses:
                yield response

    return call
