"""A briefing as the scorer reads it: numbered alerts and recommendations, and the text of the
passages they cite."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from briefing.v1 import orchestrator_pb2


@dataclass(frozen=True)
class Statement:
    """An alert or a recommendation of a briefing."""

    kind: str  # "alert" | "recommendation"
    number: int  # 1, 2, ... within its kind, as the briefing lists them
    text: str
    rationale: str = ""
    source_ids: tuple[str, ...] = ()
    # The orchestrator's grounding flags ("unsupported_number: 750 mg") and the best similarity
    # to a cited passage (None when not scored); recommendations only.
    grounding_flags: tuple[str, ...] = ()
    support_similarity: float | None = None

    @property
    def label(self) -> str:
        return f"{self.kind} {self.number}"


@dataclass(frozen=True)
class Briefing:
    patient_id: str
    alerts: tuple[Statement, ...] = ()
    recommendations: tuple[Statement, ...] = ()
    sources: Mapping[str, str] = field(default_factory=dict)  # source id -> passage text

    @property
    def statements(self) -> tuple[Statement, ...]:
        return (*self.alerts, *self.recommendations)


def make_briefing(
    patient_id: str,
    alerts: tuple[str, ...] = (),
    recommendations: tuple[str | tuple[str, str, tuple[str, ...]], ...] = (),
    sources: Mapping[str, str] | None = None,
) -> Briefing:
    """A briefing from plain values: a recommendation is its text, or (text, rationale, ids)."""
    recs = []
    for number, rec in enumerate(recommendations, start=1):
        text, rationale, ids = (rec, "", ()) if isinstance(rec, str) else rec
        recs.append(Statement("recommendation", number, text, rationale, ids))
    return Briefing(
        patient_id=patient_id,
        alerts=tuple(Statement("alert", n, text) for n, text in enumerate(alerts, start=1)),
        recommendations=tuple(recs),
        sources=dict(sources or {}),
    )


def _flag(flag: orchestrator_pb2.GroundingFlag) -> str:
    kind = orchestrator_pb2.GroundingFlagKind.Name(flag.kind).removeprefix("GROUNDING_FLAG_KIND_")
    return f"{kind.lower()}: {', '.join(flag.unmatched)}" if flag.unmatched else kind.lower()


def from_proto(message: orchestrator_pb2.PatientBriefing) -> Briefing:
    """The scorer's view of an Orchestrator briefing (a source's text is its excerpt)."""
    return Briefing(
        patient_id=message.patient_id,
        alerts=tuple(
            Statement("alert", n, a.message, source_ids=tuple(a.source_ids))
            for n, a in enumerate(message.alerts, start=1)
        ),
        recommendations=tuple(
            Statement(
                "recommendation",
                n,
                r.text,
                r.rationale,
                tuple(r.source_ids),
                tuple(_flag(f) for f in r.grounding_flags),
                r.support_similarity if r.HasField("support_similarity") else None,
            )
            for n, r in enumerate(message.recommendations, start=1)
        ),
        sources={s.source_id: s.excerpt for s in message.sources},
    )
