"""Shared pieces of the Claude agent tests: a patient, fake tools and progress, an agent."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import date, datetime

from briefing.v1 import common_pb2, retriever_pb2
from opentelemetry.context import Context

from services.orchestrator.agent.claude import ClaudeAgent
from services.orchestrator.agent.domain import RetrievedSource, SearchCall, SearchOutcome
from services.orchestrator.config import ClaudeSettings
from services.orchestrator.patients.models import (
    Allergy,
    Coding,
    Condition,
    MedicationStatement,
    Observation,
    PatientRecord,
)

API_KEY = "test-key"
TODAY = date(2026, 11, 25)
# Strings that identify the patient: they must reach neither the model nor logs.
PATIENT_NAME = ("Zelda", "Quuxworth")
BIRTH_DATE = date(1958, 3, 14)
PATIENT_ID = "pt-claude-0001"
EGFR = ("62238-1", "eGFR")


def _obs(kind: str, loinc: tuple[str, str], value: float, unit: str, when: str) -> Observation:
    return Observation(
        coding=Coding(system="http://loinc.org", code=loinc[0], display=loinc[1]),
        value=value,
        unit=unit,
        effective=datetime.fromisoformat(when),
        kind=kind,
    )


def patient() -> PatientRecord:
    return PatientRecord(
        patient_id=PATIENT_ID,
        given_name=PATIENT_NAME[0],
        family_name=PATIENT_NAME[1],
        birth_date=BIRTH_DATE,
        sex="female",
        conditions=[
            Condition(coding=Coding(code="44054006", display="Type 2 diabetes mellitus")),
            Condition(
                coding=Coding(code="700379002", display="Chronic kidney disease stage 3b"),
                onset=date(2023, 5, 2),
            ),
            Condition(
                coding=Coding(code="195967001", display="Asthma"), clinical_status="resolved"
            ),
        ],
        medications=[
            MedicationStatement(
                coding=Coding(code="861004", display="Metformin 1000 MG"),
                dosage_text="1000 mg twice daily",
            ),
            MedicationStatement(
                coding=Coding(code="197361", display="Amlodipine 5 MG"),
                dosage_text="5 mg daily",
                status="stopped",
            ),
        ],
        allergies=[
            Allergy(
                substance=Coding(display="Penicillin"),
                category="medication",
                criticality="high",
                reaction="hives",
            )
        ],
        observations=[
            _obs("egfr", EGFR, 58, "mL/min/1.73m2", "2025-06-02T09:00:00"),
            _obs("egfr", EGFR, 52, "mL/min/1.73m2", "2026-01-10T09:00:00"),
            _obs("egfr", EGFR, 41, "mL/min/1.73m2", "2026-10-01T09:00:00"),
            _obs("hba1c", ("4548-4", "Hemoglobin A1c"), 7.9, "%", "2026-10-01T09:00:00"),
        ],
    )


def source(number: int) -> RetrievedSource:
    return RetrievedSource(
        source_id=f"S{number}",
        chunk_id=f"chunk-{number}",
        text=f"Guideline passage {number} <with markup> & ampersand.",
        score=0.9 - number / 100,
        document_id="kdigo-2022",
        title="KDIGO 2022 Diabetes in CKD",
        section_path=("Metformin", "Dosing"),
        issuer="KDIGO",
        year=2022,
        url="https://example.org/kdigo",
    )


class FakeTools:
    """GuidelineTools in-process: each call gets the next source ids; errors on request."""

    def __init__(self, failing_queries: Sequence[str] = (), hits_per_call: int = 2) -> None:
        self.batches: list[tuple[int, list[SearchCall]]] = []
        self._failing = set(failing_queries)
        self._hits = hits_per_call
        self._issued = 0

    @property
    def calls(self) -> list[SearchCall]:
        return [call for _, batch in self.batches for call in batch]

    async def search(self, calls: Sequence[SearchCall], turn: int) -> list[SearchOutcome]:
        self.batches.append((turn, list(calls)))
        outcomes = []
        for call in calls:
            if call.query in self._failing:
                outcomes.append(SearchOutcome(call=call, error="search failed (UNAVAILABLE)"))
                continue
            first = self._issued + 1
            self._issued += self._hits
            sources = tuple(source(n) for n in range(first, first + self._hits))
            outcomes.append(SearchOutcome(call=call, sources=sources))
        return outcomes

    def handed_out(self) -> set[str]:
        """Every source id the searches so far returned."""
        return {f"S{n}" for n in range(1, self._issued + 1)}


class RecordingProgress:
    def __init__(self) -> None:
        self.turns: list[int] = []

    def turn_started(self, turn: int) -> None:
        self.turns.append(turn)

    def turn_context(self) -> Context | None:
        return None


class BarrierSearcher:
    """A Retriever stand-in for RetrieverTools: no search answers until ``parties`` began."""

    def __init__(self, parties: int) -> None:
        self.barrier = asyncio.Barrier(parties)
        self.in_flight = 0
        self.peak_in_flight = 0
        self.queries: list[str] = []

    async def search(
        self, query: str, *, limit: int = 0, timeout_s: float | None = None
    ) -> retriever_pb2.SearchResponse:
        self.queries.append(query)
        number = len(self.queries)
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            await asyncio.wait_for(self.barrier.wait(), timeout=5)
        finally:
            self.in_flight -= 1
        return retriever_pb2.SearchResponse(
            hits=[
                retriever_pb2.SearchHit(
                    chunk_id=f"chunk-{number}-{i}",
                    score=0.8,
                    text=f"Passage about {query}",
                    source=common_pb2.Source(document_id="doc", title="Guideline", year=2024),
                )
                for i in range(limit)
            ],
            embed_ms=1.0,
            search_ms=1.0,
        )


def make_agent(base_url: str, **overrides: object) -> ClaudeAgent:
    values: dict[str, object] = {
        "anthropic_api_key": API_KEY,
        "anthropic_base_url": base_url,
        "claude_max_retries": 2,
        "claude_timeout_s": 10.0,
        **overrides,
    }
    return ClaudeAgent(ClaudeSettings.model_validate(values), today=lambda: TODAY)
