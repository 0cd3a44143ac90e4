"""Brief with the Claude agent, as a gRPC caller sees it: concurrency proven at the real
Retriever, token usage per turn, and the statuses of a cut reply, a slow API and a deadline.

The orchestrator and a Retriever run as real processes; the Retriever embeds with a recording
Embedder in this process, which can hold a query until another one arrives. The Messages API
stand-in answers each test's scripted replies in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import pytest
from briefing.v1 import orchestrator_pb2, orchestrator_pb2_grpc

from services.launcher import start_service
from tests.orchestrator.brief_support import RICH_ID
from tests.orchestrator.conftest import BASE_ENV, CORPUS, GUIDELINES, BriefingStack, ingest
from tests.support.anthropic_standin import MessagesStandIn, error, message, search, submit, text
from tests.support.recording_embedder import RecordingEmbedder, serve_recording_embedder

if TYPE_CHECKING:
    from briefing.v1.orchestrator_pb2_grpc import OrchestratorAsyncStub

pb = orchestrator_pb2
CLAUDE_TIMEOUT_S = 1.0


@dataclass
class ClaudeStack:
    stub: OrchestratorAsyncStub
    standin: MessagesStandIn
    embedder: RecordingEmbedder


@pytest.fixture(scope="module")
async def claude_stack(briefing_stack: BriefingStack) -> AsyncIterator[ClaudeStack]:
    async with contextlib.AsyncExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="claude-outcomes-")))
        embedder, embedder_addr = await stack.enter_async_context(serve_recording_embedder())
        retriever = await start_service(
            "retriever",
            {
                **BASE_ENV,
                "EMBEDDER_ADDR": embedder_addr,
                "RETRIEVER_QDRANT_PATH": str(folder / "qdrant"),
            },
        )
        stack.push_async_callback(retriever.stop)
        await ingest(retriever.address, [GUIDELINES / CORPUS[0]])
        standin = await stack.enter_async_context(MessagesStandIn())
        orchestrator = await start_service(
            "orchestrator",
            {
                **BASE_ENV,
                "ANTHROPIC_API_KEY": standin.api_key,
                "ANTHROPIC_BASE_URL": standin.base_url,
                "CLAUDE_MAX_RETRIES": "1",
                "CLAUDE_TIMEOUT_S": str(CLAUDE_TIMEOUT_S),
                "RETRIEVER_ADDR": retriever.address,
                # The session's embedded PostgreSQL, already seeded: this process joins it.
                "PG_DATA_DIR": briefing_stack.env["PG_DATA_DIR"],
            },
        )
        stack.push_async_callback(orchestrator.stop)
        channel = await stack.enter_async_context(grpc.aio.insecure_channel(orchestrator.address))
        yield ClaudeStack(orchestrator_pb2_grpc.OrchestratorStub(channel), standin, embedder)


async def test_a_turns_two_searches_are_at_the_retriever_together(
    claude_stack: ClaudeStack,
) -> None:
    queries = ("apixaban dose at creatinine clearance 25", "metformin dose at eGFR 35")
    # The Embedder answers neither query before it has both: had the orchestrator, or the
    # Retriever, run one search after the other, the first would wait forever and the Brief
    # would fail at its deadline.
    claude_stack.embedder.hold_until(queries)
    claude_stack.standin.script(
        message(
            search(queries[0], tool_use_id="toolu_a"), search(queries[1], tool_use_id="toolu_b")
        ),
        message(submit(summary="Both searched.")),
    )
    response = await claude_stack.stub.Brief(pb.BriefRequest(patient_id=RICH_ID), timeout=20)

    assert response.briefing.summary == "Both searched."
    results = claude_stack.standin.requests[-1].body["messages"][-1]["content"]
    assert [(r["tool_use_id"], r["is_error"]) for r in results] == [
        ("toolu_a", False),
        ("toolu_b", False),
    ]
    assert all("<source " in r["content"] for r in results)


async def test_each_turns_token_usage_reaches_the_caller(claude_stack: ClaudeStack) -> None:
    first = {
        "input_tokens": 1101,
        "output_tokens": 202,
        "cache_creation_input_tokens": 3003,
        "cache_read_input_tokens": 40,
    }
    second = {
        "input_tokens": 505,
        "output_tokens": 606,
        "cache_creation_input_tokens": 7,
        "cache_read_input_tokens": 4400,
    }
    claude_stack.standin.script(
        message(search("statin intolerance"), usage=first), message(submit(), usage=second)
    )
    response = await claude_stack.stub.Brief(pb.BriefRequest(patient_id=RICH_ID), timeout=20)

    def fields(usage: pb.TokenUsage) -> dict[str, int]:
        return {name: getattr(usage, name) for name in first}

    briefing = response.briefing
    assert [(t.turn, t.stop_reason) for t in briefing.turn_usage] == [
        (1, "tool_use"),
        (2, "tool_use"),
    ]
    assert [fields(t.usage) for t in briefing.turn_usage] == [first, second]
    assert fields(briefing.usage) == {name: first[name] + second[name] for name in first}


async def test_a_reply_cut_in_the_last_turn_is_resource_exhausted(
    claude_stack: ClaudeStack,
) -> None:
    claude_stack.standin.script(message(text("The patient"), stop_reason="max_tokens"))
    options = pb.BriefOptions(max_turns=1)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await claude_stack.stub.Brief(
            pb.BriefRequest(patient_id=RICH_ID, options=options), timeout=20
        )
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "CLAUDE_MAX_TOKENS" in (caught.value.details() or "")


async def test_an_api_slower_than_claude_timeout_is_deadline_exceeded(
    claude_stack: ClaudeStack,
) -> None:
    claude_stack.standin.turn_latency_s = CLAUDE_TIMEOUT_S + 1
    claude_stack.standin.script(message(submit()), message(submit()))
    try:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await claude_stack.stub.Brief(pb.BriefRequest(patient_id=RICH_ID), timeout=20)
    finally:
        claude_stack.standin.turn_latency_s = 0.0
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "did not answer in time after 1 retry" in (caught.value.details() or "")


async def test_the_callers_deadline_stops_the_loop_even_between_retries(
    claude_stack: ClaudeStack,
) -> None:
    standin = claude_stack.standin
    # The API asks for a 1.5 s pause before retrying; the caller allows 1 s in all.
    standin.script(error(429, "rate_limit_error", "Slow down", 1500))
    before = standin.request_count
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await claude_stack.stub.Brief(pb.BriefRequest(patient_id=RICH_ID), timeout=1.0)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED

    await asyncio.sleep(1.5)  # past the moment the retry would have gone out
    assert standin.request_count - before == 1  # the orchestrator gave the briefing up
    standin.script(message(submit(summary="Still serving.")))
    response = await claude_stack.stub.Brief(pb.BriefRequest(patient_id=RICH_ID), timeout=20)
    assert response.briefing.summary == "Still serving."
