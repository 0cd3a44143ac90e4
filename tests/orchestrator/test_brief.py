"""Orchestrator.Brief and BriefStream end to end: real PostgreSQL, Qdrant, model and processes."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import grpc
import pytest
from briefing.v1 import orchestrator_pb2, retriever_pb2

from tests.orchestrator.brief_support import (
    NAMED,
    NAMED_ID,
    PLAIN,
    PLAIN_ID,
    RICH,
    RICH_ID,
    patient_values,
)
from tests.orchestrator.conftest import BriefingStack

if TYPE_CHECKING:
    from briefing.v1.orchestrator_pb2_grpc import OrchestratorAsyncStub as Stub

pb = orchestrator_pb2


async def _brief(
    stub: Stub, patient_id: str, options: pb.BriefOptions | None = None
) -> pb.PatientBriefing:
    request = pb.BriefRequest(patient_id=patient_id, options=options)
    response = await stub.Brief(request, timeout=60)
    return response.briefing


def _quoted_from(quote: str, passage: str) -> bool:
    """Whether ``quote`` is a sentence of ``passage``, or a list item of it after the lead-in
    ("...:") that introduces its list, which the agent quotes with the item."""
    if quote in passage:
        return True
    return any(
        quote[: colon + 1] in passage and quote[colon + 2 :] in passage
        for colon in (i for i, char in enumerate(quote) if char == ":")
    )


async def test_brief_returns_a_cited_briefing_with_stage_timings(orchestrator_stub: Stub) -> None:
    briefing = await _brief(orchestrator_stub, RICH_ID)

    assert briefing.patient_id == RICH_ID
    assert briefing.mode == pb.AGENT_MODE_OFFLINE
    assert briefing.turns_used == 1
    assert briefing.guidelines_available
    assert briefing.generated_at.seconds > 0
    assert briefing.model == ""
    assert [p.display for p in briefing.active_problems] == [
        c.coding.display for c in RICH.active_conditions
    ]
    assert [m.display for m in briefing.medications] == [
        m.coding.display for m in RICH.active_medications
    ]
    assert briefing.medications[0].dosage == "1000 mg twice daily"
    assert "83-year-old female" in briefing.summary

    # Record-based alerts, most urgent first.
    severities = [a.severity for a in briefing.alerts]
    assert severities == sorted(severities, reverse=True)
    assert severities[0] == pb.ALERT_SEVERITY_CRITICAL
    assert any("Metformin is active with eGFR 34" in a.message for a in briefing.alerts)

    # Every recommendation cites ids the searches returned, or says that no passage backs it;
    # the sources are exactly the cited ones.
    assert briefing.recommendations
    cited = {i for r in briefing.recommendations for i in r.source_ids}
    cited |= {i for a in briefing.alerts for i in a.source_ids}
    listed = [s.source_id for s in briefing.sources]
    assert len(listed) == len(set(listed))
    assert set(listed) == cited
    by_id = {s.source_id: s for s in briefing.sources}
    for rec in briefing.recommendations:
        assert not rec.invalid_source_ids
        assert rec.rationale
        if not rec.source_ids:
            assert rec.rationale.startswith("From the record") and "No retrieved" in rec.rationale
            continue
        passage = " ".join(by_id[i].excerpt for i in rec.source_ids)
        if rec.rationale.startswith("From the record"):
            # A rule's action: its cited passages state every number of it.
            assert set(re.findall(r"\d+(?:\.\d+)?", rec.text.replace(",", ""))) <= set(
                re.findall(r"\d+(?:\.\d+)?", passage.replace(",", ""))
            )
        else:
            # A quote: the text is made of sentences (and list items) of the cited passage.
            lines = [re.sub(r"^\s*(?:[-*+]|\d+[.)])\s+", "", line) for line in passage.splitlines()]
            plain = " ".join(lines).replace("**", "")
            assert _quoted_from(rec.text.split(". ")[-1].rstrip("."), plain), rec.text
    for source in briefing.sources:
        assert source.chunk_id and source.source.document_id and source.source.title
    metformin = [r for r in briefing.recommendations if "metformin" in r.rationale.lower()]
    assert metformin and "metformin" in metformin[0].text.lower()

    # Timings: patient fetch, the turn, each tool call with its embed and search parts, total.
    stages = [t.stage for t in briefing.timings]
    assert stages[0] == "patient_fetch" and stages[-1] == "total"
    assert stages.count("agent_turn") == 1
    calls = [t for t in briefing.timings if t.stage == "tool_call"]
    assert len(calls) >= 10
    for call in calls:
        assert call.turn == 1 and call.tool_call_id
        parts = {
            t.stage: t
            for t in briefing.timings
            if t.tool_call_id == call.tool_call_id and t.stage != "tool_call"
        }
        assert set(parts) == {"tool_call.embed", "tool_call.search"}
        assert parts["tool_call.embed"].duration_ms > 0
    total = briefing.timings[-1]
    assert all(t.start_ms + t.duration_ms <= total.duration_ms + 1 for t in briefing.timings)


async def test_tool_calls_of_one_turn_overlap(orchestrator_stub: Stub) -> None:
    briefing = await _brief(orchestrator_stub, RICH_ID)
    calls = [t for t in briefing.timings if t.stage == "tool_call" and t.turn == 1]
    latest_start = max(t.start_ms for t in calls)
    earliest_end = min(t.start_ms + t.duration_ms for t in calls)
    assert latest_start < earliest_end, "every search of the turn ran at the same time"


async def test_options_bound_the_hits_per_search(orchestrator_stub: Stub) -> None:
    options = pb.BriefOptions(max_results_per_search=1)
    briefing = await _brief(orchestrator_stub, PLAIN_ID, options)
    assert briefing.patient_id == PLAIN_ID
    assert briefing.alerts == []
    assert [p.display for p in briefing.active_problems] == [
        c.coding.display for c in PLAIN.active_conditions
    ]
    # One hit per search, so at most one distinct source per search. (A passage that fits no
    # need of this well-controlled patient is not quoted, so he may have none: count on RICH.)
    calls = [t for t in briefing.timings if t.stage == "tool_call"]
    assert len(briefing.sources) <= len(calls)
    rich = await _brief(orchestrator_stub, RICH_ID, options)
    calls = [t for t in rich.timings if t.stage == "tool_call"]
    assert 0 < len(rich.sources) <= len(calls)


async def test_brief_stream_sends_progress_in_order_then_the_briefing(
    orchestrator_stub: Stub,
) -> None:
    request = pb.BriefStreamRequest(patient_id=RICH_ID)
    messages = [m async for m in orchestrator_stub.BriefStream(request, timeout=60)]

    assert messages[-1].HasField("briefing")
    assert all(m.HasField("progress") for m in messages[:-1])
    briefing = messages[-1].briefing
    events = [m.progress for m in messages[:-1]]
    kinds = [e.type for e in events]
    assert kinds[:2] == [pb.PROGRESS_EVENT_TYPE_PATIENT_LOADED, pb.PROGRESS_EVENT_TYPE_TURN_STARTED]
    assert kinds[-1] == pb.PROGRESS_EVENT_TYPE_BRIEFING_READY
    started = [e for e in events if e.type == pb.PROGRESS_EVENT_TYPE_TOOL_CALL_STARTED]
    finished = [e for e in events if e.type == pb.PROGRESS_EVENT_TYPE_TOOL_CALL_FINISHED]
    assert len(started) == len(finished) > 0
    assert len(started) + len(finished) == len(kinds) - 3
    # The searches of the turn all start before any finishes: they run concurrently.
    assert kinds.index(pb.PROGRESS_EVENT_TYPE_TOOL_CALL_FINISHED) == 2 + len(started)
    assert {e.tool_call_id for e in started} == {e.tool_call_id for e in finished}
    assert all(e.turn == 1 for e in started + finished)
    assert all(e.ok and e.hit_count > 0 for e in finished)
    elapsed = [e.elapsed_ms for e in events]
    assert elapsed == sorted(elapsed)
    timed_calls = {t.tool_call_id for t in briefing.timings if t.stage == "tool_call"}
    assert timed_calls == {e.tool_call_id for e in started}
    # What was searched: the briefing and the events tell the same story, call by call.
    searched = {s.tool_call_id: s for s in briefing.searches}
    assert set(searched) == timed_calls and len(briefing.searches) == len(started)
    for event in started:
        assert event.query == searched[event.tool_call_id].query
    for event in finished:
        search = searched[event.tool_call_id]
        assert (event.query, event.search_mode, event.hit_count, event.ok) == (
            search.query,
            search.mode,
            search.hit_count,
            search.ok,
        )
        assert search.query.strip() and search.turn == 1
        assert search.mode != retriever_pb2.SEARCH_MODE_UNSPECIFIED  # as the Retriever ran it


async def test_search_queries_name_drugs_and_conditions_never_the_patient(
    orchestrator_stub: Stub,
) -> None:
    """Her names are drug words she does not take: a query built from the record's clinical
    parts alone cannot hold them."""
    briefing = await _brief(orchestrator_stub, NAMED_ID)
    queries = [s.query.lower() for s in briefing.searches]
    assert queries and all(s.ok for s in briefing.searches)
    for name in (NAMED.given_name, NAMED.family_name, NAMED_ID):
        assert not any(name.lower() in query for query in queries), name


@pytest.mark.parametrize(
    ("patient_id", "options", "code"),
    [
        ("no-such-patient", pb.BriefOptions(), grpc.StatusCode.NOT_FOUND),
        ("", pb.BriefOptions(), grpc.StatusCode.INVALID_ARGUMENT),
        ("Jane Doe", pb.BriefOptions(), grpc.StatusCode.INVALID_ARGUMENT),
        ("x" * 65, pb.BriefOptions(), grpc.StatusCode.INVALID_ARGUMENT),
        (RICH_ID, pb.BriefOptions(max_turns=5), grpc.StatusCode.INVALID_ARGUMENT),
        (RICH_ID, pb.BriefOptions(max_turns=-1), grpc.StatusCode.INVALID_ARGUMENT),
        (RICH_ID, pb.BriefOptions(max_results_per_search=11), grpc.StatusCode.INVALID_ARGUMENT),
        (RICH_ID, pb.BriefOptions(mode=7), grpc.StatusCode.INVALID_ARGUMENT),  # type: ignore[arg-type]
        (
            RICH_ID,
            pb.BriefOptions(mode=pb.AGENT_MODE_CLAUDE),
            grpc.StatusCode.FAILED_PRECONDITION,
        ),
    ],
)
async def test_errors_have_their_status_and_no_patient_data(
    orchestrator_stub: Stub, patient_id: str, options: pb.BriefOptions, code: grpc.StatusCode
) -> None:
    calls = (
        _brief(orchestrator_stub, patient_id, options),
        _stream(orchestrator_stub, patient_id, options),
    )
    for call in calls:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() == code
        details = caught.value.details() or ""
        assert patient_id not in details or not patient_id
        assert RICH.family_name not in details


async def _stream(stub: Stub, patient_id: str, options: pb.BriefOptions | None = None) -> None:
    request = pb.BriefStreamRequest(patient_id=patient_id, options=options)
    async for _ in stub.BriefStream(request, timeout=60):
        pass


async def test_logs_carry_no_patient_data(
    briefing_stack: BriefingStack, orchestrator_stub: Stub
) -> None:
    await _brief(orchestrator_stub, RICH_ID)
    logs = "\n".join(
        line for process in briefing_stack.services.values() for line in process.log_lines
    )
    assert '"event": "briefing_done"' in logs
    for value in [*patient_values(RICH), *patient_values(PLAIN), RICH_ID, PLAIN_ID]:
        assert value not in logs, "a patient value reached a log"
