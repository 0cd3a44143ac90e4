"""Turns an agent's answer, the record and the tool session into a ``PatientBriefing``.

One step per part: the agent's citations are checked (:mod:`services.orchestrator.citations`),
then the record's problems and medications, the answer (each recommendation with its grounding
flags, :mod:`services.orchestrator.grounding`), the cited sources, the searches' warnings, token
usage and stage timings each become their part of the briefing. The briefing's
``sources`` are exactly the sources cited by its alerts and recommendations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from briefing.v1 import common_pb2, orchestrator_pb2

from services.orchestrator.agent.domain import (
    AgentMode,
    AgentResult,
    Alert,
    Recommendation,
    RetrievedSource,
    SearchOutcome,
    Severity,
    TokenUsage,
    TurnRecord,
)
from services.orchestrator.agent.tools import SearchRecord
from services.orchestrator.citations import check_citations
from services.orchestrator.grounding import Flag, FlagKind, Grounding, GroundingReport
from services.orchestrator.patients.models import PatientRecord
from services.orchestrator.timings import Timing

EXCERPT_CHARS = 1200
GUIDELINES_UNAVAILABLE = (
    "Guidelines were unavailable: no guideline search succeeded, so the briefing rests on the "
    "record alone."
)
NO_SEARCH = "No guideline search was made, so the briefing rests on the record alone."

_MODES = {
    AgentMode.OFFLINE: orchestrator_pb2.AGENT_MODE_OFFLINE,
    AgentMode.CLAUDE: orchestrator_pb2.AGENT_MODE_CLAUDE,
}
_FLAG_KINDS = {
    FlagKind.UNSUPPORTED_NUMBER: orchestrator_pb2.GROUNDING_FLAG_KIND_UNSUPPORTED_NUMBER,
    FlagKind.UNSUPPORTED_DRUG: orchestrator_pb2.GROUNDING_FLAG_KIND_UNSUPPORTED_DRUG,
    FlagKind.WEAK_SUPPORT: orchestrator_pb2.GROUNDING_FLAG_KIND_WEAK_SUPPORT,
}
_SEVERITIES = {
    Severity.INFO: orchestrator_pb2.ALERT_SEVERITY_INFO,
    Severity.WARNING: orchestrator_pb2.ALERT_SEVERITY_WARNING,
    Severity.CRITICAL: orchestrator_pb2.ALERT_SEVERITY_CRITICAL,
}


def problems(record: PatientRecord) -> list[orchestrator_pb2.Problem]:
    return [
        orchestrator_pb2.Problem(
            display=c.coding.display,
            code=c.coding.code,
            code_system=c.coding.system,
            onset_date=c.onset.isoformat() if c.onset else "",
        )
        for c in record.active_conditions
    ]


def medications(record: PatientRecord) -> list[orchestrator_pb2.Medication]:
    return [
        orchestrator_pb2.Medication(
            display=m.coding.display, code=m.coding.code, dosage=m.dosage_text, status=m.status
        )
        for m in record.active_medications
    ]


def alerts(checked: Sequence[Alert]) -> list[orchestrator_pb2.Alert]:
    """Most urgent first (the agent's order within a severity)."""
    return [
        orchestrator_pb2.Alert(
            severity=_SEVERITIES[a.severity], message=a.message, source_ids=a.source_ids
        )
        for a in sorted(checked, key=lambda a: -_SEVERITIES[a.severity])
    ]


def grounding_flag(flag: Flag) -> orchestrator_pb2.GroundingFlag:
    return orchestrator_pb2.GroundingFlag(
        kind=_FLAG_KINDS[flag.kind], unmatched=flag.unmatched, similarity=flag.similarity
    )


def recommendations(
    checked: Sequence[Recommendation], grounding: Sequence[Grounding] | None = None
) -> list[orchestrator_pb2.Recommendation]:
    """Each with its grounding (``grounding`` in the same order; none when not checked)."""
    checks = grounding if grounding is not None else [Grounding()] * len(checked)
    return [
        orchestrator_pb2.Recommendation(
            text=r.text,
            source_ids=r.source_ids,
            invalid_source_ids=r.invalid_source_ids,
            rationale=r.rationale,
            grounding_flags=[grounding_flag(f) for f in g.flags],
            support_similarity=g.similarity,
        )
        for r, g in zip(checked, checks, strict=True)
    ]


def _id_order(source_id: str) -> tuple[int, str]:
    digits = source_id.lstrip("S")
    return (int(digits), "") if digits.isdigit() else (1 << 30, source_id)


def cited_sources(
    checked: AgentResult, sources: Mapping[str, RetrievedSource]
) -> list[orchestrator_pb2.CitedSource]:
    """The sources the checked alerts and recommendations cite, each once, by id."""
    cited = {i for a in checked.alerts for i in a.source_ids}
    cited.update(i for r in checked.recommendations for i in r.source_ids)
    return [cited_source(sources[i]) for i in sorted(cited, key=_id_order)]


def cited_source(source: RetrievedSource) -> orchestrator_pb2.CitedSource:
    return orchestrator_pb2.CitedSource(
        source_id=source.source_id,
        chunk_id=source.chunk_id,
        source=common_pb2.Source(
            document_id=source.document_id,
            title=source.title,
            section_path=list(source.section_path),
            issuer=source.issuer,
            year=source.year,
            url=source.url,
            guideline=source.guideline,
        ),
        excerpt=source.text[:EXCERPT_CHARS],
        score=source.score,
    )


def search_warnings(outcomes: Sequence[SearchOutcome]) -> list[str]:
    """One warning per failed search, and one when no search succeeded (or none was made)."""
    if not outcomes:
        return [NO_SEARCH]
    failed = [o for o in outcomes if not o.ok]
    warnings = [f"Guideline search {o.call.call_id} failed: {o.error}" for o in failed]
    if len(failed) == len(outcomes):
        warnings.append(GUIDELINES_UNAVAILABLE)
    return warnings


def search_messages(made: Sequence[SearchRecord]) -> list[orchestrator_pb2.GuidelineSearch]:
    return [
        orchestrator_pb2.GuidelineSearch(
            turn=s.turn,
            tool_call_id=s.call_id,
            query=s.query,
            mode=s.mode,
            hit_count=s.hit_count,
            ok=s.ok,
        )
        for s in made
    ]


def _usage(usage: TokenUsage) -> orchestrator_pb2.TokenUsage:
    return orchestrator_pb2.TokenUsage(
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_creation_input_tokens=usage.cache_creation_input_tokens,
        cache_read_input_tokens=usage.cache_read_input_tokens,
    )


def total_usage(turns: Sequence[TurnRecord]) -> orchestrator_pb2.TokenUsage:
    return _usage(
        TokenUsage(
            input_tokens=sum(t.usage.input_tokens for t in turns),
            output_tokens=sum(t.usage.output_tokens for t in turns),
            cache_creation_input_tokens=sum(t.usage.cache_creation_input_tokens for t in turns),
            cache_read_input_tokens=sum(t.usage.cache_read_input_tokens for t in turns),
        )
    )


def turn_usage(turns: Sequence[TurnRecord]) -> list[orchestrator_pb2.TurnUsage]:
    return [
        orchestrator_pb2.TurnUsage(turn=t.turn, usage=_usage(t.usage), stop_reason=t.stop_reason)
        for t in turns
    ]


def stage_timings(timings: Sequence[Timing]) -> list[orchestrator_pb2.StageTiming]:
    """Timings by start, each tool call followed by its parts, ``total`` last."""
    call_start = {t.tool_call_id: t.start_ms for t in timings if t.stage == "tool_call"}

    def order(t: Timing) -> tuple[bool, float, str, int, float]:
        group_start = call_start.get(t.tool_call_id, t.start_ms) if t.tool_call_id else t.start_ms
        return (t.stage == "total", group_start, t.tool_call_id, t.stage.count("."), t.start_ms)

    return [
        orchestrator_pb2.StageTiming(
            stage=t.stage,
            turn=t.turn,
            tool_call_id=t.tool_call_id,
            start_ms=round(t.start_ms, 3),
            duration_ms=round(t.duration_ms, 3),
        )
        for t in sorted(timings, key=order)
    ]


def build_briefing(
    *,
    record: PatientRecord,
    result: AgentResult,
    sources: Mapping[str, RetrievedSource],
    outcomes: Sequence[SearchOutcome],
    searches: Sequence[SearchRecord] = (),
    timings: Sequence[Timing],
    generated_at: datetime,
    grounding: GroundingReport | None = None,
) -> orchestrator_pb2.PatientBriefing:
    """The briefing, with citations checked against ``sources`` (every id searches returned)
    and the recommendations' grounding checks (``grounding``, in their order) attached."""
    checked = check_citations(result, sources)
    grounding_warnings = grounding.warnings if grounding is not None else []
    briefing = orchestrator_pb2.PatientBriefing(
        patient_id=record.patient_id,
        summary=checked.summary,
        active_problems=problems(record),
        medications=medications(record),
        alerts=alerts(checked.alerts),
        recommendations=recommendations(
            checked.recommendations, grounding.recommendations if grounding else None
        ),
        sources=cited_sources(checked, sources),
        timings=stage_timings(timings),
        mode=_MODES[checked.mode],
        turns_used=checked.turns_used,
        usage=total_usage(checked.turns),
        turn_usage=turn_usage(checked.turns),
        guidelines_available=any(o.ok for o in outcomes),
        warnings=[*checked.warnings, *search_warnings(outcomes), *grounding_warnings],
        model=checked.model,
        searches=search_messages(searches),
    )
    briefing.generated_at.FromDatetime(generated_at)
    return briefing
