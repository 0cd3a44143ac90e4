"""Replicas on loopback behind static address lists: two embedders behind the Retriever's
``EMBEDDER_ADDR=ipv4:...``, two orchestrators (one PostgreSQL) behind the caller's target.

Each replica exports its spans to an in-test OTLP receiver under its own
``service.instance.id``; its server spans count the calls it took. A killed replica costs no
call beyond those in flight on it (idempotent calls not even those: they are retried on the
other replica), and a replica restarted on its port takes calls again.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
from briefing.v1 import orchestrator_pb2, orchestrator_pb2_grpc

from services.common.channels import MethodPolicy, create_channel
from services.launcher import ServiceProcess, start_service
from services.retriever.client import RetrieverClient
from services.tracing.receiver import OtlpReceiver
from tests.orchestrator.brief_support import PLAIN_ID, RICH_ID
from tests.orchestrator.conftest import (
    BASE_ENV,
    ingest,
    scratch_dir,
    seed,
    stop_embedded_postgres,
)
from tests.retriever.conftest import free_port

EMBED = "/briefing.v1.Embedder/Embed"
BRIEF = "/briefing.v1.Orchestrator/Brief"
BRIEF_POLICY = {"Brief": MethodPolicy(timeout_s=120.0, idempotent=False)}
SPANS_TIMEOUT_S = 30.0
BACK_IN_TIMEOUT_S = 90.0


@dataclass
class Replicas:
    """Replicas of one service on fixed loopback ports, each with its own instance id."""

    name: str
    env: dict[str, str]
    ports: list[int]
    running: dict[int, ServiceProcess] = field(default_factory=dict)  # by index
    instances: dict[int, str] = field(default_factory=dict)
    restarts: itertools.count[int] = field(default_factory=itertools.count)

    @property
    def target(self) -> str:
        """The static list that balances over every replica."""
        return "ipv4:" + ",".join(f"127.0.0.1:{port}" for port in self.ports)

    async def start(self, index: int) -> str:
        """Starts replica ``index`` on its port under a new instance id; returns the id."""
        instance = f"{self.name}-{index}-{next(self.restarts)}"
        env = {**self.env, "OTEL_RESOURCE_ATTRIBUTES": f"service.instance.id={instance}"}
        self.running[index] = await start_service(self.name, env, self.ports[index])
        self.instances[index] = instance
        return instance

    def kill(self, index: int) -> None:
        self.running[index].process.send_signal(signal.SIGKILL)

    async def stop_all(self) -> None:
        for process in self.running.values():
            await process.stop()


@dataclass
class ScaledStack:
    receiver: OtlpReceiver
    embedders: Replicas
    orchestrators: Replicas
    retriever: ServiceProcess

    def calls(self, method: str, instance: str) -> int:
        """Calls of ``method`` the replica ``instance`` served (its exported server spans)."""
        return sum(s.name == method and s.instance == instance for s in self.receiver.spans)

    async def wait_calls(
        self, method: str, instance: str, timeout_s: float = SPANS_TIMEOUT_S
    ) -> int:
        """Waits (bounded) until ``instance`` served a call of ``method``; returns the count."""
        await self.receiver.wait_for(lambda _: self.calls(method, instance) > 0, timeout_s)
        return self.calls(method, instance)


def _small_guideline(folder: Path) -> Path:
    """A guideline of a few chunks: enough for every search to find something, cheap to embed
    (this module runs two embedders and two orchestrators on the same cores)."""
    path = folder / "scaling-guideline.md"
    path.write_text(
        "# Kidney function and common drugs\n\n"
        "## Potassium\n\nCheck serum potassium and creatinine within one to two weeks of "
        "starting or raising an ACE inhibitor, an ARB or a mineralocorticoid antagonist.\n\n"
        "## Metformin\n\nReduce the metformin dose when eGFR is 30-44 and stop it below 30.\n\n"
        "## Statins\n\nOffer a moderate-intensity statin to adults with chronic kidney disease "
        "not on dialysis.\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture(scope="module")
async def stack() -> AsyncIterator[ScaledStack]:
    with scratch_dir("scaling-") as tmp:
        receiver = await OtlpReceiver.start()
        await seed(tmp / "pg")
        env = {
            **BASE_ENV,
            "PG_DATA_DIR": str(tmp / "pg"),
            "RETRIEVER_QDRANT_PATH": str(tmp / "qdrant"),
            "RETRIEVER_INGEST_CONCURRENCY": "1",
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "100",
        }
        embedders = Replicas("embedder", env, [free_port(), free_port()])
        orchestrators = Replicas("orchestrator", {}, [free_port(), free_port()])
        retriever: ServiceProcess | None = None
        try:
            await asyncio.gather(embedders.start(0), embedders.start(1))
            retriever = await start_service("retriever", {**env, "EMBEDDER_ADDR": embedders.target})
            await ingest(retriever.address, [_small_guideline(tmp)])
            orchestrators.env = {**env, "RETRIEVER_ADDR": retriever.address}
            await orchestrators.start(0)  # one at a time: the first starts the database's pool
            await orchestrators.start(1)
            yield ScaledStack(receiver, embedders, orchestrators, retriever)
        finally:
            await orchestrators.stop_all()
            if retriever is not None:
                await retriever.stop()
            await embedders.stop_all()
            await receiver.stop()
            await stop_embedded_postgres(tmp / "pg")


@pytest.fixture(scope="module")
async def orchestrator(
    stack: ScaledStack,
) -> AsyncIterator[orchestrator_pb2_grpc.OrchestratorAsyncStub]:
    """One channel over both orchestrators, as the gateway holds it."""
    target = stack.orchestrators.target
    async with create_channel(target, "briefing.v1.Orchestrator", BRIEF_POLICY) as channel:
        yield orchestrator_pb2_grpc.OrchestratorStub(channel)


@dataclass
class Load:
    """Calls run by a few workers until told to stop; counts what finished and what failed."""

    succeeded: int = 0
    failed: list[str] = field(default_factory=list)
    in_flight: int = 0

    async def run(
        self, call: Callable[[int], Awaitable[object]], until: asyncio.Event, workers: int = 2
    ) -> None:
        numbers = itertools.count()

        async def worker() -> None:
            while not until.is_set():
                self.in_flight += 1
                try:
                    await call(next(numbers))
                    self.succeeded += 1
                except grpc.aio.AioRpcError as exc:
                    self.failed.append(f"{exc.code().name}: {exc.details()}")
                finally:
                    self.in_flight -= 1

        await asyncio.gather(*(worker() for _ in range(workers)))


async def _until(done: Callable[[], bool], timeout_s: float) -> None:
    """Waits (bounded) until ``done()`` holds: a load's counters have no event to wait on."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if done():
            return
        await asyncio.sleep(0.2)


async def test_both_replicas_take_traffic(
    stack: ScaledStack, orchestrator: orchestrator_pb2_grpc.OrchestratorAsyncStub
) -> None:
    for patient_id in (RICH_ID, PLAIN_ID, RICH_ID, PLAIN_ID):
        await orchestrator.Brief(orchestrator_pb2.BriefRequest(patient_id=patient_id))
    for replicas, method in ((stack.orchestrators, BRIEF), (stack.embedders, EMBED)):
        for instance in replicas.instances.values():
            assert await stack.wait_calls(method, instance) >= 1, (instance, method)


async def test_a_killed_embedder_fails_no_search_and_a_restarted_one_is_used_again(
    stack: ScaledStack,
) -> None:
    embedders = stack.embedders
    async with RetrieverClient(stack.retriever.address) as retriever:

        async def search(n: int) -> object:
            return await retriever.search(f"potassium monitoring after dose change {n}")

        stop = asyncio.Event()
        load = Load()
        running = asyncio.ensure_future(load.run(search, stop, workers=3))
        await _until(lambda: load.succeeded >= 6, 60)
        embedders.kill(0)
        before = load.succeeded
        await _until(lambda: load.succeeded >= before + 12, 60)
        # Back on its port under a new instance id: searches reach it again.
        instance = await embedders.start(0)
        await stack.wait_calls(EMBED, instance, timeout_s=BACK_IN_TIMEOUT_S)
        stop.set()
        await running
    # Embed is idempotent: a call cut on the killed replica was retried on the other one.
    assert load.failed == []
    assert load.succeeded >= before + 12
    assert await stack.wait_calls(EMBED, instance) > 0


async def test_a_killed_orchestrator_fails_only_the_calls_in_flight_on_it(
    stack: ScaledStack, orchestrator: orchestrator_pb2_grpc.OrchestratorAsyncStub
) -> None:
    orchestrators = stack.orchestrators

    async def brief(n: int) -> object:
        patient_id = (RICH_ID, PLAIN_ID)[n % 2]
        return await orchestrator.Brief(orchestrator_pb2.BriefRequest(patient_id=patient_id))

    stop = asyncio.Event()
    load = Load()
    running = asyncio.ensure_future(load.run(brief, stop))
    await _until(lambda: load.succeeded >= 2, 120)
    in_flight_at_kill = load.in_flight
    orchestrators.kill(1)
    await _until(lambda: load.succeeded >= 5, 120)
    failed_while_down = len(load.failed)
    instance = await orchestrators.start(1)
    await stack.wait_calls(BRIEF, instance, timeout_s=BACK_IN_TIMEOUT_S)
    stop.set()
    await running
    # Brief is not idempotent, so a briefing cut on the killed replica fails (at most those in
    # flight when it died); every other one succeeded on the replica left.
    assert failed_while_down <= in_flight_at_kill, load.failed
    assert len(load.failed) == failed_while_down, load.failed
    assert all(failure.startswith("UNAVAILABLE") for failure in load.failed), load.failed
    assert load.succeeded >= 5
    assert await stack.wait_calls(BRIEF, instance) > 0
