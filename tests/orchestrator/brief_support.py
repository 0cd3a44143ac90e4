"""Patient records the briefing tests store and brief, and the values that must never leak.

The records are made up; their values are chosen to trip the offline agent's rules (metformin
at eGFR 34, apixaban with two dose-reduction criteria, NSAID in CKD, potassium 5.7, a falling
eGFR, blood pressure above target, LDL above goal after statin intolerance, a sulfonamide
allergy next to furosemide).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from services.orchestrator.agent.clinical import read_facts
from services.orchestrator.agent.planning import plan_searches
from services.orchestrator.agent.rules import record_findings
from services.orchestrator.patients.models import (
    Allergy,
    Coding,
    Condition,
    MedicationStatement,
    Observation,
    PatientRecord,
)

SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
LOINC = "http://loinc.org"

RICH_ID = "brief-rich-001"
PLAIN_ID = "brief-plain-002"
NAMED_ID = "brief-named-003"


def _obs(kind: str, code: str, value: float, unit: str, when: str) -> Observation:
    return Observation(
        coding=Coding(system=LOINC, code=code, display=kind),
        value=value,
        unit=unit,
        effective=datetime.fromisoformat(when).replace(tzinfo=UTC),
        kind=kind,
    )


def _med(code: str, display: str, dosage: str, status: str = "active") -> MedicationStatement:
    return MedicationStatement(
        coding=Coding(system=RXNORM, code=code, display=display), dosage_text=dosage, status=status
    )


def _condition(code: str, display: str, onset: str, status: str = "active") -> Condition:
    return Condition(
        coding=Coding(system=SNOMED, code=code, display=display),
        clinical_status=status,
        onset=date.fromisoformat(onset),
    )


RICH = PatientRecord(
    patient_id=RICH_ID,
    given_name="Margarethe",
    family_name="Quillfeather",
    birth_date=date(1943, 5, 14),
    sex="female",
    conditions=[
        _condition("44054006", "Type 2 diabetes mellitus (disorder)", "2009-03-02"),
        _condition("700379002", "Chronic kidney disease stage 3b (disorder)", "2021-06-10"),
        _condition("59621000", "Essential hypertension (disorder)", "2004-11-20"),
        _condition("49436004", "Atrial fibrillation (disorder)", "2019-01-15"),
        _condition("13644009", "Hypercholesterolemia (disorder)", "2012-08-08"),
        _condition("10509002", "Acute bronchitis (disorder)", "2024-01-03", status="resolved"),
    ],
    medications=[
        _med("861007", "metformin hydrochloride 500 MG Oral Tablet", "1000 mg twice daily"),
        _med("1364445", "apixaban 5 MG Oral Tablet", "5 mg twice daily"),
        _med("310429", "furosemide 40 MG Oral Tablet", "40 mg once daily"),
        _med("314077", "lisinopril 20 MG Oral Tablet", "20 mg once daily"),
        _med("310965", "ibuprofen 400 MG Oral Tablet", "400 mg three times daily as needed"),
        _med("617311", "atorvastatin 40 MG Oral Tablet", "40 mg nightly", status="stopped"),
    ],
    allergies=[
        Allergy(
            substance=Coding(system=SNOMED, code="387406002", display="Sulfonamide antibiotic"),
            category="medication",
            criticality="low",
            reaction="maculopapular rash",
        ),
        Allergy(
            substance=Coding(system=RXNORM, code="83367", display="atorvastatin"),
            category="medication",
            reaction="myalgia",
            kind="intolerance",
        ),
    ],
    observations=[
        _obs("egfr", "62238-1", 52, "mL/min/1.73m2", "2025-05-06T09:00:00"),
        _obs("egfr", "62238-1", 44, "mL/min/1.73m2", "2025-11-12T09:00:00"),
        _obs("egfr", "62238-1", 34, "mL/min/1.73m2", "2026-10-20T09:00:00"),
        _obs("creatinine", "2160-0", 1.6, "mg/dL", "2026-10-20T09:00:00"),
        _obs("potassium", "2823-3", 5.7, "mmol/L", "2026-10-20T09:00:00"),
        _obs("weight", "29463-7", 58, "kg", "2026-10-20T09:00:00"),
        _obs("systolic_bp", "8480-6", 148, "mm[Hg]", "2026-10-20T09:00:00"),
        _obs("diastolic_bp", "8462-4", 88, "mm[Hg]", "2026-10-20T09:00:00"),
        _obs("ldl", "13457-7", 131, "mg/dL", "2026-10-20T09:00:00"),
        _obs("hba1c", "4548-4", 7.9, "%", "2026-10-20T09:00:00"),
        _obs("uacr", "9318-7", 210, "mg/g", "2026-10-20T09:00:00"),
    ],
)

PLAIN = PatientRecord(
    patient_id=PLAIN_ID,
    given_name="Tobiah",
    family_name="Wrenfield",
    birth_date=date(1979, 2, 27),
    sex="male",
    conditions=[_condition("59621000", "Essential hypertension (disorder)", "2020-04-01")],
    medications=[_med("29046", "lisinopril 10 MG Oral Tablet", "10 mg once daily")],
    observations=[
        _obs("systolic_bp", "8480-6", 126, "mm[Hg]", "2026-09-01T09:00:00"),
        _obs("diastolic_bp", "8462-4", 78, "mm[Hg]", "2026-09-01T09:00:00"),
        _obs("potassium", "2823-3", 4.4, "mmol/L", "2026-09-01T09:00:00"),
    ],
)

#: A patient named with drug words: a search about her must name her drugs, never her.
NAMED = PatientRecord(
    patient_id=NAMED_ID,
    given_name="Warfarin",
    family_name="Metformin",
    birth_date=date(1961, 7, 9),
    sex="female",
    conditions=[_condition("59621000", "Essential hypertension (disorder)", "2018-03-01")],
    medications=[_med("29046", "lisinopril 10 MG Oral Tablet", "10 mg once daily")],
    observations=[
        _obs("potassium", "2823-3", 5.6, "mmol/L", "2026-09-01T09:00:00"),
        _obs("egfr", "62238-1", 41, "mL/min/1.73m2", "2026-09-01T09:00:00"),
    ],
)

RECORDS = (RICH, PLAIN, NAMED)


def patient_values(record: PatientRecord, today: date | None = None) -> list[str]:
    """Values of the record that must never reach a log, a span or an error message: names,
    birth date, condition, medication and allergy displays, and the queries written about it
    (those backing the rules' actions too)."""
    values = [record.given_name, record.family_name]
    if record.birth_date is not None:
        values.append(record.birth_date.isoformat())
    values += [c.coding.display for c in record.conditions]
    values += [m.coding.display for m in record.medications]
    values += [a.substance.display for a in record.allergies]
    facts = read_facts(record, today or date.today())
    findings = record_findings(record, facts)
    values += [search.query for search in plan_searches(record, facts, findings)]
    return [value for value in values if value]
