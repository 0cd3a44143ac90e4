"""The offline agent: planned searches in one concurrent turn, then an extractive briefing.

No language model. Alerts come from rules over the record (:mod:`.rules`); recommendations
quote the sentences of retrieved passages that best match the search that found them, each
citing that passage's id. When no search succeeds, the record's findings become uncited
recommendations and the briefing says the guidelines were unavailable.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date

from services.orchestrator.agent.clinical import Facts, fmt, plain_display, read_facts
from services.orchestrator.agent.domain import (
    AgentLimits,
    AgentMode,
    AgentResult,
    GuidelineTools,
    Progress,
    Recommendation,
    SearchCall,
    SearchOutcome,
    Severity,
)
from services.orchestrator.agent.extract import best_sentences
from services.orchestrator.agent.planning import PlannedSearch, plan_searches
from services.orchestrator.agent.rules import Finding, record_findings
from services.orchestrator.agent.sources_xml import SECTION_SEPARATOR
from services.orchestrator.patients.models import PatientRecord

TURN = 1


def recommendations_from(
    plan: Sequence[PlannedSearch], outcomes: Sequence[SearchOutcome]
) -> list[Recommendation]:
    """One quoted recommendation per search: the best-matching sentences among the passages it
    returned that no earlier recommendation quotes (ties go to the closer passage)."""
    quoted: set[str] = set()
    recommendations: list[Recommendation] = []
    for planned, outcome in zip(plan, outcomes, strict=True):
        candidates = [
            (
                best_sentences(
                    source.text,
                    planned.query,
                    heading=SECTION_SEPARATOR.join(source.section_path),
                    terms=planned.terms,
                ),
                source,
            )
            for source in outcome.sources
            if source.source_id not in quoted
        ]
        usable = [(quote, source) for quote, source in candidates if quote.text]
        if not usable:
            continue
        quote, source = max(usable, key=lambda pair: (pair[0].score, pair[1].score))
        quoted.add(source.source_id)
        recommendations.append(
            Recommendation(
                text=quote.text,
                source_ids=(source.source_id,),
                rationale=f"Applies to the {planned.reason}.",
            )
        )
    return recommendations


def record_only_recommendations(findings: Sequence[Finding]) -> list[Recommendation]:
    """Actions from the record's findings, without citations (guidelines unavailable)."""
    return [
        Recommendation(
            text=f.action, source_ids=(), rationale=f"From the record: {f.alert.message}"
        )
        for f in findings
        if f.alert.severity is not Severity.INFO
    ]


def summary(record: PatientRecord, facts: Facts, findings: Sequence[Finding]) -> str:
    who = " ".join(
        part for part in (f"{facts.age}-year-old" if facts.age else "", facts.sex) if part
    )
    problems = [plain_display(c.coding.display) for c in record.active_conditions]
    text = f"{who or 'Patient'} with {len(problems)} active problem(s)"
    text += f" ({', '.join(problems)})" if problems else ""
    text += f" on {len(facts.drugs)} active medication(s)."
    latest = [
        f"{label} {fmt(value, decimals)}{unit}"
        for label, value, decimals, unit in (
            ("eGFR", facts.egfr, 0, " mL/min/1.73m²"),
            ("potassium", facts.potassium, 1, " mmol/L"),
            ("HbA1c", facts.hba1c, 1, "%"),
            ("LDL", facts.ldl_mg_dl, 0, " mg/dL"),
        )
        if value is not None
    ]
    if facts.systolic_bp is not None:
        latest.append(f"BP {fmt(facts.systolic_bp)}/{fmt(facts.diastolic_bp)} mmHg")
    if latest:
        text += " Latest: " + ", ".join(latest) + "."
    counts = {s: sum(f.alert.severity is s for f in findings) for s in Severity}
    text += (
        f" {counts[Severity.CRITICAL]} critical and {counts[Severity.WARNING]} warning alert(s)."
    )
    return text


class OfflineAgent:
    """Writes an extractive briefing from planned searches; needs no model or key."""

    mode = AgentMode.OFFLINE
    model = ""

    def __init__(self, today: Callable[[], date] = date.today) -> None:
        self._today = today

    async def run(
        self,
        record: PatientRecord,
        tools: GuidelineTools,
        progress: Progress,
        limits: AgentLimits,
    ) -> AgentResult:
        facts = read_facts(record, self._today())
        findings = record_findings(record, facts)
        plan = plan_searches(record, facts)
        progress.turn_started(TURN)
        calls = [
            SearchCall(f"t{TURN}-{i}", p.query, limits.max_results_per_search)
            for i, p in enumerate(plan, start=1)
        ]
        outcomes = await tools.search(calls, TURN) if calls else []
        if any(outcome.ok for outcome in outcomes):
            recommendations = recommendations_from(plan, outcomes)
        else:
            recommendations = record_only_recommendations(findings)
        return AgentResult(
            mode=AgentMode.OFFLINE,
            summary=summary(record, facts, findings),
            alerts=[f.alert for f in findings],
            recommendations=recommendations,
            turns_used=TURN,
        )
