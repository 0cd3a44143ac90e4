"""HealthCheck and HealthMonitor on a real grpc.aio health service on loopback.

The dependencies here are probes the test switches; what is checked is what the module
promises: a TTL, a timeout, one probe for concurrent callers, a log line only on a change, and
statuses pushed into the health service so that Check and Watch see every flip.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import grpc
import pytest
from grpc_health.v1 import _async as health_aio
from grpc_health.v1 import health_pb2_grpc
from structlog.testing import capture_logs

from services.common.errors import ErrorMappingInterceptor
from services.common.health import Dependency, HealthCheck, HealthMonitor, ServiceHealth
from tests.health.support import NOT_SERVING, SERVING, check, watching

SERVICE = "test.v1.Thing"
CAPABILITY = "test.v1.Thing/extra"


class Switch:
    """A dependency's state, set by the test; counts the probes."""

    def __init__(self, up: bool = True, delay_s: float = 0.0) -> None:
        self.up = up
        self.delay_s = delay_s
        self.probes = 0

    async def probe(self) -> bool:
        self.probes += 1
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if not self.up:
            raise ConnectionRefusedError("dependency is down")
        return True


@contextlib.asynccontextmanager
async def health_server() -> AsyncIterator[tuple[str, health_aio.HealthServicer]]:
    server = grpc.aio.server(interceptors=[ErrorMappingInterceptor()])
    servicer = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}", servicer
    finally:
        await server.stop(None)


async def test_a_result_is_trusted_for_its_ttl() -> None:
    switch = Switch()
    health = HealthCheck(Dependency("db", switch.probe), ttl_s=0.3, timeout_s=1)
    assert await health.healthy()
    switch.up = False
    assert await health.healthy(), "a fresh result is answered without probing"
    assert switch.probes == 1
    await asyncio.sleep(0.35)
    assert not await health.healthy()
    assert switch.probes == 2


async def test_concurrent_callers_share_one_probe() -> None:
    switch = Switch(delay_s=0.1)
    health = HealthCheck(Dependency("db", switch.probe), ttl_s=10, timeout_s=1)
    results = await asyncio.gather(*(health.healthy() for _ in range(20)))
    assert results == [True] * 20
    assert switch.probes == 1


async def test_a_probe_that_does_not_answer_in_time_is_unhealthy() -> None:
    switch = Switch(delay_s=5)
    health = HealthCheck(Dependency("db", switch.probe), ttl_s=0, timeout_s=0.1)
    with capture_logs() as logs:
        assert not await asyncio.wait_for(health.healthy(), 2)
    assert logs == [
        {
            "event": "dependency_unhealthy",
            "dependency": "db",
            "reason": "no answer within 0.1s",
            "log_level": "warning",
        }
    ]


async def test_a_line_is_logged_only_when_the_result_changes() -> None:
    switch = Switch()
    health = HealthCheck(Dependency("db", switch.probe), ttl_s=0, timeout_s=1)
    with capture_logs() as logs:
        for up in (True, True, False, False, False, True, True):
            switch.up = up
            await health.healthy()
    assert [(line["event"], line.get("reason")) for line in logs] == [
        ("dependency_unhealthy", "ConnectionRefusedError"),  # the type, never the message
        ("dependency_healthy", None),
    ]
    assert switch.probes == 7


async def test_statuses_follow_the_dependencies_and_watch_sees_each_flip() -> None:
    database, peer = Switch(), Switch()
    services = [
        ServiceHealth(SERVICE, [Dependency("database", database.probe)]),
        ServiceHealth(
            CAPABILITY,
            [Dependency("database", database.probe), Dependency("peer", peer.probe)],
        ),
    ]
    async with health_server() as (address, servicer):
        monitor = HealthMonitor(servicer, services, interval_s=0.05, timeout_s=1)
        async with monitor, watching(address, SERVICE, "", CAPABILITY) as watches:
            service, overall, capability = watches
            for watch in watches:
                await watch.until(SERVING)

            peer.up = False  # only the capability needs the peer
            await capability.until(NOT_SERVING)
            assert await check(address, SERVICE) == SERVING
            peer.up = True
            await capability.until(SERVING)

            database.up = False
            for watch in watches:
                await watch.until(NOT_SERVING)
            database.up = True
            for watch in watches:
                await watch.until(SERVING)

        assert service.statuses == [SERVING, NOT_SERVING, SERVING]
        assert overall.statuses == service.statuses  # "" follows the service itself
        assert capability.statuses == [SERVING, NOT_SERVING, SERVING, NOT_SERVING, SERVING]


async def test_the_first_statuses_are_checked_before_the_monitor_returns() -> None:
    down = Switch(up=False)
    async with health_server() as (address, servicer):
        monitor = HealthMonitor(
            servicer,
            [ServiceHealth(SERVICE, [Dependency("database", down.probe)])],
            interval_s=60,
            timeout_s=1,
        )
        async with monitor:
            # The servicer starts with "" SERVING; the first check has already replaced it.
            assert await check(address, "") == NOT_SERVING
            assert await check(address, SERVICE) == NOT_SERVING
            assert monitor.statuses == {SERVICE: NOT_SERVING, "": NOT_SERVING}


async def test_a_service_must_answer_for_its_own_name() -> None:
    with pytest.raises(ValueError, match="its own name"):
        HealthMonitor(health_aio.HealthServicer(), [], interval_s=1, timeout_s=1)
