"""Grounding checks on every recommendation, for every agent alike.

A recommendation is flagged, with what was not found, when

- **a number with its unit** it states ("500 mg", "eGFR < 30", "5.5 mmol/L", "3 months"; read by
  :mod:`services.orchestrator.quantities`) appears in none of its cited passages nor in the
  patient's record (``UNSUPPORTED_NUMBER``);
- **a drug or drug class** it names (recognised by
  :func:`services.orchestrator.agent.drugs.mentions`, the offline agent's vocabulary) is named
  in none of its cited passages nor in the record (``UNSUPPORTED_DRUG``). A class is backed by
  a member or an overlapping class ("ACE inhibitor" by "lisinopril" or "RAS inhibitor"); a drug
  by its name or by a class it belongs to ("empagliflozin" by "SGLT2 inhibitors");
- **its text is semantically far** from every passage it cites: the best cosine similarity of
  the embedder's vectors is below the threshold (``WEAK_SUPPORT``; ORCHESTRATOR_GROUNDING_MIN_
  SIMILARITY, set from measurement, README "Grounding checks"). A recommendation citing no
  passage is weakly supported too, with no similarity.

Only the recommendation's text is checked, not its rationale (which restates the record). The
passages are the full texts the agent was given, not the briefing's excerpts. The embedder is
called once per briefing, every recommendation and cited passage in one batch; when it cannot
be reached the briefing is still made, with a note that semantic support was not checked (the
numbers and drugs always are). Nothing here logs: the texts are patient data.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

from services.common.errors import ServiceError
from services.embedder.client import InputTypeName
from services.orchestrator.agent.clinical import age_on
from services.orchestrator.agent.domain import Recommendation, RetrievedSource
from services.orchestrator.agent.drugs import Mention, mentions, recognise
from services.orchestrator.patients.models import PatientRecord
from services.orchestrator.quantities import Quantity, quantities, stated_in

#: Texts in the one Embed call: the Embedder's default MAX_TEXTS_PER_REQUEST.
MAX_EMBED_TEXTS = 256
NOT_CHECKED = (
    "Grounding not checked: {reason}, so no recommendation was scored for semantic support "
    "by its passages (its numbers and drugs were checked)."
)


class FlagKind(enum.Enum):
    UNSUPPORTED_NUMBER = "unsupported_number"
    UNSUPPORTED_DRUG = "unsupported_drug"
    WEAK_SUPPORT = "weak_support"


@dataclass(frozen=True)
class Flag:
    """Why a recommendation is in doubt: the numbers or drugs found nowhere, or (weak support)
    the best similarity to its passages (None when it cites none)."""

    kind: FlagKind
    unmatched: tuple[str, ...] = ()
    similarity: float | None = None


@dataclass(frozen=True)
class Grounding:
    """One recommendation's check: its flags, and its best similarity to its cited passages
    (None when not scored)."""

    flags: tuple[Flag, ...] = ()
    similarity: float | None = None


@dataclass(frozen=True)
class GroundingReport:
    """The checks of a briefing's recommendations, in their order."""

    recommendations: list[Grounding]
    semantic_checked: bool
    warnings: list[str] = field(default_factory=list)

    def counts(self) -> dict[FlagKind, int]:
        """Flags of each kind over the briefing."""
        flags = [f.kind for g in self.recommendations for f in g.flags]
        return {kind: flags.count(kind) for kind in FlagKind}


class Embedder(Protocol):
    """What the check needs of :class:`~services.embedder.client.EmbedderClient`."""

    async def embed(
        self,
        texts: Sequence[str],
        input_type: InputTypeName,
        truncate: bool = False,
        timeout_s: float | None = None,
    ) -> list[list[float]]: ...


@dataclass(frozen=True)
class Evidence:
    """What a text states that a recommendation may rest on: its quantities and drug names."""

    quantities: tuple[Quantity, ...]
    names: frozenset[str]  # drug names and class keys named
    drug_classes: frozenset[str]  # the classes of the drugs named
    class_scopes: frozenset[str]  # the classes the class words named stand for

    @classmethod
    def of(cls, *texts: str) -> Evidence:
        found = [m for text in texts for m in mentions(text)]
        return cls(
            quantities=tuple(q for text in texts for q in quantities(text)),
            names=frozenset(m.key for m in found),
            drug_classes=frozenset(c for m in found if not m.is_class for c in m.classes),
            class_scopes=frozenset(c for m in found if m.is_class for c in m.classes),
        )

    def __or__(self, other: Evidence) -> Evidence:
        return Evidence(
            self.quantities + other.quantities,
            self.names | other.names,
            self.drug_classes | other.drug_classes,
            self.class_scopes | other.class_scopes,
        )

    def backs(self, mention: Mention) -> bool:
        if mention.key in self.names:
            return True
        if mention.is_class:
            return bool(mention.classes & (self.drug_classes | self.class_scopes))
        return bool(mention.classes & self.class_scopes)


def record_evidence(record: PatientRecord) -> Evidence:
    """The record as evidence: every medication (by its code as well as its display) with its
    dosage, allergy, problem and observation, and the patient's age."""
    lines = [f"{m.coding.display} {m.dosage_text}" for m in record.medications]
    lines += [recognise(m).name for m in record.medications]
    lines += [a.substance.display for a in record.allergies]
    lines += [c.coding.display for c in record.conditions]
    lines += [f"{o.kind or o.coding.display} {o.value:g} {o.unit}" for o in record.observations]
    if record.birth_date is not None:
        lines.append(f"age {age_on(record.birth_date, date.today())} years")
    return Evidence.of(*lines)


def lexical_flags(text: str, evidence: Evidence) -> list[Flag]:
    """The numbers and the drugs of ``text`` that ``evidence`` does not state."""
    flags = []
    numbers = [q.written for q in quantities(text) if not stated_in(q, list(evidence.quantities))]
    if numbers:
        flags.append(Flag(FlagKind.UNSUPPORTED_NUMBER, tuple(dict.fromkeys(numbers))))
    drugs = [text[m.start : m.end] for m in mentions(text) if not evidence.backs(m)]
    if drugs:
        flags.append(Flag(FlagKind.UNSUPPORTED_DRUG, tuple(dict.fromkeys(drugs))))
    return flags


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """The vectors are unit length (the Embedder's contract): the dot product."""
    return sum(x * y for x, y in zip(a, b, strict=True))


class GroundingChecker:
    """Checks a briefing's recommendations against their cited passages and the record."""

    def __init__(self, embedder: Embedder | None, min_similarity: float) -> None:
        self._embedder = embedder
        self._min_similarity = min_similarity

    async def check(
        self,
        record: PatientRecord,
        recommendations: Sequence[Recommendation],
        sources: Mapping[str, RetrievedSource],
        timeout_s: float,
    ) -> GroundingReport:
        """Every recommendation checked; an id no search returned is no cited passage."""
        cited = [[sources[i] for i in r.source_ids if i in sources] for r in recommendations]
        on_record = record_evidence(record)
        lexical = [
            lexical_flags(r.text, on_record | Evidence.of(*(s.text for s in passages)))
            for r, passages in zip(recommendations, cited, strict=True)
        ]
        similarities, warning = await self._similarities(recommendations, cited, timeout_s)
        checked = []
        for flags, passages, similarity in zip(lexical, cited, similarities, strict=True):
            if not passages:
                flags.append(Flag(FlagKind.WEAK_SUPPORT))
            elif similarity is not None and similarity < self._min_similarity:
                flags.append(Flag(FlagKind.WEAK_SUPPORT, similarity=similarity))
            checked.append(Grounding(tuple(flags), similarity))
        return GroundingReport(checked, warning is None, [warning] if warning else [])

    async def _similarities(
        self,
        recommendations: Sequence[Recommendation],
        cited: Sequence[Sequence[RetrievedSource]],
        timeout_s: float,
    ) -> tuple[list[float | None], str | None]:
        """Each recommendation's best similarity to its passages (None when it cites none), from
        one Embed call; all None and a warning when that call cannot be made."""
        none: list[float | None] = [None] * len(recommendations)
        passages = {s.source_id: s.text for group in cited for s in group}
        texts = [r.text for r in recommendations] + list(passages.values())
        if not passages:
            return none, None
        if self._embedder is None:
            return none, NOT_CHECKED.format(reason="no embedder is configured")
        if len(texts) > MAX_EMBED_TEXTS:
            return none, NOT_CHECKED.format(reason=f"more than {MAX_EMBED_TEXTS} texts to embed")
        if timeout_s <= 0:
            return none, NOT_CHECKED.format(reason="the briefing's deadline had passed")
        try:
            vectors = await self._embedder.embed(
                texts, "document", truncate=True, timeout_s=timeout_s
            )
        except ServiceError as exc:
            return none, NOT_CHECKED.format(reason=f"the embedder failed ({exc.code.name})")
        by_id = dict(zip(passages, vectors[len(recommendations) :], strict=True))
        best: list[float | None] = [
            max((_cosine(vector, by_id[s.source_id]) for s in group), default=None)
            for vector, group in zip(vectors[: len(recommendations)], cited, strict=True)
        ]
        return best, None
