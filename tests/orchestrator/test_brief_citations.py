"""From an agent's answer to a PatientBriefing: citations checked, sources, warnings, timings."""

from __future__ import annotations

from datetime import UTC, datetime

from briefing.v1 import orchestrator_pb2

from services.orchestrator.agent.domain import (
    AgentMode,
    AgentResult,
    Alert,
    Recommendation,
    RetrievedSource,
    SearchCall,
    SearchOutcome,
    Severity,
    TokenUsage,
    TurnRecord,
)
from services.orchestrator.briefing import GUIDELINES_UNAVAILABLE, NO_SEARCH, build_briefing
from services.orchestrator.timings import Timing
from tests.orchestrator.brief_support import RICH

pb = orchestrator_pb2
NOW = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)


def _source(number: int) -> RetrievedSource:
    return RetrievedSource(
        source_id=f"S{number}",
        chunk_id=f"chunk-{number}",
        text=f"Passage {number}.",
        score=0.5,
        document_id="doc",
        title="Guide",
        section_path=("Guide", f"Part {number}"),
        issuer="KDIGO",
        year=2024,
        url="https://example.org",
    )


SOURCES = {f"S{n}": _source(n) for n in (1, 2, 10)}
OK = SearchOutcome(call=SearchCall("t1-1", "q", 5), sources=tuple(SOURCES.values()))
FAILED = SearchOutcome(call=SearchCall("t1-2", "q", 5), error="search failed (UNAVAILABLE): x")


def _brief(result: AgentResult, outcomes: list[SearchOutcome]) -> pb.PatientBriefing:
    return build_briefing(
        record=RICH,
        result=result,
        sources=SOURCES,
        outcomes=outcomes,
        timings=[],
        generated_at=NOW,
    )


def test_only_returned_ids_are_cited_and_the_sources_are_exactly_the_cited_ones() -> None:
    result = AgentResult(
        mode=AgentMode.CLAUDE,
        summary="s",
        alerts=[
            Alert(Severity.INFO, "later", ("S10",)),
            Alert(Severity.CRITICAL, "first", ("S2", "S77")),
        ],
        recommendations=[
            Recommendation("a", ("S10", "S99", "S10")),
            Recommendation("b", ("S2",), invalid_source_ids=("S42",)),
        ],
        turns=[
            TurnRecord(1, TokenUsage(input_tokens=10, output_tokens=5), "tool_use"),
            TurnRecord(2, TokenUsage(input_tokens=20, cache_read_input_tokens=7), "tool_use"),
        ],
        turns_used=2,
        model="claude-x",
    )
    briefing = _brief(result, [OK, FAILED])

    assert [a.message for a in briefing.alerts] == ["first", "later"]  # most urgent first
    assert list(briefing.alerts[0].source_ids) == ["S2"]
    first, second = briefing.recommendations
    assert (list(first.source_ids), list(first.invalid_source_ids)) == (["S10"], ["S99"])
    assert (list(second.source_ids), list(second.invalid_source_ids)) == (["S2"], ["S42"])
    assert [s.source_id for s in briefing.sources] == ["S2", "S10"]  # numeric order, S1 uncited
    assert briefing.sources[0].source.section_path == ["Guide", "Part 2"]
    assert any("S77" in w for w in briefing.warnings)
    assert any("Recommendation 1" in w and "S99" in w for w in briefing.warnings)
    assert "Guideline search t1-2 failed: search failed (UNAVAILABLE): x" in briefing.warnings
    assert briefing.guidelines_available
    assert (briefing.usage.input_tokens, briefing.usage.cache_read_input_tokens) == (30, 7)
    assert [t.turn for t in briefing.turn_usage] == [1, 2]
    assert briefing.mode == pb.AGENT_MODE_CLAUDE and briefing.model == "claude-x"
    assert briefing.generated_at.ToDatetime(tzinfo=UTC) == NOW


def test_guidelines_unavailable_or_never_searched_are_said_so() -> None:
    result = AgentResult(mode=AgentMode.OFFLINE, summary="s")
    failed = _brief(result, [FAILED])
    assert not failed.guidelines_available and GUIDELINES_UNAVAILABLE in failed.warnings
    none = _brief(result, [])
    assert not none.guidelines_available and list(none.warnings) == [NO_SEARCH]


def test_timings_list_each_tool_call_before_its_parts_and_total_last() -> None:
    timings = [
        Timing("patient_fetch", 0.1, 2.0),
        Timing("tool_call.embed", 3.0, 1.0, 1, "b"),
        Timing("tool_call", 3.0, 5.0, 1, "b"),
        Timing("tool_call.search", 2.5, 0.5, 1, "a"),
        Timing("tool_call", 2.4, 6.0, 1, "a"),
        Timing("agent_turn", 2.3, 9.0, 1),
        Timing("total", 0.0, 12.0),
    ]
    result = AgentResult(mode=AgentMode.OFFLINE, summary="s")
    briefing = build_briefing(
        record=RICH, result=result, sources={}, outcomes=[], timings=timings, generated_at=NOW
    )
    assert [(t.stage, t.tool_call_id) for t in briefing.timings] == [
        ("patient_fetch", ""),
        ("agent_turn", ""),
        ("tool_call", "a"),
        ("tool_call.search", "a"),
        ("tool_call", "b"),
        ("tool_call.embed", "b"),
        ("total", ""),
    ]
