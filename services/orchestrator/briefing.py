"""Turns an agent's answer, the record and the tool session into a ``PatientBriefing``.

Citations are checked here, for every agent alike: a cited id that no search of this briefing
returned is moved to ``invalid_source_ids`` (and noted in ``warnings``); the briefing's
``sources`` are exactly the sources cited by its alerts and recommendations.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from briefing.v1 import common_pb2, orchestrator_pb2

from services.orchestrator.agent.base import (
    AgentMode,
    AgentResult,
    RetrievedSource,
    SearchOutcome,
    Severity,
    TokenUsage,
)
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
_SEVERITIES = {
    Severity.INFO: orchestrator_pb2.ALERT_SEVERITY_INFO,
    Severity.WARNING: orchestrator_pb2.ALERT_SEVERITY_WARNING,
    Severity.CRITICAL: orchestrator_pb2.ALERT_SEVERITY_CRITICAL,
}


def _split(ids: Iterable[str], known: Mapping[str, RetrievedSource]) -> tuple[list[str], list[str]]:
    """(valid, invalid) ids, each once, in the order cited."""
    valid: list[str] = []
    invalid: list[str] = []
    for source_id in dict.fromkeys(ids):
        (valid if source_id in known else invalid).append(source_id)
    return valid, invalid


def _id_order(source_id: str) -> tuple[int, str]:
    digits = source_id.lstrip("S")
    return (int(digits), "") if digits.isdigit() else (1 << 30, source_id)


def _usage(usage: TokenUsage) -> orchestrator_pb2.TokenUsage:
    return orchestrator_pb2.TokenUsage(
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_creation_input_tokens=usage.cache_creation_input_tokens,
        cache_read_input_tokens=usage.cache_read_input_tokens,
    )


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


def search_warnings(outcomes: Sequence[SearchOutcome]) -> list[str]:
    """One warning per failed search, and one when no search succeeded (or none was made)."""
    if not outcomes:
        return [NO_SEARCH]
    failed = [o for o in outcomes if not o.ok]
    warnings = [f"Guideline search {o.call.call_id} failed: {o.error}" for o in failed]
    if len(failed) == len(outcomes):
        warnings.append(GUIDELINES_UNAVAILABLE)
    return warnings


def build_briefing(
    *,
    record: PatientRecord,
    result: AgentResult,
    sources: Mapping[str, RetrievedSource],
    outcomes: Sequence[SearchOutcome],
    timings: Sequence[Timing],
    generated_at: datetime,
) -> orchestrator_pb2.PatientBriefing:
    """The briefing, with citations checked against ``sources`` (every id searches returned)."""
    warnings = list(result.warnings)
    cited: set[str] = set()

    alerts = []
    for alert in sorted(result.alerts, key=lambda a: -_SEVERITIES[a.severity]):
        valid, invalid = _split(alert.source_ids, sources)
        cited.update(valid)
        if invalid:
            warnings.append(f"An alert cited unknown source ids, dropped: {', '.join(invalid)}")
        alerts.append(
            orchestrator_pb2.Alert(
                severity=_SEVERITIES[alert.severity], message=alert.message, source_ids=valid
            )
        )

    recommendations = []
    for number, rec in enumerate(result.recommendations, start=1):
        valid, invalid = _split([*rec.source_ids, *rec.invalid_source_ids], sources)
        cited.update(valid)
        if invalid:
            warnings.append(
                f"Recommendation {number} cited unknown source ids: {', '.join(invalid)}"
            )
        recommendations.append(
            orchestrator_pb2.Recommendation(
                text=rec.text,
                source_ids=valid,
                invalid_source_ids=invalid,
                rationale=rec.rationale,
            )
        )

    warnings.extend(search_warnings(outcomes))
    total = TokenUsage(
        input_tokens=sum(t.usage.input_tokens for t in result.turns),
        output_tokens=sum(t.usage.output_tokens for t in result.turns),
        cache_creation_input_tokens=sum(t.usage.cache_creation_input_tokens for t in result.turns),
        cache_read_input_tokens=sum(t.usage.cache_read_input_tokens for t in result.turns),
    )
    briefing = orchestrator_pb2.PatientBriefing(
        patient_id=record.patient_id,
        summary=result.summary,
        active_problems=[
            orchestrator_pb2.Problem(
                display=c.coding.display,
                code=c.coding.code,
                code_system=c.coding.system,
                onset_date=c.onset.isoformat() if c.onset else "",
            )
            for c in record.active_conditions
        ],
        medications=[
            orchestrator_pb2.Medication(
                display=m.coding.display, code=m.coding.code, dosage=m.dosage_text, status=m.status
            )
            for m in record.active_medications
        ],
        alerts=alerts,
        recommendations=recommendations,
        sources=[cited_source(sources[i]) for i in sorted(cited, key=_id_order)],
        timings=stage_timings(timings),
        mode=_MODES[result.mode],
        turns_used=result.turns_used,
        usage=_usage(total),
        turn_usage=[
            orchestrator_pb2.TurnUsage(
                turn=t.turn, usage=_usage(t.usage), stop_reason=t.stop_reason
            )
            for t in result.turns
        ],
        guidelines_available=any(o.ok for o in outcomes),
        warnings=warnings,
        model=result.model,
    )
    briefing.generated_at.FromDatetime(generated_at)
    return briefing
