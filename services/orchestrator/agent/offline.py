"""The offline agent: planned searches in one concurrent turn, then an extractive briefing.

No language model. Rules over the record raise findings (:mod:`.rules`): alerts, each with the
action it calls for, and advice without an alert. Each action is searched for and becomes a
recommendation citing the retrieved passage that backs it (one that names its subject and
states every number of it), or an uncited one that says no passage did. Then each medication,
allergy and problem search adds a quoted recommendation: the sentences of a retrieved passage
that best match it and fit the patient (:mod:`.patient_fit`), citing that passage. When no
search succeeds, the actions become uncited recommendations and the briefing says the
guidelines were unavailable.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date

from services.orchestrator.agent.backing import backing_sources, section_fits
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
from services.orchestrator.agent.metrics import count_turn
from services.orchestrator.agent.patient_fit import PatientFit
from services.orchestrator.agent.planning import PlannedSearch, plan_searches
from services.orchestrator.agent.rules import Finding, record_findings
from services.orchestrator.patients.models import PatientRecord

TURN = 1
UNBACKED = "No retrieved guideline passage states this; check it against the guidelines."


def _rationale(finding: Finding) -> str:
    return f"From the record: {finding.message}"


def action_recommendations(
    findings: Sequence[Finding],
    outcomes: Mapping[str, SearchOutcome],
    values: Mapping[str, float],
    fits: PatientFit,
) -> list[Recommendation]:
    """One recommendation per finding's action, citing the retrieved passages that back it
    (:mod:`.backing`), or saying that none does."""
    recommendations: list[Recommendation] = []
    for finding in findings:
        if not finding.action:
            continue
        evidence = finding.evidence
        outcome = outcomes.get(evidence.query) if evidence is not None else None
        sources = outcome.sources if outcome is not None else ()
        cited = backing_sources(finding, sources, fits, values)
        rationale = _rationale(finding) if cited else f"{_rationale(finding)} {UNBACKED}"
        recommendations.append(
            Recommendation(finding.action, tuple(s.source_id for s in cited), rationale)
        )
    return recommendations


def quoted_recommendations(
    plan: Sequence[PlannedSearch],
    outcomes: Mapping[str, SearchOutcome],
    values: Mapping[str, float],
    fits: PatientFit,
    already_cited: set[str],
) -> list[Recommendation]:
    """One quoted recommendation per topic search: the best-matching sentences that fit the
    patient among the passages it returned that no earlier recommendation cites (ties go to the
    closer passage)."""
    quoted = set(already_cited)
    recommendations: list[Recommendation] = []
    for planned in plan:
        outcome = outcomes.get(planned.query)
        if planned.finding is not None or outcome is None:
            continue
        candidates = [
            (
                best_sentences(
                    source.text,
                    planned.query,
                    section=source.section_path,
                    terms=planned.terms,
                    values=values,
                    accept=fits,
                ),
                source,
            )
            for source in outcome.sources
            if source.source_id not in quoted and section_fits(source, fits, values)
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
        Recommendation(text=f.action, source_ids=(), rationale=_rationale(f))
        for f in findings
        if f.action
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
    counts = {s: sum(f.severity is s for f in findings) for s in Severity}
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
        plan = plan_searches(record, facts, findings)
        progress.turn_started(TURN)
        count_turn(self.mode)
        calls = [
            SearchCall(f"t{TURN}-{i}", p.query, limits.max_results_per_search)
            for i, p in enumerate(plan, start=1)
        ]
        outcomes = await tools.search(calls, TURN) if calls else []
        if any(outcome.ok for outcome in outcomes):
            by_query = {o.call.query: o for o in outcomes if o.ok}
            values = facts.values
            fits = PatientFit(record, facts)
            actions = action_recommendations(findings, by_query, values, fits)
            cited = {i for r in actions for i in r.source_ids}
            quoted = quoted_recommendations(plan, by_query, values, fits, cited)
            recommendations = actions + quoted
        else:
            recommendations = record_only_recommendations(findings)
        return AgentResult(
            mode=AgentMode.OFFLINE,
            summary=summary(record, facts, findings),
            alerts=[f.alert for f in findings if f.alert is not None],
            recommendations=recommendations,
            turns_used=TURN,
        )
