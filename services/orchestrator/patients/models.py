"""The patient record as the orchestrator uses it: what the agent reads, and nothing more.

These models are protected health information. They are never logged, never put on spans, and
never quoted in error messages.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class Coding(_Frozen):
    """A code from a terminology (SNOMED CT, ICD-10, RxNorm, LOINC)."""

    system: str = ""
    code: str = ""
    display: str = ""


class Condition(_Frozen):
    """A problem on the problem list."""

    coding: Coding
    clinical_status: str = (
        "active"  # active | recurrence | relapse | inactive | remission | resolved
    )
    onset: date | None = None


class MedicationStatement(_Frozen):
    """A medication the patient takes or took."""

    coding: Coding
    dosage_text: str = ""  # e.g. "1000 mg twice daily"
    status: str = "active"  # active | completed | stopped | on-hold | ...


class Allergy(_Frozen):
    """An allergy or intolerance."""

    substance: Coding
    category: str = ""  # medication | food | environment | biologic
    criticality: str = ""  # low | high | unable-to-assess
    reaction: str = ""  # manifestation, e.g. "angioedema"
    kind: str = "allergy"  # allergy | intolerance


class Observation(_Frozen):
    """A lab result or vital sign with its LOINC code."""

    coding: Coding
    value: float
    unit: str = ""
    effective: datetime
    # Short name used by the agent: hba1c, egfr, creatinine, potassium, ldl, systolic_bp,
    # diastolic_bp, uacr, weight, ... (see patients.loinc for the mapping).
    kind: str = ""


class PatientRecord(_Frozen):
    """A patient with every part the briefing needs, loaded in one go."""

    patient_id: str
    given_name: str = ""
    family_name: str = ""
    birth_date: date | None = None
    sex: str = ""  # administrative gender: female | male | other | unknown
    conditions: list[Condition] = Field(default_factory=list)
    medications: list[MedicationStatement] = Field(default_factory=list)
    allergies: list[Allergy] = Field(default_factory=list)
    observations: list[Observation] = Field(default_factory=list)

    @property
    def active_conditions(self) -> list[Condition]:
        return [
            c for c in self.conditions if c.clinical_status in {"active", "recurrence", "relapse"}
        ]

    @property
    def active_medications(self) -> list[MedicationStatement]:
        return [m for m in self.medications if m.status in {"active", "intended", "on-hold"}]

    def latest(self, kind: str) -> Observation | None:
        """The most recent observation of a kind (e.g. ``"egfr"``), or None."""
        matching = [o for o in self.observations if o.kind == kind]
        return max(matching, key=lambda o: o.effective) if matching else None

    def series(self, kind: str) -> list[Observation]:
        """Every observation of a kind, oldest first (e.g. to see a falling eGFR)."""
        return sorted((o for o in self.observations if o.kind == kind), key=lambda o: o.effective)
