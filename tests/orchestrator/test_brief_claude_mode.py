"""Brief with the Claude agent, chosen because ANTHROPIC_API_KEY is set: the real SDK against the
Messages API stand-in, the real tool path, Retriever, Embedder and PostgreSQL.

The scripted model searches twice in its first turn, then submits a briefing citing what the
searches returned plus an id no search returned ("S99"), which the orchestrator must flag.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import grpc
import pytest
from briefing.v1 import orchestrator_pb2, orchestrator_pb2_grpc

from services.launcher import start_service
from tests.orchestrator.brief_support import RICH_ID
from tests.orchestrator.conftest import BASE_ENV, BriefingStack
from tests.support.anthropic_standin import (
    JSON,
    MessagesStandIn,
    Reply,
    cited_ids,
    message,
    search,
    submit,
    turn_of,
)

if TYPE_CHECKING:
    from briefing.v1.orchestrator_pb2_grpc import OrchestratorAsyncStub

pb = orchestrator_pb2
BOGUS_ID = "S99"
QUERIES = ("metformin dose when eGFR is 30 to 44", "apixaban dose reduction criteria")


def _conversation(body: JSON) -> Reply:
    turn = turn_of(body)
    forced = body.get("tool_choice", {}).get("type") == "tool"
    if turn == 1 and not forced:
        return message(*(search(q) for q in QUERIES))
    ids = cited_ids(body)
    return message(
        submit(
            summary="Scripted briefing.",
            alerts=[{"severity": "critical", "message": "Check kidney dosing.", "source_ids": []}],
            recommendations=[
                {"text": "Halve metformin.", "rationale": "eGFR 34.", "source_ids": ids[:1]},
                {
                    "text": "Review apixaban.",
                    "rationale": "Age and weight.",
                    "source_ids": [*ids[1:2], BOGUS_ID],
                },
            ],
        )
    )


@pytest.fixture(scope="module")
async def claude_orchestrator(
    briefing_stack: BriefingStack,
) -> AsyncIterator[tuple[OrchestratorAsyncStub, MessagesStandIn]]:
    async with contextlib.AsyncExitStack() as stack:
        standin = await stack.enter_async_context(MessagesStandIn(_conversation))
        process = await start_service(
            "orchestrator",
            {
                **BASE_ENV,
                "ANTHROPIC_API_KEY": standin.api_key,
                "ANTHROPIC_BASE_URL": standin.base_url,
                "RETRIEVER_ADDR": briefing_stack.retriever,
                # The session's embedded PostgreSQL, already seeded: this process joins it.
                "PG_DATA_DIR": briefing_stack.env["PG_DATA_DIR"],
            },
        )
        stack.push_async_callback(process.stop)
        channel = await stack.enter_async_context(grpc.aio.insecure_channel(process.address))
        yield orchestrator_pb2_grpc.OrchestratorStub(channel), standin


async def test_the_claude_agent_is_the_default_with_a_key_and_its_citations_are_checked(
    claude_orchestrator: tuple[OrchestratorAsyncStub, MessagesStandIn],
) -> None:
    stub, standin = claude_orchestrator
    before = len(standin.requests)
    response = await stub.Brief(pb.BriefRequest(patient_id=RICH_ID), timeout=60)
    briefing = response.briefing

    assert briefing.mode == pb.AGENT_MODE_CLAUDE
    assert briefing.model
    assert briefing.turns_used == 2
    assert [t.turn for t in briefing.turn_usage] == [1, 2]
    assert briefing.usage.output_tokens > 0
    assert briefing.guidelines_available
    assert len(standin.requests) - before == 2

    # The first turn's two searches ran through the orchestrator's tool path, side by side.
    calls = [t for t in briefing.timings if t.stage == "tool_call"]
    assert [t.turn for t in calls] == [1, 1]
    assert max(t.start_ms for t in calls) < min(t.start_ms + t.duration_ms for t in calls)
    assert [t.turn for t in briefing.timings if t.stage == "agent_turn"] == [1, 2]
    second_request = standin.requests[before + 1].body
    handed_out = cited_ids(second_request)
    assert handed_out and handed_out[0] == "S1"

    # Citations: the bogus id is flagged, never listed as a source.
    first, second = briefing.recommendations
    assert list(first.source_ids) == handed_out[:1] and not first.invalid_source_ids
    assert list(second.source_ids) == handed_out[1:2]
    assert list(second.invalid_source_ids) == [BOGUS_ID]
    assert any(BOGUS_ID in warning for warning in briefing.warnings)
    assert [s.source_id for s in briefing.sources] == handed_out[:2]
    assert briefing.alerts[0].severity == pb.ALERT_SEVERITY_CRITICAL


async def test_the_caller_may_still_ask_for_the_offline_agent(
    claude_orchestrator: tuple[OrchestratorAsyncStub, MessagesStandIn],
) -> None:
    stub, standin = claude_orchestrator
    before = len(standin.requests)
    options = pb.BriefOptions(mode=pb.AGENT_MODE_OFFLINE)
    response = await stub.Brief(pb.BriefRequest(patient_id=RICH_ID, options=options), timeout=60)
    assert response.briefing.mode == pb.AGENT_MODE_OFFLINE
    assert response.briefing.model == ""
    assert len(standin.requests) == before
