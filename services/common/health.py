"""Health that tells the truth: each name the health service answers for is SERVING only while
the dependencies it cannot serve without answer their checks.

A service declares, for each of its health names, the :class:`Dependency` s it needs (the
orchestrator's service needs PostgreSQL; its full capability also needs the retriever).
:class:`HealthMonitor` wraps each dependency in a :class:`HealthCheck`, in the manner of
grpclib's ``ServiceCheck``: the probe runs with a timeout, its result is trusted for a TTL,
concurrent callers share one probe, and a log line is written only when the result changes. A
background task re-checks every interval and pushes the statuses into grpc's health servicer
(as text-embeddings-inference does), so Check and Watch answer from memory and Watch streams
each change. The overall health (service ``""``) follows the first name, the service itself.

Log lines name the dependency and the exception's type, never its message.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Self

import grpc
from grpc_health.v1 import _async as health_aio  # what grpc_health.v1.health.aio re-exports
from grpc_health.v1 import health_pb2

from services.common.logging import get_logger

log = get_logger(__name__)

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
Status = int  # a HealthCheckResponse.ServingStatus value
# Answers True when the dependency can be used; False or an exception when it cannot.
Probe = Callable[[], Awaitable[bool]]


@dataclass(frozen=True, eq=False)
class Dependency:
    """Something a service cannot serve without, and how to tell whether it can be used."""

    name: str
    probe: Probe


@dataclass(frozen=True)
class ServiceHealth:
    """A name the health service answers for, SERVING while every dependency is healthy: a
    gRPC service, or a capability only health reports (such as briefings with guidelines)."""

    name: str
    dependencies: Sequence[Dependency] = ()


class HealthCheck:
    """One dependency's probe, run at most once per TTL, bounded by a timeout."""

    def __init__(self, dependency: Dependency, *, ttl_s: float, timeout_s: float) -> None:
        self.name = dependency.name
        self._probe = dependency.probe
        self._ttl_s = ttl_s
        self._timeout_s = timeout_s
        self._lock = asyncio.Lock()
        self._checked_at: float | None = None
        self._healthy: bool | None = None

    async def healthy(self) -> bool:
        """The last result while it is fresh (for the TTL after its probe ended); else probes,
        and callers meanwhile wait for that probe's result."""
        if self._fresh():
            return bool(self._healthy)
        async with self._lock:
            if not self._fresh():
                self._record(*await self._run_probe())
                self._checked_at = time.monotonic()
        return bool(self._healthy)

    def _fresh(self) -> bool:
        return self._checked_at is not None and time.monotonic() - self._checked_at < self._ttl_s

    async def _run_probe(self) -> tuple[bool, str]:
        """(healthy, why not): a timeout or an exception counts as unhealthy."""
        try:
            async with asyncio.timeout(self._timeout_s):
                return bool(await self._probe()), "not serving"
        except TimeoutError:
            return False, f"no answer within {self._timeout_s:g}s"
        except grpc.aio.AioRpcError as exc:
            return False, exc.code().name
        except Exception as exc:
            return False, type(exc).__name__

    def _record(self, healthy: bool, reason: str) -> None:
        if healthy == self._healthy:
            return
        if healthy:
            if self._healthy is not None:  # a first success is the normal case, not news
                log.info("dependency_healthy", dependency=self.name)
        else:
            log.warning("dependency_unhealthy", dependency=self.name, reason=reason)
        self._healthy = healthy


class HealthMonitor:
    """Keeps the health servicer's statuses in step with the dependencies' checks.

    ``async with`` checks once (so the statuses are true before the server takes calls), then
    re-checks every ``interval_s`` in a background task until :meth:`stop` or the block's end.
    """

    def __init__(
        self,
        servicer: health_aio.HealthServicer,
        services: Sequence[ServiceHealth],
        *,
        interval_s: float,
        timeout_s: float,
    ) -> None:
        if not services:
            raise ValueError("a service answers health for at least its own name")
        self._servicer = servicer
        self._services = services
        self._interval_s = interval_s
        checks: dict[int, HealthCheck] = {}
        for service in services:
            for dependency in service.dependencies:
                checks.setdefault(
                    id(dependency),
                    HealthCheck(dependency, ttl_s=interval_s, timeout_s=timeout_s),
                )
        self._checks = checks
        self._statuses: dict[str, Status] = {}
        self._task: asyncio.Task[None] | None = None

    @property
    def statuses(self) -> dict[str, Status]:
        """The status last set for each name ("" included)."""
        return dict(self._statuses)

    async def refresh(self) -> None:
        """Runs the checks that are due (concurrently) and sets every name's status."""
        results = dict(
            zip(
                self._checks,
                await asyncio.gather(*(check.healthy() for check in self._checks.values())),
                strict=True,
            )
        )
        for index, service in enumerate(self._services):
            healthy = all(results[id(dependency)] for dependency in service.dependencies)
            status = SERVING if healthy else NOT_SERVING
            names = [service.name, ""] if index == 0 else [service.name]
            for name in names:
                await self._set(name, status)

    async def _set(self, name: str, status: Status) -> None:
        if self._statuses.get(name) == status:
            return
        if name in self._statuses or status != SERVING:
            log.info("health_changed", service=name or "(overall)", status=_name(status))
        self._statuses[name] = status
        await self._servicer.set(name, status)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            await self.refresh()

    async def stop(self) -> None:
        """Stops the background checks (the statuses stay as they are)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def __aenter__(self) -> Self:
        await self.refresh()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="health-monitor")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


def _name(status: Status) -> str:
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(status))
