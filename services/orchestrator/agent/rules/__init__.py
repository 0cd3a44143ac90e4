"""Rule-based findings drawn from the record alone (no guideline needed to raise them).

Each rule looks at the latest values, the trends and the active medications and may raise
:class:`Finding`s: an alert with the action it calls for, or advice without an alert (a missing
therapy, a dose that is right). Thresholds follow the guidelines in data/guidelines (KDIGO, ADA,
EHRA, ACC/AHA, AGS Beers, NLA, AAAAI).
"""

from __future__ import annotations

from services.orchestrator.agent.clinical import Facts
from services.orchestrator.agent.domain import Severity
from services.orchestrator.agent.rules import allergy, dosing, monitoring, therapy
from services.orchestrator.agent.rules.finding import Evidence, Finding, Rule
from services.orchestrator.patients.models import PatientRecord

RULES: tuple[Rule, ...] = (*dosing.RULES, *monitoring.RULES, *therapy.RULES, *allergy.RULES)
_RANK = {Severity.CRITICAL: 0, Severity.WARNING: 1, Severity.INFO: 2, None: 3}

__all__ = ["RULES", "Evidence", "Finding", "record_findings"]


def record_findings(record: PatientRecord, facts: Facts) -> list[Finding]:
    """Every rule's findings, most urgent first (rule order within a severity), advice last."""
    findings = [found for rule in RULES for found in rule(record, facts)]
    return sorted(findings, key=lambda f: _RANK[f.severity])
