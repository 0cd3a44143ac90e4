"""SIGTERM on a real Embedder under a steady stream of calls: health says NOT_SERVING at once
while the server still serves for the drain period, then it stops taking calls, lets those in
flight finish, and exits 0. No call that arrived before the signal is cancelled."""

from __future__ import annotations

import asyncio
import signal
import time
from dataclasses import dataclass, field

import grpc
from briefing.v1 import embedder_pb2, embedder_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.launcher import start_service
from tests.embedder.texts import passage

DRAIN_S = 3.0
CALLERS = 4
QUERY = embedder_pb2.INPUT_TYPE_QUERY


@dataclass
class Traffic:
    """Calls made in a loop until told to stop: when each was sent and how it ended."""

    stub: embedder_pb2_grpc.EmbedderAsyncStub
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    calls: list[tuple[float, str]] = field(default_factory=list)
    warmed_up: asyncio.Event = field(default_factory=asyncio.Event)  # 20 calls succeeded

    async def caller(self, number: int) -> None:
        sent = 0
        while not self.stop.is_set():
            request = embedder_pb2.EmbedRequest(texts=[f"query {number}-{sent}"], input_type=QUERY)
            sent += 1
            sent_at = time.monotonic()
            try:
                await self.stub.Embed(request, timeout=30)
                outcome = "OK"
            except grpc.aio.AioRpcError as exc:
                outcome = exc.code().name
            self.calls.append((sent_at, outcome))
            if sum(done == "OK" for _, done in self.calls) >= 20:
                self.warmed_up.set()
            if outcome != "OK":
                await asyncio.sleep(0.05)  # the server is gone; do not spin


@dataclass
class Poller:
    """A health poller, as a balancer or an orchestrator platform runs one."""

    health: health_pb2_grpc.HealthStub
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    answers: list[tuple[float, str]] = field(default_factory=list)

    async def run(self) -> None:
        while not self.stop.is_set():
            at = time.monotonic()
            try:
                reply = await self.health.Check(health_pb2.HealthCheckRequest(), timeout=2)
                answer = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
            except grpc.aio.AioRpcError as exc:
                answer = exc.code().name
            self.answers.append((at, answer))
            await asyncio.sleep(0.05)


async def long_call(
    stub: embedder_pb2_grpc.EmbedderAsyncStub,
) -> tuple[embedder_pb2.EmbedResponse, float]:
    """Seconds of model time (96 passages on one torch thread), and when it ended."""
    request = embedder_pb2.EmbedRequest(
        texts=[passage(40_000 + i) for i in range(96)],
        input_type=embedder_pb2.INPUT_TYPE_DOCUMENT,
    )
    response = await stub.Embed(request, timeout=150)
    return response, time.monotonic()


async def test_sigterm_drains_then_stops_and_cancels_nothing() -> None:
    service = await start_service(
        "embedder",
        {
            "HF_HUB_OFFLINE": "1",
            "EMBEDDER_TORCH_THREADS": "1",
            "SHUTDOWN_DRAIN_S": str(DRAIN_S),
            "SHUTDOWN_GRACE_S": "150",
        },
    )
    try:
        # A plain channel: no retries, so every outcome is the server's own.
        async with grpc.aio.insecure_channel(service.address) as channel:
            stub = embedder_pb2_grpc.EmbedderStub(channel)
            traffic = Traffic(stub)
            poller = Poller(health_pb2_grpc.HealthStub(channel))
            tasks = [asyncio.ensure_future(traffic.caller(n)) for n in range(CALLERS)]
            tasks.append(asyncio.ensure_future(poller.run()))
            await asyncio.wait_for(traffic.warmed_up.wait(), 60)
            signalled_at = time.monotonic()
            service.process.send_signal(signal.SIGTERM)
            # Sent during the drain and still running when it ends: the grace period's call.
            await asyncio.sleep(DRAIN_S / 3)
            in_flight = asyncio.ensure_future(long_call(stub))
            assert await asyncio.wait_for(service.process.wait(), 180) == 0
            exited_at = time.monotonic()
            traffic.stop.set()
            poller.stop.set()
            await asyncio.gather(*tasks)
            long_response, long_ended_at = await in_flight
    finally:
        if service.process.returncode is None:
            service.process.kill()
            await service.process.wait()

    assert len(long_response.embeddings) == 96
    assert long_ended_at > signalled_at + DRAIN_S, "the long call ended within the drain"
    before = [outcome for sent_at, outcome in traffic.calls if sent_at < signalled_at]
    assert before and set(before) == {"OK"}, "a call sent before SIGTERM did not succeed"
    assert "CANCELLED" not in {outcome for _, outcome in traffic.calls}

    after = [(at, answer) for at, answer in poller.answers if at >= signalled_at]
    first_not_serving = next(at for at, answer in after if answer == "NOT_SERVING")
    assert first_not_serving - signalled_at < DRAIN_S / 2, "health did not turn at once"
    assert all(answer != "SERVING" for at, answer in after if at > first_not_serving)
    # Still serving during the drain: calls sent once health said NOT_SERVING succeeded.
    draining = [
        outcome
        for sent_at, outcome in traffic.calls
        if first_not_serving < sent_at < signalled_at + DRAIN_S * 0.8
    ]
    assert draining and set(draining) == {"OK"}
    assert exited_at - signalled_at >= DRAIN_S
    events = [line for line in service.log_lines if '"event": "draining"' in line]
    assert len(events) == 1 and f'"drain_s": {DRAIN_S}' in events[0]
