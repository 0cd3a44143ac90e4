"""The agents' domain model: what every agent sees and returns.

An agent reads a :class:`PatientRecord`, asks for guideline searches through a
:class:`GuidelineTools` (several searches of one turn run concurrently), and answers with an
:class:`AgentResult` whose alerts and recommendations cite the short source ids ("S1", "S2",
...) that the tools handed out. Agents pass on what they cite as it is: every cited id is
checked in one place (:mod:`services.orchestrator.citations`) before the briefing is built.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from opentelemetry.context import Context

from services.common.limits import MAX_AGENT_TURNS
from services.orchestrator.deadline import Deadline
from services.orchestrator.patients.models import PatientRecord


class AgentMode(StrEnum):
    """Which agent wrote a briefing (mirrors briefing.v1.AgentMode)."""

    OFFLINE = "offline"
    CLAUDE = "claude"


class Severity(StrEnum):
    """How urgent an alert is (mirrors briefing.v1.AlertSeverity)."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


SEARCH_TOOL = "search_clinical_guidelines"  # the one tool an agent searches with


@dataclass(frozen=True)
class SearchCall:
    """One call of the tool ``search_clinical_guidelines(query, max_results)``."""

    call_id: str
    query: str
    max_results: int


@dataclass(frozen=True)
class RetrievedSource:
    """A guideline passage a search returned, with the short id it is cited by."""

    source_id: str  # "S1", "S2", ... unique within one briefing; the same chunk keeps its id
    chunk_id: str
    text: str
    score: float
    document_id: str
    title: str
    section_path: tuple[str, ...]
    issuer: str
    year: int
    url: str
    guideline: str = ""


@dataclass(frozen=True)
class SearchOutcome:
    """What one tool call returned: sources, or an error message for the agent."""

    call: SearchCall
    sources: tuple[RetrievedSource, ...] = ()
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class GuidelineTools(Protocol):
    """The orchestrator's tool path, as an agent uses it."""

    async def search(self, calls: Sequence[SearchCall], turn: int) -> list[SearchOutcome]:
        """Runs the calls of one turn concurrently; a failed call becomes an error outcome."""
        ...


class Progress(Protocol):
    """Receives progress notices (BriefStream); carries no patient data."""

    def turn_started(self, turn: int) -> None: ...

    def turn_context(self) -> Context | None:
        """The trace context of the current turn (its span), for work the turn does."""
        ...


@dataclass(frozen=True)
class TokenUsage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0


@dataclass(frozen=True)
class TurnRecord:
    """Tokens and stop reason of one model turn."""

    turn: int
    usage: TokenUsage
    stop_reason: str


@dataclass(frozen=True)
class Alert:
    severity: Severity
    message: str
    source_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Recommendation:
    text: str
    source_ids: tuple[str, ...]
    rationale: str = ""
    # Cited ids that no search returned: set when citations are checked, never passed on as
    # cited.
    invalid_source_ids: tuple[str, ...] = ()


@dataclass
class AgentResult:
    """An agent's answer (its citations as the agent gave them, until checked)."""

    mode: AgentMode
    summary: str
    alerts: list[Alert] = field(default_factory=list)
    recommendations: list[Recommendation] = field(default_factory=list)
    turns_used: int = 0
    turns: list[TurnRecord] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    model: str = ""


@dataclass(frozen=True)
class AgentLimits:
    """Bounds on one run: turns, hits per search, and the briefing's deadline."""

    max_turns: int = MAX_AGENT_TURNS
    max_results_per_search: int = 5
    # Enforced around run() by the servicer; agents size their own request timeouts from it.
    deadline: Deadline | None = None


class Agent(Protocol):
    """Writes a briefing for one patient."""

    mode: AgentMode
    #: The language model it asks (empty for none), as configured; the audit trail records it.
    model: str

    async def run(
        self,
        record: PatientRecord,
        tools: GuidelineTools,
        progress: Progress,
        limits: AgentLimits,
    ) -> AgentResult: ...
