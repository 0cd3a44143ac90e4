"""The grounding check of services.orchestrator.grounding: numbers and drugs against the cited
passages and the record, and the note when semantic support cannot be scored.

The semantic score itself is checked against the real Embedder in test_brief_grounding.py; here
an Embedder that cannot be reached (a real client, a closed port) must leave the briefing
checked for numbers and drugs, with a note.
"""

from __future__ import annotations

import socket

from services.embedder.client import EmbedderClient
from services.orchestrator.agent.domain import Recommendation, RetrievedSource
from services.orchestrator.grounding import (
    Evidence,
    FlagKind,
    GroundingChecker,
    lexical_flags,
    record_evidence,
)
from tests.orchestrator.claude_support import patient

METFORMIN_PASSAGE = (
    "Metformin: reduce the dose to a maximum of 1000 mg per day when eGFR is 30–44 "
    "ml/min/1.73 m², and stop it when eGFR < 30. Check eGFR every 3–6 months."
)
WARFARIN_PASSAGE = (
    "Warfarin dosing is guided by the INR; a target INR of 2.0 to 3.0 suits most patients with "
    "atrial fibrillation."
)
SGLT2_PASSAGE = (
    "SGLT2 inhibitors are recommended for people with type 2 diabetes and CKD with an eGFR of "
    "at least 20 mL/min/1.73 m²."
)


def _source(source_id: str, text: str) -> RetrievedSource:
    return RetrievedSource(
        source_id=source_id,
        chunk_id=f"chunk-{source_id}",
        text=text,
        score=0.5,
        document_id="doc",
        title="A guideline",
        section_path=("A guideline",),
        issuer="KDIGO",
        year=2022,
        url="",
    )


def _kinds(text: str, *passages: str) -> dict[FlagKind, tuple[str, ...]]:
    evidence = record_evidence(patient()) | Evidence.of(*passages)
    return {f.kind: f.unmatched for f in lexical_flags(text, evidence)}


def test_a_recommendation_backed_by_its_passage_is_not_flagged() -> None:
    text = "Reduce metformin to 1000 mg per day (eGFR 30–44 mL/min/1.73 m²); recheck in 3 months."
    assert _kinds(text, METFORMIN_PASSAGE) == {}


def test_normalised_forms_of_the_same_numbers_are_backed() -> None:
    text = "Reduce metformin to 1 g/day; stop it if eGFR ≤ 30 and recheck in 3-6 months."
    assert _kinds(text, METFORMIN_PASSAGE) == {}


def test_an_invented_dose_is_flagged_with_what_was_not_found() -> None:
    text = "Reduce metformin to 750 mg per day when eGFR is below 45."
    assert _kinds(text, METFORMIN_PASSAGE) == {
        FlagKind.UNSUPPORTED_NUMBER: ("750 mg", "eGFR is below 45")
    }


def test_a_drug_named_nowhere_is_flagged() -> None:
    text = "Start empagliflozin 10 mg daily."
    assert _kinds(text, WARFARIN_PASSAGE) == {
        FlagKind.UNSUPPORTED_NUMBER: ("10 mg",),
        FlagKind.UNSUPPORTED_DRUG: ("empagliflozin",),
    }


def test_a_drug_is_backed_by_its_class_and_a_class_by_a_member() -> None:
    assert _kinds("Start empagliflozin.", SGLT2_PASSAGE) == {}
    assert _kinds("Add an SGLT2 inhibitor.", "Empagliflozin reduces kidney outcomes.") == {}
    assert FlagKind.UNSUPPORTED_DRUG in _kinds("Add an SGLT2 inhibitor.", WARFARIN_PASSAGE)


def test_the_record_backs_the_patients_own_drugs_doses_and_labs() -> None:
    # Metformin 1000 mg twice daily, eGFR 41, HbA1c 7.9 %, amlodipine (stopped), penicillin.
    text = "Keep metformin 1000 mg while eGFR 41 holds; HbA1c 7.9% is above target."
    assert _kinds(text) == {}
    assert _kinds("Do not restart amlodipine 5 mg; avoid penicillin.") == {}
    assert FlagKind.UNSUPPORTED_NUMBER in _kinds("Keep metformin while eGFR 40 holds.")


async def test_without_the_embedder_the_briefing_is_checked_lexically_with_a_note() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    recommendations = [
        Recommendation("Reduce metformin to 1000 mg per day.", ("S1",)),
        Recommendation("Start apixaban 2.5 mg twice daily.", ("S2", "S9")),
        Recommendation("Review the care plan.", ()),
    ]
    sources = {"S1": _source("S1", METFORMIN_PASSAGE), "S2": _source("S2", WARFARIN_PASSAGE)}
    async with EmbedderClient(f"127.0.0.1:{port}") as embedder:
        checker = GroundingChecker(embedder, min_similarity=0.3)
        report = await checker.check(patient(), recommendations, sources, timeout_s=2.0)
    assert not report.semantic_checked
    [note] = report.warnings
    assert note.startswith("Grounding not checked") and "UNAVAILABLE" in note
    first, second, third = report.recommendations
    assert first.flags == () and first.similarity is None
    assert {f.kind: f.unmatched for f in second.flags} == {
        FlagKind.UNSUPPORTED_NUMBER: ("2.5 mg",),
        FlagKind.UNSUPPORTED_DRUG: ("apixaban",),
    }
    # Citing nothing is weak support, whether or not the embedder answers.
    assert [(f.kind, f.similarity) for f in third.flags] == [(FlagKind.WEAK_SUPPORT, None)]
    assert report.counts() == {
        FlagKind.UNSUPPORTED_NUMBER: 1,
        FlagKind.UNSUPPORTED_DRUG: 1,
        FlagKind.WEAK_SUPPORT: 1,
    }


async def test_a_passed_deadline_skips_the_embedder_with_a_note() -> None:
    recommendations = [Recommendation("Reduce metformin to 1000 mg per day.", ("S1",))]
    sources = {"S1": _source("S1", METFORMIN_PASSAGE)}
    async with EmbedderClient("127.0.0.1:1") as embedder:
        checker = GroundingChecker(embedder, min_similarity=0.3)
        report = await checker.check(patient(), recommendations, sources, timeout_s=0.0)
    assert report.warnings == [
        "Grounding not checked: the briefing's deadline had passed, so no recommendation was "
        "scored for semantic support by its passages (its numbers and drugs were checked)."
    ]
    assert report.recommendations[0].flags == ()
