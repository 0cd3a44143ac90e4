"""The RPC metrics interceptor on a real grpc.aio server on loopback: one duration per call by
method and status (an aborted call and a failing handler included), calls in flight while they
run, and back to zero after."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from grpc_health.v1 import _async as health_aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader

from services.common.errors import ErrorMappingInterceptor, NotFound
from services.common.rpc_metrics import RpcMetricsInterceptor

CHECK = "grpc.health.v1.Health/Check"


class SlowHealth(health_aio.HealthServicer):  # type: ignore[misc]
    """Check waits on ``gate`` for the service "slow", fails unexpectedly for "broken", and
    raises NotFound for "missing"."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()

    async def Check(self, request: Any, context: Any) -> Any:
        if request.service == "slow":
            await self.gate.wait()
        if request.service == "broken":
            raise RuntimeError("a message that may quote request data")
        if request.service == "missing":
            raise NotFound("no such service")
        return await super().Check(request, context)


@pytest.fixture
async def served() -> AsyncIterator[tuple[InMemoryMetricReader, SlowHealth, str]]:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    server = grpc.aio.server(
        interceptors=[RpcMetricsInterceptor(provider.get_meter("test")), ErrorMappingInterceptor()]
    )
    health = SlowHealth()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield reader, health, f"127.0.0.1:{port}"
    finally:
        await server.stop(None)
        provider.shutdown()


def points(reader: InMemoryMetricReader, name: str) -> list[Any]:
    data = reader.get_metrics_data()
    if data is None:
        return []
    return [
        point
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == name
        for point in metric.data.data_points
    ]


def durations(reader: InMemoryMetricReader) -> dict[tuple[str, str], int]:
    counts = {}
    for point in points(reader, "rpc.server.call.duration"):
        assert isinstance(point, HistogramDataPoint)
        attributes = dict(point.attributes or {})
        assert attributes["rpc.system.name"] == "grpc"
        method, status = attributes["rpc.method"], attributes["rpc.response.status_code"]
        counts[(str(method), str(status))] = point.count
    return counts


def in_flight(reader: InMemoryMetricReader) -> int:
    return sum(p.value for p in points(reader, "rpc.server.active_calls"))


async def test_each_call_is_timed_by_method_and_status(
    served: tuple[InMemoryMetricReader, SlowHealth, str],
) -> None:
    reader, _, address = served
    async with grpc.aio.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        await stub.Check(health_pb2.HealthCheckRequest())
        await stub.Check(health_pb2.HealthCheckRequest())
        for service, code in (
            ("missing", grpc.StatusCode.NOT_FOUND),
            ("broken", grpc.StatusCode.INTERNAL),
            ("unknown-to-health", grpc.StatusCode.NOT_FOUND),  # grpc_health aborts itself
        ):
            with pytest.raises(grpc.aio.AioRpcError) as failed:
                await stub.Check(health_pb2.HealthCheckRequest(service=service))
            assert failed.value.code() == code
    assert durations(reader) == {(CHECK, "OK"): 2, (CHECK, "NOT_FOUND"): 2, (CHECK, "INTERNAL"): 1}
    assert in_flight(reader) == 0


async def test_calls_in_flight_are_counted_while_they_run(
    served: tuple[InMemoryMetricReader, SlowHealth, str],
) -> None:
    reader, health, address = served
    await health.set("slow", health_pb2.HealthCheckResponse.SERVING)
    async with grpc.aio.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        calls = [
            asyncio.ensure_future(stub.Check(health_pb2.HealthCheckRequest(service="slow")))
            for _ in range(3)
        ]
        for _ in range(200):
            if in_flight(reader) == 3:
                break
            await asyncio.sleep(0.01)
        assert in_flight(reader) == 3
        assert durations(reader) == {}
        health.gate.set()
        await asyncio.gather(*calls)
    assert in_flight(reader) == 0
    assert durations(reader) == {(CHECK, "OK"): 3}


async def test_a_call_the_client_cancels_ends_as_cancelled(
    served: tuple[InMemoryMetricReader, SlowHealth, str],
) -> None:
    reader, health, address = served
    await health.set("slow", health_pb2.HealthCheckResponse.SERVING)
    async with grpc.aio.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        call = stub.Check(health_pb2.HealthCheckRequest(service="slow"))
        for _ in range(200):
            if in_flight(reader) == 1:
                break
            await asyncio.sleep(0.01)
        call.cancel()
        for _ in range(200):
            if in_flight(reader) == 0:
                break
            await asyncio.sleep(0.01)
    assert in_flight(reader) == 0
    assert durations(reader) == {(CHECK, "CANCELLED"): 1}
