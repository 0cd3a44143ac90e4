"""What the scorer knows about a patient, read from the FHIR bundle with the project's loader
(the same one `make seed` uses, so the evaluation sees the record the orchestrator sees).

Conditions come from the problem list and from the values that define them (CKD from eGFR
below 60 or albuminuria, hyperkalemia from potassium above 5.0, ...), so that a guideline
sentence about "people with CKD" counts as fitting a patient with eGFR 41 whatever the problem
list says.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from eval.briefings.lexicon import (
    ACEI,
    ALLERGIES,
    ARB,
    CONDITIONS,
    DRUGS,
    LOOP,
    MRA,
    SUBJECTS,
    THIAZIDE,
    Kind,
    ingredients_named,
)
from services.orchestrator.patients.fhir_loader import read_bundle_file
from services.orchestrator.patients.models import PatientRecord

ASCVD_WORDS = ("coronary", "myocardial infarction", "ischemic attack", "stroke", "arterial disease")
# Blood-pressure lowering ingredients: three of them with a blood pressure above target is
# resistant hypertension.
BP_LOWERING = frozenset(
    [
        *ACEI,
        *ARB,
        *THIAZIDE,
        *LOOP,
        *MRA,
        "sacubitril_valsartan",
        "amlodipine",
        "diltiazem",
        "verapamil",
        "carvedilol",
        "metoprolol",
        "bisoprolol",
    ]
)
# Below these, haemoglobin is low (WHO, g/dL).
ANEMIA_BELOW = {"female": 12.0, "male": 13.0}


@dataclass(frozen=True)
class PatientFacts:
    """One patient as the scorer reads it."""

    patient_id: str
    taken: frozenset[str]  # ingredients of active medications (a stopped one is not taken)
    conditions: frozenset[str]  # keys of lexicon.CONDITIONS
    labs: frozenset[str]  # observation kinds the record holds
    allergies: frozenset[str]  # keys of lexicon.ALLERGIES
    values: dict[str, tuple[float, ...]]  # lab kind -> every value, oldest first
    record_text: str  # medications, problems and results as text, for grounding

    def takes(self, drug_key: str) -> bool:
        """Whether an active medication is this ingredient or a member of this class."""
        return bool(DRUGS[drug_key].members & self.taken)

    def has(self, subject_key: str) -> bool:
        """Whether a subject of the lexicon applies to this patient: a drug taken, a lab on
        record, a condition met, an allergy recorded (topics always apply)."""
        kind = SUBJECTS[subject_key].kind
        if kind is Kind.DRUG:
            return self.takes(subject_key)
        if kind is Kind.LAB:
            return subject_key in self.labs or (subject_key == "creatinine" and "egfr" in self.labs)
        if kind is Kind.CONDITION:
            return subject_key in self.conditions
        if kind is Kind.ALLERGY:
            return subject_key in self.allergies
        return True


def _age(record: PatientRecord, today: date) -> int | None:
    born = record.birth_date
    if born is None:
        return None
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _conditions(record: PatientRecord, today: date) -> set[str]:
    """Conditions named on the problem list, and those the values define."""
    found: set[str] = set()
    for condition in record.active_conditions:
        display = condition.coding.display
        found |= {key for key, entry in CONDITIONS.items() if entry.pattern.search(display)}
        if any(word in display.lower() for word in ASCVD_WORDS):
            found.add("ascvd")
        if "reduced ejection" in display.lower():
            found.add("hfref")
        if "normal ejection" in display.lower() or "preserved ejection" in display.lower():
            found.add("hfpef")
    if found & {"hfref", "hfpef"}:
        found.add("heart_failure")

    def latest(kind: str) -> float | None:
        observation = record.latest(kind)
        return observation.value if observation is not None else None

    egfr, uacr, potassium = latest("egfr"), latest("uacr"), latest("potassium")
    if uacr is not None and uacr >= 30:
        found |= {"albuminuria", "ckd"}
    if egfr is not None and egfr < 60:
        found.add("ckd")
    if egfr is not None and egfr < 15:
        found.add("kidney_failure")
    if potassium is not None and potassium > 5.0:
        found.add("hyperkalemia")
    if potassium is not None and potassium < 3.5:
        found.add("hypokalemia")
    hemoglobin = latest("hemoglobin")
    if hemoglobin is not None and hemoglobin < ANEMIA_BELOW.get(record.sex, 12.0):
        found.add("anemia")
    lvef = latest("lvef")
    if lvef is not None and lvef <= 40 and "heart_failure" in found:
        found.add("hfref")
    if any(g.value < 70 for g in record.series("glucose")):
        found.add("hypoglycemia")
    bmi = latest("bmi")
    if bmi is not None and bmi >= 30:
        found.add("obesity")
    age = _age(record, today)
    if age is not None and age >= 65:
        found.add("older_adult")
    systolic = latest("systolic_bp")
    lowering = set().union(
        *(ingredients_named(m.coding.display) for m in record.active_medications)
    )
    if systolic is not None and systolic >= 130 and len(lowering & BP_LOWERING) >= 3:
        found.add("resistant_hypertension")
    return found


def _record_text(record: PatientRecord) -> str:
    lines = [f"{m.coding.display}: {m.dosage_text}" for m in record.medications]
    lines += [c.coding.display for c in record.conditions]
    lines += [f"{a.substance.display} ({a.kind}): {a.reaction}" for a in record.allergies]
    lines += [f"{o.kind} {o.value:g} {o.unit}" for o in record.observations]
    return "\n".join(lines)


def facts_of(record: PatientRecord, today: date) -> PatientFacts:
    active = record.active_medications
    taken = frozenset().union(*(ingredients_named(m.coding.display) for m in active))
    allergies = frozenset(
        key
        for allergy in record.allergies
        for key, entry in ALLERGIES.items()
        if entry.pattern.search(f"{allergy.substance.display} {allergy.reaction}")
    )
    values: dict[str, list[float]] = {}
    for observation in sorted(record.observations, key=lambda o: o.effective):
        values.setdefault(observation.kind, []).append(observation.value)
    return PatientFacts(
        patient_id=record.patient_id,
        taken=taken,
        conditions=frozenset(_conditions(record, today)),
        labs=frozenset(values),
        allergies=allergies,
        values={kind: tuple(series) for kind, series in values.items()},
        record_text=_record_text(record),
    )


def load_facts(bundle: Path, today: date) -> PatientFacts:
    return facts_of(read_bundle_file(bundle), today)
