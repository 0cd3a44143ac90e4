"""Brief when things go wrong: the caller's deadline, the Retriever gone, the database gone.

A second Orchestrator gets its own PostgreSQL (seeded) and its own Retriever (sharing the
session's Embedder), so that stopping them leaves the session's stack alone. It keeps 5 s of the
caller's deadline back (ORCHESTRATOR_DEADLINE_MARGIN_S), which makes its own DEADLINE_EXCEEDED
deterministic. The tests run in file order: the Retriever is stopped before the briefing that
must do without it, the database last.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp
import grpc
import pytest
from briefing.v1 import orchestrator_pb2, orchestrator_pb2_grpc

from services.launcher import ServiceProcess, start_service
from services.orchestrator.briefing import GUIDELINES_UNAVAILABLE
from services.orchestrator.deadline import DEADLINE_MESSAGE
from tests.orchestrator.brief_support import RICH_ID
from tests.orchestrator.conftest import (
    BASE_ENV,
    BriefingStack,
    scratch_dir,
    seed,
    serve_gateway,
    stop_embedded_postgres,
)

if TYPE_CHECKING:
    from briefing.v1.orchestrator_pb2_grpc import OrchestratorAsyncStub

pb = orchestrator_pb2
MARGIN_S = 5.0


@dataclass
class Degraded:
    orchestrator: ServiceProcess
    retriever: ServiceProcess
    pg_dir: Path
    stub: OrchestratorAsyncStub


@pytest.fixture(scope="module")
async def degraded(briefing_stack: BriefingStack) -> AsyncIterator[Degraded]:
    with scratch_dir("briefing-degraded-") as tmp:
        async with _degraded(briefing_stack, tmp) as state:
            yield state


@contextlib.asynccontextmanager
async def _degraded(briefing_stack: BriefingStack, tmp: Path) -> AsyncIterator[Degraded]:
    await seed(tmp / "pg")
    retriever = await start_service(
        "retriever",
        {
            **BASE_ENV,
            "EMBEDDER_ADDR": briefing_stack.embedder,
            "RETRIEVER_QDRANT_PATH": str(tmp / "qdrant"),
        },
    )
    orchestrator = await start_service(
        "orchestrator",
        {
            **BASE_ENV,
            "RETRIEVER_ADDR": retriever.address,
            "PG_DATA_DIR": str(tmp / "pg"),
            "ORCHESTRATOR_DEADLINE_MARGIN_S": str(MARGIN_S),
        },
    )
    try:
        async with grpc.aio.insecure_channel(orchestrator.address) as channel:
            stub = orchestrator_pb2_grpc.OrchestratorStub(channel)
            yield Degraded(orchestrator, retriever, tmp / "pg", stub)
    finally:
        await orchestrator.stop()
        await retriever.stop()
        await stop_embedded_postgres(tmp / "pg")


async def _status(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    return caught.value


async def _stream(stub: OrchestratorAsyncStub, deadline_s: float) -> list[pb.BriefStreamResponse]:
    request = pb.BriefStreamRequest(patient_id=RICH_ID)
    return [message async for message in stub.BriefStream(request, timeout=deadline_s)]


async def test_the_callers_deadline_bounds_the_briefing(degraded: Degraded) -> None:
    # A deadline shorter than the margin the server keeps back: the server itself answers
    # DEADLINE_EXCEEDED at once. (Not equal to the margin: the deadline travels rounded to the
    # header's unit, which can leave a few milliseconds of budget.)
    deadline_s = MARGIN_S / 2
    request = pb.BriefRequest(patient_id=RICH_ID)
    error = await _status(degraded.stub.Brief(request, timeout=deadline_s))
    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert error.details() == DEADLINE_MESSAGE
    error = await _status(_stream(degraded.stub, deadline_s))
    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert error.details() == DEADLINE_MESSAGE

    async with (
        serve_gateway(degraded.orchestrator.address, brief_timeout_s=deadline_s) as url,
        aiohttp.ClientSession() as http,
    ):
        response = await http.post(f"{url}/api/v1/patients/{RICH_ID}/briefing")
        assert response.status == 504
        body = await response.json()
    assert body == {"error": {"code": "DEADLINE_EXCEEDED", "message": DEADLINE_MESSAGE}}


async def test_failed_searches_become_tool_errors_and_the_briefing_comes_back(
    degraded: Degraded,
) -> None:
    await degraded.retriever.stop()
    messages = await _stream(degraded.stub, 60)
    briefing = messages[-1].briefing
    events = [m.progress for m in messages[:-1]]

    assert briefing.patient_id == RICH_ID
    assert not briefing.guidelines_available
    assert briefing.completeness == pb.BRIEFING_COMPLETENESS_NO_GUIDELINES
    assert GUIDELINES_UNAVAILABLE in briefing.warnings
    failures = [w for w in briefing.warnings if "UNAVAILABLE" in w]
    calls = [t for t in briefing.timings if t.stage == "tool_call"]
    assert len(failures) == len(calls) >= 10
    assert not any(t.stage == "tool_call.embed" for t in briefing.timings)
    finished = [e for e in events if e.type == pb.PROGRESS_EVENT_TYPE_TOOL_CALL_FINISHED]
    assert len(finished) == len(calls) and not any(e.ok for e in finished)
    # The record still speaks: alerts, and recommendations from them without citations.
    assert any(a.severity == pb.ALERT_SEVERITY_CRITICAL for a in briefing.alerts)
    assert briefing.recommendations
    assert all(
        not r.source_ids and r.rationale.startswith("From the record")
        for r in briefing.recommendations
    )
    assert list(briefing.sources) == []

    # Over HTTP: 200, and the header says what the body's completeness says.
    async with (
        serve_gateway(degraded.orchestrator.address) as url,
        aiohttp.ClientSession() as http,
        http.post(f"{url}/api/v1/patients/{RICH_ID}/briefing") as response,
    ):
        assert response.status == 200
        assert response.headers["Briefing-Completeness"] == "no-guidelines"
        body = await response.json()
    assert body["completeness"] == "BRIEFING_COMPLETENESS_NO_GUIDELINES"


async def test_database_down_is_unavailable(degraded: Degraded) -> None:
    request = pb.BriefRequest(patient_id="no-such-patient")
    assert (await _status(degraded.stub.Brief(request, timeout=30))).code() == (
        grpc.StatusCode.NOT_FOUND
    )
    await stop_embedded_postgres(degraded.pg_dir)

    error = await _status(degraded.stub.Brief(pb.BriefRequest(patient_id=RICH_ID), timeout=30))
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert error.details() == "patient database unavailable"
    error = await _status(_stream(degraded.stub, 30))
    assert error.code() == grpc.StatusCode.UNAVAILABLE

    async with (
        serve_gateway(degraded.orchestrator.address) as url,
        aiohttp.ClientSession() as http,
    ):
        response = await http.post(f"{url}/api/v1/patients/{RICH_ID}/briefing")
        assert response.status == 503
        body = await response.json()
    assert body["error"]["code"] == "UNAVAILABLE"
