"""The Claude agent's loop through the real Anthropic SDK, against a loopback stand-in API."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from services.common.errors import (
    DeadlineExceeded,
    FailedPrecondition,
    ResourceExhausted,
    Unavailable,
)
from services.orchestrator.agent.claude import ClaudeAgent
from services.orchestrator.agent.domain import AgentLimits, AgentMode, Severity
from services.orchestrator.agent.tools import RetrieverTools
from services.orchestrator.citations import check_citations
from services.orchestrator.deadline import DEADLINE_MESSAGE, Deadline
from services.orchestrator.progress import RunObserver
from services.orchestrator.timings import Clock, Timings
from tests.orchestrator.claude_support import (
    BIRTH_DATE,
    PATIENT_ID,
    PATIENT_NAME,
    BarrierSearcher,
    FakeTools,
    RecordingProgress,
    make_agent,
    patient,
)
from tests.support.anthropic_standin import (
    MessagesStandIn,
    error,
    message,
    search,
    submit,
    text,
    tool_use,
)

FORCED = {"type": "tool", "name": "submit_briefing"}
EPHEMERAL = {"type": "ephemeral"}


@pytest.fixture
async def standin() -> AsyncIterator[MessagesStandIn]:
    async with MessagesStandIn() as server:
        yield server


@pytest.fixture
async def agent(standin: MessagesStandIn) -> AsyncIterator[ClaudeAgent]:
    claude = make_agent(standin.base_url)
    yield claude
    await claude.aclose()


def _tool_results(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The tool_result blocks of a request's newest message."""
    last = body["messages"][-1]
    assert last["role"] == "user"
    return [block for block in last["content"] if block["type"] == "tool_result"]


def _recommend(*source_ids: str) -> dict[str, Any]:
    return {"text": "Reduce metformin.", "rationale": "eGFR 41.", "source_ids": list(source_ids)}


async def test_two_searches_of_a_turn_run_concurrently_and_answer_in_one_message(
    standin: MessagesStandIn, agent: ClaudeAgent
) -> None:
    standin.script(
        message(
            search("metformin at eGFR 30-45", tool_use_id="toolu_a"),
            search("HbA1c target in CKD", tool_use_id="toolu_b"),
        ),
        message(submit(recommendations=[_recommend("S1", "S3")])),
    )
    # The real tool path over a searcher that answers no search before both have begun.
    searcher = BarrierSearcher(parties=2)
    tools = RetrieverTools(searcher, RunObserver(Timings(Clock())), max_results_cap=2)

    result = await agent.run(patient(), tools, RecordingProgress(), AgentLimits())

    assert searcher.peak_in_flight == 2
    assert searcher.queries == ["metformin at eGFR 30-45", "HbA1c target in CKD"]
    second = standin.requests[1].body
    results = _tool_results(second)
    assert [r["tool_use_id"] for r in results] == ["toolu_a", "toolu_b"]
    assert [r["is_error"] for r in results] == [False, False]
    assert '<source id="S1"' in results[0]["content"]
    assert '<source id="S3"' in results[1]["content"]
    # The assistant turn went back as it was, tool calls included.
    assistant = second["messages"][-2]
    assert [b["id"] for b in assistant["content"] if b["type"] == "tool_use"] == [
        "toolu_a",
        "toolu_b",
    ]
    assert result.recommendations[0].source_ids == ("S1", "S3")
    assert result.mode is AgentMode.CLAUDE


async def test_turn_limit_forces_submit_briefing_on_the_last_turn(
    standin: MessagesStandIn, agent: ClaudeAgent
) -> None:
    standin.script(
        message(search("a")),
        message(search("b"), search("c")),
        message(submit(summary="Done.", recommendations=[_recommend("S1")])),
    )
    tools, progress = FakeTools(), RecordingProgress()

    result = await agent.run(patient(), tools, progress, AgentLimits(max_turns=3))

    choices = [r.body["tool_choice"] for r in standin.requests]
    assert choices == [{"type": "auto"}, {"type": "auto"}, FORCED]
    assert progress.turns == [1, 2, 3]
    assert [turn for turn, _ in tools.batches] == [1, 2]
    assert result.turns_used == 3
    assert [t.stop_reason for t in result.turns] == ["tool_use"] * 3
    assert result.summary == "Done."
    assert "at most 3 turns" in standin.requests[0].body["messages"][0]["content"][0]["text"]


async def test_no_briefing_in_the_last_turn_is_a_clear_failure(
    standin: MessagesStandIn, agent: ClaudeAgent
) -> None:
    standin.script(message(search("a")), message(search("b")))
    with pytest.raises(FailedPrecondition, match="did not submit"):
        await agent.run(patient(), FakeTools(), RecordingProgress(), AgentLimits(max_turns=2))


async def test_invented_citation_is_flagged_and_not_passed_on_as_cited(
    standin: MessagesStandIn, agent: ClaudeAgent
) -> None:
    standin.script(
        message(search("metformin dosing")),
        message(
            submit(
                alerts=[{"severity": "critical", "message": "Stop it.", "source_ids": ["S7"]}],
                recommendations=[_recommend("S2", "S9", "S2")],
            )
        ),
    )
    tools = FakeTools()
    answer = await agent.run(patient(), tools, RecordingProgress(), AgentLimits())
    assert answer.recommendations[0].source_ids == ("S2", "S9", "S2")  # as the model cited
    result = check_citations(answer, tools.handed_out())

    rec = result.recommendations[0]
    assert rec.source_ids == ("S2",)
    assert rec.invalid_source_ids == ("S9",)
    assert result.alerts[0].severity is Severity.CRITICAL
    assert result.alerts[0].source_ids == ()
    assert any("S7" in w and "Alert 1" in w for w in result.warnings)


async def test_malformed_tool_input_gets_a_tool_error_without_a_search(
    standin: MessagesStandIn, agent: ClaudeAgent
) -> None:
    standin.script(
        message(
            tool_use("search_clinical_guidelines", {"max_results": 3}, "toolu_noquery"),
            tool_use("search_clinical_guidelines", {"query": "  "}, "toolu_blank"),
            tool_use("search_clinical_guidelines", {"query": "x", "max_results": 0}, "toolu_zero"),
            tool_use("search_clinical_guidelines", {"query": "x", "max_results": "3"}, "toolu_s"),
            tool_use("search_clinical_guidelines", {"query": "x", "max_results": 11}, "toolu_11"),
            tool_use("look_up_patient", {"id": "x"}, "toolu_unknown"),
            tool_use("search_clinical_guidelines", {"query": "valid", "max_results": 9}, "tu_ok"),
        ),
        message(submit()),
    )
    tools = FakeTools()

    await agent.run(patient(), tools, RecordingProgress(), AgentLimits(max_results_per_search=4))

    assert [(c.call_id, c.query, c.max_results) for c in tools.calls] == [("tu_ok", "valid", 4)]
    results = _tool_results(standin.requests[1].body)
    assert [r["tool_use_id"] for r in results] == [
        "toolu_noquery",
        "toolu_blank",
        "toolu_zero",
        "toolu_s",
        "toolu_11",
        "toolu_unknown",
        "tu_ok",
    ]
    assert [r["is_error"] for r in results] == [True] * 6 + [False]
    assert "'query'" in results[0]["content"]
    assert "'max_results'" in results[2]["content"]


async def test_failed_search_goes_back_as_a_tool_error(
    standin: MessagesStandIn, agent: ClaudeAgent
) -> None:
    standin.script(message(search("down"), search("up")), message(submit()))
    tools = FakeTools(failing_queries=["down"])

    await agent.run(patient(), tools, RecordingProgress(), AgentLimits())

    results = _tool_results(standin.requests[1].body)
    assert [r["is_error"] for r in results] == [True, False]
    assert results[0]["content"].startswith("<error>")
    assert len(tools.batches) == 1  # both searches in one call of the tool path


async def test_invalid_briefing_is_sent_back_then_resubmitted(
    standin: MessagesStandIn, agent: ClaudeAgent
) -> None:
    bad = tool_use("submit_briefing", {"summary": "", "alerts": [{"severity": "urgent"}]}, "tu_b")
    standin.script(message(bad), message(submit(summary="Fixed.")))

    result = await agent.run(patient(), FakeTools(), RecordingProgress(), AgentLimits())

    results = _tool_results(standin.requests[1].body)
    assert results[0]["tool_use_id"] == "tu_b" and results[0]["is_error"] is True
    assert "summary" in results[0]["content"] and "severity" in results[0]["content"]
    assert result.summary == "Fixed."


async def test_invalid_briefing_in_the_last_turn_fails(
    standin: MessagesStandIn, agent: ClaudeAgent
) -> None:
    standin.script(message(tool_use("submit_briefing", {"summary": 3}, "tu_bad")))
    with pytest.raises(FailedPrecondition, match="schema"):
        await agent.run(patient(), FakeTools(), RecordingProgress(), AgentLimits(max_turns=1))


async def test_end_turn_without_briefing_asks_again_with_submit_forced(
    standin: MessagesStandIn, agent: ClaudeAgent
) -> None:
    standin.script(message(text("Here is my briefing in prose.")), message(submit()))

    result = await agent.run(patient(), FakeTools(), RecordingProgress(), AgentLimits())

    second = standin.requests[1].body
    assert second["tool_choice"] == FORCED
    assert second["messages"][-1]["role"] == "user"
    assert "submit_briefing" in second["messages"][-1]["content"][-1]["text"]
    assert [t.stop_reason for t in result.turns] == ["end_turn", "tool_use"]


async def test_pause_turn_continues_with_the_reply_sent_back(
    standin: MessagesStandIn, agent: ClaudeAgent
) -> None:
    standin.script(message(text("Thinking..."), stop_reason="pause_turn"), message(submit()))

    result = await agent.run(patient(), FakeTools(), RecordingProgress(), AgentLimits())

    second = standin.requests[1].body
    assert second["messages"][-1] == {
        "role": "assistant",
        "content": [{"type": "text", "text": "Thinking..."}],
    }
    assert second["tool_choice"] == {"type": "auto"}
    assert result.turns_used == 2


async def test_max_tokens_drops_the_cut_reply_and_asks_for_a_concise_briefing(
    standin: MessagesStandIn, agent: ClaudeAgent
) -> None:
    standin.script(
        message(search("a")),
        message(text("A very long"), stop_reason="max_tokens"),
        message(submit(summary="Short.")),
    )
    result = await agent.run(patient(), FakeTools(), RecordingProgress(), AgentLimits())

    third = standin.requests[2].body
    assert third["tool_choice"] == FORCED
    assert [m["role"] for m in third["messages"]] == ["user", "assistant", "user"]
    assert third["messages"][-1]["content"][0]["type"] == "tool_result"
    assert "concise" in third["messages"][-1]["content"][-1]["text"]
    assert result.summary == "Short."
    assert any("CLAUDE_MAX_TOKENS" in w for w in result.warnings)


async def test_a_cut_forced_submit_is_resource_exhausted_at_once(
    standin: MessagesStandIn, agent: ClaudeAgent
) -> None:
    standin.script(
        message(text("A very long"), stop_reason="max_tokens"),
        message(tool_use("submit_briefing", {"summary": "cut"}), stop_reason="max_tokens"),
    )
    with pytest.raises(ResourceExhausted, match=r"CLAUDE_MAX_TOKENS=\d+ while submitting"):
        await agent.run(patient(), FakeTools(), RecordingProgress(), AgentLimits(max_turns=4))
    assert standin.request_count == 2
    assert standin.requests[1].body["tool_choice"] == FORCED


async def test_max_tokens_in_the_last_turn_is_resource_exhausted(
    standin: MessagesStandIn, agent: ClaudeAgent
) -> None:
    standin.script(message(text("cut"), stop_reason="max_tokens"))
    with pytest.raises(ResourceExhausted, match="CLAUDE_MAX_TOKENS"):
        await agent.run(patient(), FakeTools(), RecordingProgress(), AgentLimits(max_turns=1))


async def test_refusal_is_failed_precondition_without_patient_data(
    standin: MessagesStandIn, agent: ClaudeAgent
) -> None:
    declined = f"I can't help with {PATIENT_NAME[1]}'s metformin."
    standin.script(message(text(declined), stop_reason="refusal"))
    with pytest.raises(FailedPrecondition, match="declined") as caught:
        await agent.run(patient(), FakeTools(), RecordingProgress(), AgentLimits())
    # The model's words may quote the patient; the status message never passes them on.
    assert PATIENT_NAME[1] not in str(caught.value)
    assert "metformin" not in str(caught.value)


async def test_an_exceeded_context_window_is_resource_exhausted(
    standin: MessagesStandIn, agent: ClaudeAgent
) -> None:
    standin.script(message(text("..."), stop_reason="model_context_window_exceeded"))
    with pytest.raises(ResourceExhausted, match="exceeded the model's context"):
        await agent.run(patient(), FakeTools(), RecordingProgress(), AgentLimits())


async def test_a_pause_in_the_last_turn_gives_no_briefing(
    standin: MessagesStandIn, agent: ClaudeAgent
) -> None:
    standin.script(message(search("a")), message(text("thinking"), stop_reason="pause_turn"))
    with pytest.raises(FailedPrecondition, match="no briefing within 2 turns"):
        await agent.run(patient(), FakeTools(), RecordingProgress(), AgentLimits(max_turns=2))
    assert standin.request_count == 2


@pytest.mark.parametrize(
    ("status", "kind", "status_error"),
    [
        (529, "overloaded_error", Unavailable),
        (429, "rate_limit_error", ResourceExhausted),
        (500, "api_error", Unavailable),
        (503, "api_error", Unavailable),
        (408, "request_timeout", Unavailable),
        (409, "conflict", Unavailable),
    ],
)
async def test_retried_answers_then_become_a_status(
    standin: MessagesStandIn,
    agent: ClaudeAgent,
    status: int,
    kind: str,
    status_error: type[Exception],
) -> None:
    standin.script(*(error(status, kind, "try again") for _ in range(3)))
    with pytest.raises(status_error, match=rf"{status} {kind}.*after 2 retries"):
        await agent.run(patient(), FakeTools(), RecordingProgress(), AgentLimits())
    assert standin.request_count == 3


async def test_the_message_counts_only_the_retries_made(
    standin: MessagesStandIn, agent: ClaudeAgent
) -> None:
    once = error(529, "overloaded_error", "Overloaded")
    final = error(529, "overloaded_error", "Overloaded")
    final.headers["x-should-retry"] = "false"  # the API may say a retry will not help
    standin.script(once, final)
    with pytest.raises(Unavailable, match=r"529 overloaded_error.*after 1 retry$"):
        await agent.run(patient(), FakeTools(), RecordingProgress(), AgentLimits())
    assert standin.request_count == 2


async def test_an_unreachable_api_is_unavailable() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    claude = make_agent(f"http://127.0.0.1:{port}", claude_max_retries=1)
    try:
        with pytest.raises(Unavailable, match="unreachable after 1 retry"):
            await claude.run(patient(), FakeTools(), RecordingProgress(), AgentLimits())
    finally:
        await claude.aclose()


async def test_a_retried_overload_recovers(standin: MessagesStandIn, agent: ClaudeAgent) -> None:
    standin.script(error(529, "overloaded_error", "Overloaded"), message(submit(summary="Ok.")))
    result = await agent.run(patient(), FakeTools(), RecordingProgress(), AgentLimits())
    assert result.summary == "Ok."
    assert standin.request_count == 2


@pytest.mark.parametrize(
    ("status", "kind", "hint"),
    [(400, "invalid_request_error", "refused"), (401, "authentication_error", "API_KEY")],
)
async def test_client_errors_are_failed_precondition_at_once(
    standin: MessagesStandIn, agent: ClaudeAgent, status: int, kind: str, hint: str
) -> None:
    standin.script(error(status, kind, f"echo of {PATIENT_NAME[1]}"))
    with pytest.raises(FailedPrecondition, match=hint) as caught:
        await agent.run(patient(), FakeTools(), RecordingProgress(), AgentLimits())
    assert standin.request_count == 1
    assert PATIENT_NAME[1] not in str(caught.value)


async def test_wrong_api_key_is_failed_precondition(standin: MessagesStandIn) -> None:
    claude = make_agent(standin.base_url, anthropic_api_key="another-key")
    try:
        with pytest.raises(FailedPrecondition, match="401"):
            await claude.run(patient(), FakeTools(), RecordingProgress(), AgentLimits())
    finally:
        await claude.aclose()


async def test_slow_api_is_deadline_exceeded() -> None:
    async with MessagesStandIn(turn_latency_s=1.0) as slow:
        slow.script(message(submit()))
        claude = make_agent(slow.base_url, claude_timeout_s=0.2, claude_max_retries=0)
        try:
            with pytest.raises(DeadlineExceeded):
                await claude.run(patient(), FakeTools(), RecordingProgress(), AgentLimits())
        finally:
            await claude.aclose()


async def test_the_callers_deadline_bounds_the_request_timeout() -> None:
    async with MessagesStandIn(turn_latency_s=1.0) as slow:
        slow.script(message(submit()))
        claude = make_agent(slow.base_url, claude_timeout_s=30, claude_max_retries=0)
        limits = AgentLimits(deadline=Deadline.after(0.2))
        started = time.monotonic()
        try:
            with pytest.raises(DeadlineExceeded):
                await claude.run(patient(), FakeTools(), RecordingProgress(), limits)
            assert time.monotonic() - started < 0.9  # the request gave up at the deadline
            with pytest.raises(DeadlineExceeded, match="before agent turn 1"):
                passed = AgentLimits(deadline=Deadline.after(-1))
                await claude.run(patient(), FakeTools(), RecordingProgress(), passed)
        finally:
            await claude.aclose()


async def test_the_callers_deadline_bounds_the_sdks_retry_waits(
    standin: MessagesStandIn, agent: ClaudeAgent
) -> None:
    # The API asks for a 30 s pause before the retry; the caller has half a second. The
    # deadline is enforced around the run, as the servicer does.
    standin.script(*(error(429, "rate_limit_error", "Slow down", 30_000) for _ in range(3)))
    deadline = Deadline.after(0.5)
    limits = AgentLimits(deadline=deadline)

    async def run() -> None:
        async with deadline.enforce():
            await agent.run(patient(), FakeTools(), RecordingProgress(), limits)

    with pytest.raises(DeadlineExceeded, match=DEADLINE_MESSAGE):
        await asyncio.wait_for(run(), timeout=10)
    assert standin.request_count == 1


def _marked_messages(body: dict[str, Any]) -> list[int]:
    """Indexes of the messages that carry a cache breakpoint."""
    return [i for i, m in enumerate(body["messages"]) if "cache_control" in json.dumps(m)]


async def test_cache_breakpoints_are_sent_and_usage_is_recorded_per_turn(
    standin: MessagesStandIn, agent: ClaudeAgent
) -> None:
    usage = {
        "input_tokens": 11,
        "output_tokens": 22,
        "cache_creation_input_tokens": 33,
        "cache_read_input_tokens": 44,
    }
    standin.script(
        message(search("a"), usage=usage),
        message(search("b")),  # usage from the stand-in's imitation of the prompt cache
        message(search("c")),
        message(submit()),
    )
    result = await agent.run(patient(), FakeTools(), RecordingProgress(), AgentLimits(max_turns=4))

    bodies = [r.body for r in standin.requests]
    for body in bodies:
        assert body["system"][-1]["cache_control"] == EPHEMERAL
        assert body["tools"][-1]["cache_control"] == EPHEMERAL
        assert body["tools"][-1]["name"] == "submit_briefing"
        markers = json.dumps(body).count('"cache_control"')
        assert markers <= 4  # the API allows four breakpoints
    # Turns 1 and 2 mark their newest message (the next turn reads it); turn 3 precedes the
    # forced turn, whose changed tool_choice cannot read a message cache, so it only marks what
    # turn 2 wrote; the forced turn marks no message.
    assert [_marked_messages(body) for body in bodies] == [[0], [2], [2], []]
    assert [body["tool_choice"] for body in bodies] == [{"type": "auto"}] * 3 + [FORCED]

    first, second, third, fourth = result.turns
    assert (first.usage.input_tokens, first.usage.output_tokens) == (11, 22)
    assert first.usage.cache_creation_input_tokens == 33
    assert first.usage.cache_read_input_tokens == 44
    assert second.usage.cache_read_input_tokens > 0  # the first turn's prefix came back
    assert second.usage.cache_creation_input_tokens > 0
    assert third.usage.cache_read_input_tokens > second.usage.cache_read_input_tokens
    assert third.usage.cache_creation_input_tokens == 0  # nothing written that none would read
    assert 0 < fourth.usage.cache_read_input_tokens < third.usage.cache_read_input_tokens
    assert fourth.usage.cache_creation_input_tokens == 0
    assert [t.turn for t in result.turns] == [1, 2, 3, 4]


async def test_the_model_gets_the_minimal_record_and_logs_carry_no_patient_data(
    standin: MessagesStandIn, agent: ClaudeAgent, capsys: pytest.CaptureFixture[str]
) -> None:
    standin.script(message(search("metformin at eGFR 41")), message(submit(summary="Brief.")))
    await agent.run(patient(), FakeTools(), RecordingProgress(), AgentLimits())

    opening = standin.requests[0].body["messages"][0]["content"][0]["text"]
    record = json.loads(opening.split("<patient_record>")[1].split("</patient_record>")[0])
    assert record["age_years"] == 68
    assert record["sex"] == "female"
    assert [p["name"] for p in record["active_problems"]] == [
        "Type 2 diabetes mellitus",
        "Chronic kidney disease stage 3b",
    ]
    assert record["active_medications"] == [
        {"name": "Metformin 1000 MG", "dosage": "1000 mg twice daily"}
    ]
    assert record["allergies"][0]["reaction"] == "hives"
    egfr = next(lab for lab in record["labs"] if lab["test"] == "egfr")
    assert egfr["value"].startswith("41") and egfr["date"] == "2026-10-01"
    assert egfr["trend"] == "58 → 52 → 41 since 2025-06-02, falling"
    for secret in (*PATIENT_NAME, BIRTH_DATE.isoformat(), PATIENT_ID):
        assert secret not in json.dumps(standin.requests[0].body)

    logged = capsys.readouterr()
    for secret in (*PATIENT_NAME, "Metformin", "metformin at eGFR", "Brief."):
        assert secret not in logged.out + logged.err
