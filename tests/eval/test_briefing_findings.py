"""The expected findings (data/patients/expected/findings.json) against the patients' bundles:
every drug a finding changes is one the patient takes, every drug it starts one they do not,
every lab is on record with the value an alert names, every allergy is recorded, every
population a forbidden statement names is one the patient is not in; and the generator writes
exactly the files in the repository."""

from __future__ import annotations

import runpy
from datetime import date
from pathlib import Path

import pytest

from eval.briefings.actions import Action
from eval.briefings.findings import EXPECTED_FINDINGS, Expected, load_findings
from eval.briefings.lexicon import DRUGS, SUBJECTS, Kind, ingredients_named
from eval.briefings.patient import PatientFacts, load_facts
from eval.briefings.text import Quantity, quantities
from services.orchestrator.patients.fhir_loader import read_bundle_file
from tests.eval.briefing_support import PATIENTS

FINDINGS = load_findings()
PATIENT_IDS = sorted(FINDINGS)
TODAY = date(2026, 12, 1)
# Actions on a drug the patient takes, and actions on one they do not.
ON_A_DRUG_TAKEN = {Action.REDUCE, Action.STOP, Action.CONTINUE, Action.MONITOR, Action.INCREASE}
ON_A_DRUG_NOT_TAKEN = {Action.START, Action.SWITCH, Action.AVOID}


def facts(patient_id: str) -> PatientFacts:
    return load_facts(PATIENTS / f"{patient_id}.json", TODAY)


def generate(out: Path) -> None:
    """Runs data/patients/generate.py's main() with ``out`` as the folder to write."""
    generator = runpy.run_path(str(PATIENTS / "generate.py"), run_name="generate_patients")
    generator["main"](out)


def test_every_bundle_has_findings_and_every_finding_a_bundle() -> None:
    bundles = sorted(path.stem for path in PATIENTS.glob("pt-*.json"))
    assert bundles == PATIENT_IDS
    assert len(bundles) == 24
    assert all(FINDINGS[pid].expected for pid in PATIENT_IDS)


def test_the_generator_writes_exactly_the_files_in_the_repository(tmp_path: Path) -> None:
    generate(tmp_path)
    written = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.json"))
    shipped = sorted(
        p.relative_to(PATIENTS) for p in [*PATIENTS.glob("pt-*.json"), EXPECTED_FINDINGS]
    )
    assert written == shipped
    for relative in written:
        assert (tmp_path / relative).read_bytes() == (PATIENTS / relative).read_bytes(), relative


def _drug_subjects(expected: Expected) -> list[str]:
    return [s for s in expected.subjects if SUBJECTS[s].kind is Kind.DRUG]


@pytest.mark.parametrize("patient_id", PATIENT_IDS)
def test_drugs_of_the_findings_match_the_medications(patient_id: str) -> None:
    patient = facts(patient_id)
    for expected in FINDINGS[patient_id].expected:
        drugs = _drug_subjects(expected)
        if not drugs:
            continue
        actions = set(expected.actions)
        if expected.kind == "alert" or actions & ON_A_DRUG_TAKEN:
            assert any(patient.takes(d) for d in drugs), (expected.key, sorted(patient.taken))
        else:
            assert actions <= ON_A_DRUG_NOT_TAKEN, expected.key
            assert not any(patient.takes(d) for d in drugs), (expected.key, sorted(patient.taken))


def _values_of(patient: PatientFacts, subject: str) -> set[float]:
    """What an alert about a subject can name: the lab's values, or the drug's doses (a dose,
    or a daily dose of two to four of them)."""
    if SUBJECTS[subject].kind is Kind.LAB:
        return set(patient.values.get(subject, ()))
    if SUBJECTS[subject].kind is not Kind.DRUG:
        return set()
    record = read_bundle_file(PATIENTS / f"{patient.patient_id}.json")
    doses: set[float] = set()
    for medication in record.active_medications:
        if ingredients_named(medication.coding.display) & DRUGS[subject].members:
            for quantity in quantities(medication.dosage_text):
                doses |= {n * times for n in quantity.numbers() for times in (1, 2, 3, 4)}
    return doses


@pytest.mark.parametrize("patient_id", PATIENT_IDS)
def test_labs_and_values_of_the_alerts_are_on_record(patient_id: str) -> None:
    patient = facts(patient_id)
    for expected in FINDINGS[patient_id].expected:
        for subject in expected.subjects:
            if SUBJECTS[subject].kind is Kind.LAB and subject not in patient.labs:
                # A lab subject among alternatives may be absent ("digoxin_level|digoxin")...
                assert len(expected.subjects) > 1, (expected.key, subject)
        assert any(patient.has(s) for s in expected.subjects) or set(expected.actions) <= (
            ON_A_DRUG_NOT_TAKEN
        ), expected.key  # ...but one subject applies, unless the finding starts a drug
        if expected.kind != "alert" or not expected.thresholds:
            continue
        on_record = set().union(*(_values_of(patient, s) for s in expected.subjects))
        for threshold in expected.thresholds:
            assert _numbers(threshold) <= on_record, (expected.key, threshold, on_record)


def _numbers(quantity: Quantity) -> set[float]:
    return set(quantity.numbers())


@pytest.mark.parametrize("patient_id", PATIENT_IDS)
def test_allergies_of_the_findings_are_recorded(patient_id: str) -> None:
    patient = facts(patient_id)
    for expected in FINDINGS[patient_id].expected:
        for subject in expected.subjects:
            if SUBJECTS[subject].kind is Kind.ALLERGY:
                assert subject in patient.allergies, (expected.key, sorted(patient.allergies))


@pytest.mark.parametrize("patient_id", PATIENT_IDS)
def test_forbidden_statements_fit_the_record(patient_id: str) -> None:
    patient = facts(patient_id)
    for forbidden in FINDINGS[patient_id].forbidden:
        kinds = {SUBJECTS[s].kind for s in forbidden.subjects}
        assert len(kinds) == 1, forbidden.key
        if kinds == {Kind.CONDITION}:  # advice addressed to people with a condition
            assert not forbidden.actions, forbidden.key
            assert not any(patient.has(s) for s in forbidden.subjects), forbidden.key
            continue
        assert kinds == {Kind.DRUG} and forbidden.actions, forbidden.key
        taken = any(patient.takes(s) for s in forbidden.subjects)
        if Action.START in forbidden.actions:  # never start what must not be given
            assert not taken, forbidden.key
        elif set(forbidden.actions) <= {Action.STOP, Action.REDUCE, Action.AVOID}:
            assert taken, forbidden.key  # never take away what is right
