"""Guideline passages and synthetic patients for the offline agent's tests (no services).

A passage is a section of a real guideline of data/guidelines, read with the ingestion's own
parser and laid out as the chunker lays out a section that fits the model's window: its
breadcrumb ("Title > Section > Subsection") on the first line, then its blocks.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from services.orchestrator.agent.clinical import Facts, read_facts
from services.orchestrator.agent.domain import RetrievedSource
from services.orchestrator.agent.patient_fit import PatientFit
from services.orchestrator.patients.fhir_loader import read_bundle_file
from services.orchestrator.patients.models import PatientRecord
from services.retriever.ingest.parsers import parse_file

ROOT = Path(__file__).resolve().parents[2]
GUIDELINES = ROOT / "data" / "guidelines"
PATIENTS = ROOT / "data" / "patients"
TODAY = date(2026, 11, 25)


def passage(document: str, heading: str, source_id: str = "S1") -> RetrievedSource:
    """The section of ``document`` (a file of data/guidelines) whose last heading is
    ``heading``, as the Retriever returns it."""
    parsed = parse_file(GUIDELINES / document)
    [section] = [s for s in parsed.sections if s.path[-1] == heading]
    text = " > ".join(section.path) + "\n" + "\n".join(section.blocks)
    return RetrievedSource(
        source_id=source_id,
        chunk_id=f"{document}#{heading}",
        text=text,
        score=0.5,
        document_id=parsed.metadata.document_id,
        title=parsed.metadata.title,
        section_path=section.path,
        issuer=parsed.metadata.issuer,
        year=parsed.metadata.year,
        url=parsed.metadata.url,
    )


def patient(patient_id: str) -> tuple[PatientRecord, Facts, PatientFit]:
    """A synthetic patient's record, facts (as of :data:`TODAY`) and sentence judge."""
    record = read_bundle_file(PATIENTS / f"{patient_id}.json")
    facts = read_facts(record, TODAY)
    return record, facts, PatientFit(record, facts)
