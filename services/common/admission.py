"""Admission control: at most N calls served at once, the others refused at once.

gRPC's own ``maximum_concurrent_rpcs`` counts every call, health checks and reflection included,
so a busy but healthy server answered its health checks with RESOURCE_EXHAUSTED and an
orchestrator platform would restart it. :class:`AdmissionInterceptor` takes a permit when a call
starts and holds it until the call ends (a stream included), refusing a call at once when none
is free (as text-embeddings-inference's ``try_acquire_permit``); the services it is told to
exempt (health, reflection) are never counted and never refused.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import grpc

from services.common.interceptors import Call, CallInterceptor, Context


class AdmissionInterceptor(CallInterceptor):
    """Serves at most ``limit`` calls at once, except calls of the ``exempt`` services."""

    def __init__(self, limit: int, exempt: Iterable[str]) -> None:
        self._limit = limit
        self._permits = asyncio.BoundedSemaphore(limit)
        self._exempt = tuple(f"/{service}/" for service in exempt)

    async def around_call(self, method: str, context: Context, call: Call) -> Any:
        if method.startswith(self._exempt):
            return await call()
        if self._permits.locked():
            await context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"the server is busy: {self._limit} calls are already in progress, the most it "
                "serves at once; retry later or on another replica",
            )
        # Never waits: a permit is free, and nothing else runs between the check and here.
        await self._permits.acquire()
        try:
            return await call()
        finally:
            self._permits.release()
