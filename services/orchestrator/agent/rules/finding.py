"""What a rule raises: an alert and the action it suggests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from services.orchestrator.agent.clinical import Facts
from services.orchestrator.agent.domain import Alert, Severity
from services.orchestrator.patients.models import PatientRecord


@dataclass(frozen=True)
class Finding:
    """An alert drawn from the record, and what to do about it (the uncited recommendation
    used when no guideline search succeeded)."""

    alert: Alert
    action: str


Rule = Callable[[PatientRecord, Facts], list[Finding]]


def finding(severity: Severity, message: str, action: str) -> Finding:
    return Finding(Alert(severity=severity, message=message), action)
