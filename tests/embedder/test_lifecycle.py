"""Admission control, graceful shutdown and start-up validation, each on its own process."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator

import grpc
import pytest
from briefing.v1 import embedder_pb2, embedder_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.common.channels import create_channel
from services.embedder.client import METHOD_POLICIES, SERVICE_NAME
from services.launcher import ServiceProcess, start_service
from tests.embedder.conftest import OFFLINE
from tests.embedder.texts import passage

DOCUMENT = embedder_pb2.INPUT_TYPE_DOCUMENT
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@pytest.fixture
async def channel_factory() -> AsyncIterator[list[grpc.aio.Channel]]:
    channels: list[grpc.aio.Channel] = []
    yield channels
    for channel in channels:
        await channel.close(None)


def _stub(address: str, channels: list[grpc.aio.Channel]) -> embedder_pb2_grpc.EmbedderAsyncStub:
    channel = create_channel(address, SERVICE_NAME, METHOD_POLICIES)
    channels.append(channel)
    return embedder_pb2_grpc.EmbedderStub(channel)


async def _until_model_busy(stub: embedder_pb2_grpc.EmbedderAsyncStub, batches: int) -> None:
    """Returns once the service has started a model batch after the first ``batches``."""
    for _ in range(3000):
        info = await stub.GetModelInfo(embedder_pb2.GetModelInfoRequest())
        if info.model_batches > batches:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the call never reached the model")


async def test_overload_is_refused_at_once(channel_factory: list[grpc.aio.Channel]) -> None:
    service = await start_service(
        "embedder",
        {**OFFLINE, "EMBEDDER_MAX_QUEUED_TEXTS": "4", "EMBEDDER_MAX_BATCH_SIZE": "4"},
    )
    try:
        stub = _stub(service.address, channel_factory)
        requests = [
            embedder_pb2.EmbedRequest(
                texts=[passage(5000 + 4 * i + j, sentences=12) for j in range(4)],
                input_type=DOCUMENT,
                truncate=True,
            )
            for i in range(24)
        ]
        outcomes = await asyncio.gather(
            *(stub.Embed(request) for request in requests), return_exceptions=True
        )
        refused = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
        served = [o for o in outcomes if isinstance(o, embedder_pb2.EmbedResponse)]
        assert len(refused) + len(served) == len(requests), outcomes
        assert served, "no call got through"
        assert refused, "no call was refused with a queue of 4 texts"
        for error in refused:
            assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "overloaded" in str(error.details())
            assert "retry later" in str(error.details())
        # Once the burst has drained the service answers again.
        again = await stub.Embed(requests[0])
        assert len(again.embeddings) == 4
    finally:
        assert await service.stop() == 0


async def test_sigterm_lets_an_in_flight_call_finish(
    channel_factory: list[grpc.aio.Channel],
) -> None:
    # A grace period long enough for the call even on a loaded machine (10 s by default).
    service = await start_service(
        "embedder", {**OFFLINE, "EMBEDDER_MAX_BATCH_SIZE": "16", "SHUTDOWN_GRACE_S": "300"}
    )
    stub = _stub(service.address, channel_factory)
    before = (await stub.GetModelInfo(embedder_pb2.GetModelInfoRequest())).model_batches
    texts = [passage(9000 + i) for i in range(96)]  # six batches of ~200-token passages
    call = asyncio.ensure_future(
        stub.Embed(embedder_pb2.EmbedRequest(texts=texts, input_type=DOCUMENT), timeout=60)
    )
    await _until_model_busy(stub, before)
    assert not call.done()
    service.process.send_signal(signal.SIGTERM)
    response = await call
    assert len(response.embeddings) == len(texts)
    assert await asyncio.wait_for(service.process.wait(), 30) == 0
    assert any('"event": "stopped"' in line for line in service.log_lines)


async def test_a_second_signal_forces_the_exit(channel_factory: list[grpc.aio.Channel]) -> None:
    service = await start_service("embedder", {**OFFLINE, "SHUTDOWN_GRACE_S": "300"})
    try:
        stub = _stub(service.address, channel_factory)
        health = health_pb2_grpc.HealthStub(channel_factory[-1])
        watch = health.Watch(health_pb2.HealthCheckRequest(service=SERVICE_NAME))
        assert (await watch.read()).status == SERVING
        before = (await stub.GetModelInfo(embedder_pb2.GetModelInfoRequest())).model_batches
        texts = [passage(12000 + i) for i in range(256)]  # seconds of model time
        call = asyncio.ensure_future(
            stub.Embed(embedder_pb2.EmbedRequest(texts=texts, input_type=DOCUMENT))
        )
        await _until_model_busy(stub, before)
        service.process.send_signal(signal.SIGTERM)
        assert (await watch.read()).status == NOT_SERVING, "the grace period has not begun"
        assert not call.done()
        service.process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(service.process.wait(), 60) == 128 + signal.SIGTERM
        with pytest.raises(grpc.aio.AioRpcError):
            await call
        assert any('"event": "forced_exit"' in line for line in service.log_lines)
    finally:
        if service.process.returncode is None:
            service.process.kill()
            await service.process.wait()


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("EMBEDDER_MAX_BATCH_SIZE", "0"),
        ("EMBEDDER_BATCH_WAIT_MS", "5000"),
        ("EMBEDDER_BACKEND", "gpu"),
    ],
)
async def test_a_bad_setting_stops_start_up_naming_it(variable: str, value: str) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.embedder",
        env={**os.environ, **OFFLINE, variable: value},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 2
    assert f"{variable}={value!r}" in err.decode()


async def test_vertex_without_a_project_stops_start_up() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.embedder",
        env={**os.environ, "EMBEDDER_BACKEND": "vertex"},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 2
    assert "EMBEDDER_VERTEX_PROJECT" in err.decode()
    assert "required when EMBEDDER_BACKEND=vertex" in err.decode()


async def check_health_exit_code(port: str) -> int:
    """Exit code of the container health check, run as a container would run it."""
    probe = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.embedder",
        "--check-health",
        env={**os.environ, "EMBEDDER_PORT": port},
    )
    return await probe.wait()


async def test_the_health_check_probes_the_port_of_its_own_settings(
    embedder: ServiceProcess,
) -> None:
    assert await check_health_exit_code(embedder.address.rsplit(":", 1)[1]) == 0
    with socket.socket() as unused:  # a port nobody listens on once the socket is closed
        unused.bind(("127.0.0.1", 0))
        free_port = unused.getsockname()[1]
    assert await check_health_exit_code(str(free_port)) == 1
