"""The Claude agent inside the real orchestrator process, the SDK pointed at the stand-in API.

An orchestrator configured with ANTHROPIC_API_KEY and ANTHROPIC_BASE_URL runs as a subprocess
next to the session's stack (same Retriever, same patient database); the stand-in Messages API
runs in the test's own loop and scripts the model's turns.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest
from briefing.v1 import orchestrator_pb2 as pb
from briefing.v1 import orchestrator_pb2_grpc

from services.launcher import ServiceProcess, start_service
from services.orchestrator.config import DEFAULT_MODEL
from tests.orchestrator.brief_support import RICH, RICH_ID, patient_values
from tests.orchestrator.conftest import BriefingStack
from tests.support.anthropic_standin import (
    MODEL,
    MessagesStandIn,
    Reply,
    error,
    message,
    search,
    submit,
    text,
)
from tests.support.otlp_receiver import ReceivedSpan

API_KEY = "stack-test-key"
QUERIES = ("metformin dose at reduced kidney function", "apixaban dose with low eGFR")
CLAUDE = pb.BriefOptions(mode=pb.AGENT_MODE_CLAUDE)
SDK_SPAN = "anthropic.messages.create"


@dataclass
class ClaudeOrchestrator:
    process: ServiceProcess
    standin: MessagesStandIn
    stub: orchestrator_pb2_grpc.OrchestratorAsyncStub


@pytest.fixture(scope="module")
async def claude_orchestrator(
    briefing_stack: BriefingStack,
) -> AsyncIterator[ClaudeOrchestrator]:
    async with MessagesStandIn(api_key=API_KEY) as standin:
        env = {
            **briefing_stack.env,
            "RETRIEVER_ADDR": briefing_stack.retriever,
            "ANTHROPIC_API_KEY": API_KEY,
            "ANTHROPIC_BASE_URL": standin.base_url,
            "CLAUDE_MAX_RETRIES": "1",
        }
        process = await start_service("orchestrator", env)
        try:
            async with grpc.aio.insecure_channel(process.address) as channel:
                stub = orchestrator_pb2_grpc.OrchestratorStub(channel)
                yield ClaudeOrchestrator(process, standin, stub)
        finally:
            await process.stop()


async def test_a_claude_briefing_through_the_orchestrator(
    claude_orchestrator: ClaudeOrchestrator,
) -> None:
    standin, first = claude_orchestrator.standin, len(claude_orchestrator.standin.requests)
    standin.script(
        message(
            search(QUERIES[0], max_results=2, tool_use_id="toolu_one"),
            search(QUERIES[1], max_results=2, tool_use_id="toolu_two"),
        ),
        message(
            submit(
                summary="Scripted summary.",
                alerts=[{"severity": "critical", "message": "Dose check.", "source_ids": ["S2"]}],
                recommendations=[
                    {"text": "Adjust the dose.", "rationale": "eGFR.", "source_ids": ["S1", "S99"]}
                ],
            )
        ),
    )
    request = pb.BriefStreamRequest(patient_id=RICH_ID, options=CLAUDE)
    messages = [m async for m in claude_orchestrator.stub.BriefStream(request, timeout=60)]

    events = [m.progress for m in messages[:-1]]
    kinds = [e.type for e in events]
    started = [e.tool_call_id for e in events if e.type == pb.PROGRESS_EVENT_TYPE_TOOL_CALL_STARTED]
    assert started == ["toolu_one", "toolu_two"]
    # Both searches of the turn began before either finished: they ran concurrently.
    assert kinds.index(pb.PROGRESS_EVENT_TYPE_TOOL_CALL_FINISHED) == 2 + len(started)
    assert [e.turn for e in events if e.type == pb.PROGRESS_EVENT_TYPE_TURN_STARTED] == [1, 2]

    briefing = messages[-1].briefing
    assert briefing.mode == pb.AGENT_MODE_CLAUDE
    assert briefing.model == MODEL
    assert briefing.summary == "Scripted summary."
    assert briefing.turns_used == 2
    assert [(t.turn, t.stop_reason) for t in briefing.turn_usage] == [
        (1, "tool_use"),
        (2, "tool_use"),
    ]
    assert briefing.turn_usage[1].usage.cache_read_input_tokens > 0
    assert briefing.usage.output_tokens == sum(t.usage.output_tokens for t in briefing.turn_usage)
    rec = briefing.recommendations[0]
    assert list(rec.source_ids) == ["S1"]
    assert list(rec.invalid_source_ids) == ["S99"]
    assert any("S99" in w for w in briefing.warnings)
    assert list(briefing.alerts[0].source_ids) == ["S2"]
    assert {s.source_id for s in briefing.sources} == {"S1", "S2"}

    second = standin.requests[first + 1]
    results = second.body["messages"][-1]["content"]
    assert [r["tool_use_id"] for r in results] == ["toolu_one", "toolu_two"]
    assert '<source id="S1"' in results[0]["content"]
    assert second.headers["Authorization"] == f"Bearer {API_KEY}"
    sent = json.dumps(standin.requests[first].body)
    for value in (RICH.given_name, RICH.family_name, RICH_ID):
        assert value not in sent
    assert standin.pending == 0


async def test_orchestrator_logs_carry_no_patient_data_with_claude(
    claude_orchestrator: ClaudeOrchestrator,
) -> None:
    claude_orchestrator.standin.script(
        message(search(QUERIES[0])), message(submit(summary="Logged?"))
    )
    await claude_orchestrator.stub.Brief(
        pb.BriefRequest(patient_id=RICH_ID, options=CLAUDE), timeout=60
    )
    logs = "\n".join(claude_orchestrator.process.log_lines)
    assert '"event": "briefing_done"' in logs
    for value in [*patient_values(RICH), RICH_ID, *QUERIES, "Logged?"]:
        assert value not in logs, "a patient value reached a log"


@pytest.mark.parametrize(
    ("replies", "code", "detail"),
    [
        (
            [error(529, "overloaded_error", "Overloaded")] * 2,
            grpc.StatusCode.UNAVAILABLE,
            "529",
        ),
        (
            [error(429, "rate_limit_error", "Slow down")] * 2,
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "429",
        ),
        (
            [message(text("No."), stop_reason="refusal")],
            grpc.StatusCode.FAILED_PRECONDITION,
            "declined",
        ),
    ],
)
async def test_api_failures_become_clear_statuses(
    claude_orchestrator: ClaudeOrchestrator,
    replies: list[Reply],
    code: grpc.StatusCode,
    detail: str,
) -> None:
    standin = claude_orchestrator.standin
    before = standin.request_count
    standin.script(*replies)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await claude_orchestrator.stub.Brief(
            pb.BriefRequest(patient_id=RICH_ID, options=CLAUDE), timeout=60
        )
    assert caught.value.code() == code
    details = caught.value.details() or ""
    assert detail in details
    assert RICH.family_name not in details
    assert standin.request_count - before == len(replies)  # retried as configured
    assert standin.pending == 0


async def test_claude_spans_carry_metadata_only(
    briefing_stack: BriefingStack, claude_orchestrator: ClaudeOrchestrator
) -> None:
    standin = claude_orchestrator.standin
    first = len(standin.requests)
    standin.script(message(search(QUERIES[1])), message(submit(summary="Traced summary.")))
    trace_id, caller_span = secrets.token_hex(16), secrets.token_hex(8)
    await claude_orchestrator.stub.Brief(
        pb.BriefRequest(patient_id=RICH_ID, options=CLAUDE),
        timeout=60,
        metadata=(("traceparent", f"00-{trace_id}-{caller_span}-01"),),
    )

    def sdk_spans(spans: list[ReceivedSpan]) -> list[ReceivedSpan]:
        return [s for s in spans if s.trace_id == trace_id and s.name == SDK_SPAN]

    spans = await briefing_stack.receiver.wait_for(
        lambda spans: len(sdk_spans(spans)) == 2, timeout_s=30
    )
    calls = sdk_spans(spans)
    assert len(calls) == 2
    # Each request's span sits under the agent turn that made it.
    by_id = {s.span_id: s for s in spans if s.trace_id == trace_id}
    turns = [by_id.get(s.parent_span_id) for s in sorted(calls, key=lambda s: s.start_ns)]
    assert [(t.name, t.attributes.get("agent.turn")) if t else None for t in turns] == [
        ("agent.turn", 1),
        ("agent.turn", 2),
    ]
    assert all(s.service == "orchestrator" for s in calls)
    assert all(s.attributes.get("gen_ai.request.model") == DEFAULT_MODEL for s in calls)
    assert calls[1].attributes.get("gen_ai.usage.cache_read.input_tokens", 0) > 0
    # The API requests carried this trace onward.
    for request in standin.requests[first:]:
        assert trace_id in request.headers["traceparent"]
    texts = [t for s in spans if s.trace_id == trace_id for t in s.texts()]
    for value in [*patient_values(RICH), RICH_ID, QUERIES[1], "Traced summary."]:
        assert not any(value in text for text in texts), "a patient value reached a span"
