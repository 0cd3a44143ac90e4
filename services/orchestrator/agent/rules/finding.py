"""What a rule raises: what the record shows, what to do about it, and where a guideline says so."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from services.orchestrator.agent.clinical import Facts
from services.orchestrator.agent.domain import Alert, Severity
from services.orchestrator.patients.models import PatientRecord


@dataclass(frozen=True)
class Evidence:
    """The guideline search that can back a finding's action: its query (clinical terms and the
    deciding values, never a name), and the words a supporting passage must mention (in a
    sentence, or in the headings of its own section)."""

    query: str
    terms: tuple[str, ...]


@dataclass(frozen=True)
class Finding:
    """What the record shows (``message``), what to do about it (``action``, "" for nothing
    more than the alert) and the search that can back the action. A finding without a severity
    raises no alert: it advises only (start a missing therapy, keep a dose that is right)."""

    message: str
    action: str
    severity: Severity | None = None
    evidence: Evidence | None = None

    @property
    def alert(self) -> Alert | None:
        if self.severity is None:
            return None
        return Alert(severity=self.severity, message=self.message)


Rule = Callable[[PatientRecord, Facts], list[Finding]]


def finding(
    severity: Severity, message: str, action: str, evidence: Evidence | None = None
) -> Finding:
    """An alert and the action it calls for."""
    return Finding(message, action, severity, evidence)


def advice(message: str, action: str, evidence: Evidence | None = None) -> Finding:
    """An action without an alert; ``message`` says why (the recommendation's rationale)."""
    return Finding(message, action, None, evidence)
