"""Domain errors and their gRPC status codes, in one place.

Handlers raise a :class:`ServiceError` subclass; :class:`ErrorMappingInterceptor` turns it into
the matching status with its message. Anything else becomes INTERNAL with an opaque reference
(the details go to the log, never to the caller). Messages must not contain patient data.
"""

from __future__ import annotations

import traceback
import uuid
from typing import Any, ClassVar, NoReturn

import grpc

from services.common.interceptors import Call, CallInterceptor, Context
from services.common.logging import get_logger

log = get_logger(__name__)


class ServiceError(Exception):
    """An error the caller can act on; carries its gRPC status code."""

    code: ClassVar[grpc.StatusCode] = grpc.StatusCode.INTERNAL


class InvalidArgument(ServiceError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(ServiceError):
    code = grpc.StatusCode.NOT_FOUND


class FailedPrecondition(ServiceError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class ResourceExhausted(ServiceError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class Unavailable(ServiceError):
    code = grpc.StatusCode.UNAVAILABLE


class DeadlineExceeded(ServiceError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED


_PASSED_THROUGH = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
}


def from_downstream(dependency: str, target: str, error: grpc.aio.AioRpcError) -> ServiceError:
    """Translates a failed call to another service into this service's own error.

    Statuses the caller can act on keep their code; everything else (UNAVAILABLE, INTERNAL,
    UNKNOWN, ...) means the dependency could not do its part, which is UNAVAILABLE here.
    """
    details = error.details() or error.code().name
    error_cls = _PASSED_THROUGH.get(error.code(), Unavailable)
    return error_cls(f"{dependency} at {target} failed ({error.code().name}): {details}")


async def _abort_with(context: Context, exc: BaseException) -> NoReturn:
    if isinstance(exc, ServiceError):
        await context.abort(exc.code, str(exc))
    reference = uuid.uuid4().hex[:12]
    # The frames say where it failed; the message is left out since it may quote request data.
    frames = traceback.extract_tb(exc.__traceback__)
    where = [f"{frame.filename}:{frame.lineno} in {frame.name}" for frame in frames[-5:]]
    log.error("unhandled_error", reference=reference, error_type=type(exc).__name__, where=where)
    await context.abort(grpc.StatusCode.INTERNAL, f"internal error (reference {reference})")


class ErrorMappingInterceptor(CallInterceptor):
    """Maps exceptions escaping any handler to gRPC statuses (see module docstring)."""

    async def around_call(self, method: str, context: Context, call: Call) -> Any:
        try:
            return await call()
        except (grpc.aio.AbortError, grpc.aio.UsageError):
            raise
        except Exception as exc:
            await _abort_with(context, exc)
