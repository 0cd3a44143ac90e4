"""How a call ended, as the name of its gRPC status: for the audit trail and the RPC metrics."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc

from services.common.errors import ServiceError

Context = grpc.aio.ServicerContext[Any, Any]


def outcome_of(error: BaseException, context: Context) -> str:
    """The gRPC status name a call failing with ``error`` ends with."""
    if isinstance(error, ServiceError):
        return error.code.name
    if isinstance(error, asyncio.CancelledError | GeneratorExit):
        remaining = context.time_remaining()
        return "DEADLINE_EXCEEDED" if remaining is not None and remaining <= 0 else "CANCELLED"
    if isinstance(error, grpc.aio.AbortError):
        code = context.code()
        return code.name if isinstance(code, grpc.StatusCode) else "UNKNOWN"
    return grpc.StatusCode.INTERNAL.name
