"""Reads a FHIR R4 Bundle (JSON, as EHR exports and Synthea write them) into a PatientRecord.

Resources are validated with the FHIR R4B models of ``fhir.resources`` (``fhir.resources.R4B``).
The package's default models are R5, which reject R4 data: an R4 MedicationStatement carries
``medicationCodeableConcept`` where R5 has ``medication`` (a CodeableReference). R4B (4.3) is
wire-compatible with R4 for the resources read here (Patient, Condition, MedicationStatement,
MedicationRequest, Medication, AllergyIntolerance, Observation). Other resource types in the
bundle (Encounter, Claim, ...) are skipped without validation.

A bundle holds one patient. Everything is parsed and checked before anything is stored, so a
bundle with a missing or malformed part raises :class:`BundleError` and leaves the database
untouched. The message names the file, the entry index, the resource type and the problem,
and never a value from the record (pydantic's error inputs are dropped).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

from fhir.resources.R4B.allergyintolerance import AllergyIntolerance as FhirAllergy
from fhir.resources.R4B.bundle import Bundle as FhirBundle
from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.condition import Condition as FhirCondition
from fhir.resources.R4B.dosage import Dosage
from fhir.resources.R4B.medication import Medication as FhirMedication
from fhir.resources.R4B.medicationrequest import MedicationRequest as FhirMedicationRequest
from fhir.resources.R4B.medicationstatement import (
    MedicationStatement as FhirMedicationStatement,
)
from fhir.resources.R4B.observation import Observation as FhirObservation
from fhir.resources.R4B.patient import Patient as FhirPatient
from fhir.resources.R4B.quantity import Quantity
from fhir.resources.R4B.reference import Reference
from pydantic import ValidationError

from services.common.errors import InvalidArgument
from services.orchestrator.patients import loinc
from services.orchestrator.patients.models import (
    Allergy,
    Coding,
    Condition,
    MedicationStatement,
    Observation,
    PatientRecord,
)

SNOMED = "http://snomed.info/sct"
ICD10_CM = "http://hl7.org/fhir/sid/icd-10-cm"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"

_MODELS: dict[str, Any] = {
    "Patient": FhirPatient,
    "Condition": FhirCondition,
    "MedicationStatement": FhirMedicationStatement,
    "MedicationRequest": FhirMedicationRequest,
    "Medication": FhirMedication,
    "AllergyIntolerance": FhirAllergy,
    "Observation": FhirObservation,
}
# Bundle.type has a required binding, which the models do not check.
_BUNDLE_TYPES = (
    "document",
    "message",
    "transaction",
    "transaction-response",
    "batch",
    "batch-response",
    "history",
    "searchset",
    "collection",
)
# Records that were never true are left out; everything else is the clinician's to judge.
_VOIDED = {"entered-in-error", "refuted", "cancelled"}
_PERIOD_UNITS = {"s": "second", "min": "minute", "h": "hour", "d": "day", "wk": "week"}
_PERIOD_UNITS |= {"mo": "month", "a": "year"}


class BundleError(InvalidArgument):
    """A bundle that cannot be loaded. The message names the file and the part at fault:
    ``pt-0001.json: entry 14 (Observation): valueQuantity.value: ...`` (entries count from 0)."""

    def __init__(self, source: str, problem: str) -> None:
        super().__init__(f"{source}: {problem}")
        self.source = source
        self.problem = problem


@dataclass(frozen=True)
class _Entry:
    index: int
    resource_type: str
    full_url: str
    resource: Any  # an R4B model from _MODELS

    @property
    def label(self) -> str:
        return f"entry {self.index} ({self.resource_type})"


class _Problem(Exception):
    """A fault in the bundle (its message names the entry); becomes a BundleError."""


def _describe_validation(error: ValidationError) -> str:
    parts = []
    for item in error.errors(include_input=False, include_url=False)[:3]:
        where = ".".join(str(part) for part in item["loc"]) or "resource"
        parts.append(f"{where}: {item['msg']}")
    more = error.error_count() - len(parts)
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def _entries(raw: dict[str, Any]) -> Iterator[_Entry]:
    """The entries whose resource types the loader reads, validated with the R4B models."""
    entries = raw.get("entry", [])
    if not isinstance(entries, list):
        raise _Problem("'entry' is not a list")
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("resource"), dict):
            raise _Problem(f"entry {index}: no resource object")
        resource = entry["resource"]
        resource_type = resource.get("resourceType")
        if not isinstance(resource_type, str):
            raise _Problem(f"entry {index}: resource without resourceType")
        model = _MODELS.get(resource_type)
        if model is None:
            continue
        try:
            validated = model.model_validate(resource)
        except ValidationError as exc:
            raise _Problem(
                f"entry {index} ({resource_type}): {_describe_validation(exc)}"
            ) from None
        full_url = entry.get("fullUrl")
        yield _Entry(index, resource_type, full_url if isinstance(full_url, str) else "", validated)


def _pick_coding(concept: CodeableConcept | None, preferred: Sequence[str]) -> Coding | None:
    """The coding from the first preferred system present (else the first), or the text."""
    if concept is None:
        return None
    codings = [c for c in concept.coding or [] if c.code]
    for system in preferred:
        for coding in codings:
            if coding.system == system:
                return Coding(
                    system=system, code=coding.code, display=coding.display or concept.text or ""
                )
    if codings:
        first = codings[0]
        return Coding(
            system=first.system or "", code=first.code, display=first.display or concept.text or ""
        )
    if concept.text:
        return Coding(display=concept.text)
    return None


def _status(concept: CodeableConcept | None) -> str:
    if concept is None:
        return ""
    return next((c.code for c in concept.coding or [] if c.code), "")


def _to_date(value: object) -> date | None:
    """A FHIR date or dateTime as a date; partial dates (``1950``, ``1950-03``) fill in 1s."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    parts = [int(part) for part in str(value).split("-")]
    return date(parts[0], parts[1] if len(parts) > 1 else 1, 1)


def _to_datetime(value: object) -> datetime | None:
    """A FHIR dateTime/instant as an aware datetime; a bare date is midnight UTC."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    day = _to_date(value)
    return datetime.combine(day, time(), tzinfo=UTC) if day else None


def _dosage_text(dosages: Sequence[Dosage] | None) -> str:
    """The dosage's text, else one made from dose and timing ("1000 mg twice per day"), or ""."""
    if not dosages:
        return ""
    dosage = dosages[0]
    if dosage.text:
        return str(dosage.text)
    words: list[str] = []
    for dose_and_rate in dosage.doseAndRate or []:
        quantity = dose_and_rate.doseQuantity
        if quantity is not None and quantity.value is not None:
            words.append(f"{quantity.value:g} {quantity.unit or quantity.code or ''}".strip())
            break
    repeat = dosage.timing.repeat if dosage.timing else None
    if repeat is not None and repeat.frequency and repeat.period and repeat.periodUnit:
        unit = _PERIOD_UNITS.get(repeat.periodUnit, repeat.periodUnit)
        period = unit if repeat.period == 1 else f"{repeat.period:g} {unit}s"
        times = {1: "once", 2: "twice"}.get(repeat.frequency, f"{repeat.frequency} times")
        words.append(f"{times} per {period}")
    if dosage.asNeededBoolean:
        words.append("as needed")
    return " ".join(words)


class _BundleReader:
    """Maps the validated entries of one bundle to a PatientRecord."""

    def __init__(self, entries: list[_Entry]) -> None:
        self.entries = entries
        patients = [e for e in entries if e.resource_type == "Patient"]
        if not patients:
            raise _Problem("no Patient resource")
        if len(patients) > 1:
            raise _Problem(
                f"{len(patients)} Patient resources (entries "
                + ", ".join(str(e.index) for e in patients)
                + "); a bundle must hold one patient"
            )
        self.patient = patients[0]
        if not self.patient.resource.id:
            raise _Problem(f"{self.patient.label}: no id")
        self.patient_refs = {f"Patient/{self.patient.resource.id}"}
        if self.patient.full_url:
            self.patient_refs.add(self.patient.full_url)
        self.medications: dict[str, FhirMedication] = {}
        for entry in entries:
            if entry.resource_type == "Medication":
                if entry.full_url:
                    self.medications[entry.full_url] = entry.resource
                if entry.resource.id:
                    self.medications[f"Medication/{entry.resource.id}"] = entry.resource

    def _check_subject(self, entry: _Entry, reference: Reference | None, field: str) -> None:
        if reference is None or not reference.reference:
            raise _Problem(f"{entry.label}: no {field} reference")
        if reference.reference not in self.patient_refs:
            raise _Problem(f"{entry.label}: {field} does not refer to the bundle's Patient")

    def _of(self, resource_type: str) -> Iterator[_Entry]:
        return (e for e in self.entries if e.resource_type == resource_type)

    def record(self) -> PatientRecord:
        patient = self.patient.resource
        names = patient.name or []
        name = next((n for n in names if n.use == "official"), names[0] if names else None)
        return PatientRecord(
            patient_id=patient.id,
            given_name=" ".join(name.given or []) if name else "",
            family_name=(name.family or "") if name else "",
            birth_date=_to_date(patient.birthDate),
            sex=patient.gender or "",
            conditions=list(self._conditions()),
            medications=list(self._medications()),
            allergies=list(self._allergies()),
            observations=list(self._observations()),
        )

    def _conditions(self) -> Iterator[Condition]:
        for entry in self._of("Condition"):
            resource: FhirCondition = entry.resource
            self._check_subject(entry, resource.subject, "subject")
            if _status(resource.verificationStatus) in _VOIDED:
                continue
            coding = _pick_coding(resource.code, (SNOMED, ICD10_CM, ICD10))
            if coding is None:
                raise _Problem(f"{entry.label}: no code")
            onset = resource.onsetDateTime or (
                resource.onsetPeriod.start if resource.onsetPeriod else None
            )
            yield Condition(
                coding=coding,
                clinical_status=_status(resource.clinicalStatus) or "active",
                onset=_to_date(onset),
            )

    def _medication_coding(
        self, entry: _Entry, concept: CodeableConcept | None, reference: Reference | None
    ) -> Coding:
        if concept is None and reference is not None and reference.reference:
            medication = self.medications.get(reference.reference)
            if medication is None:
                raise _Problem(f"{entry.label}: medicationReference not found in the bundle")
            concept = medication.code
        coding = _pick_coding(concept, (RXNORM,))
        if coding is None:
            raise _Problem(f"{entry.label}: no medication code")
        return coding

    def _medications(self) -> Iterator[MedicationStatement]:
        for entry in self.entries:
            resource = entry.resource
            if entry.resource_type == "MedicationStatement":
                dosage = _dosage_text(resource.dosage)
            elif entry.resource_type == "MedicationRequest":
                dosage = _dosage_text(resource.dosageInstruction)
            else:
                continue
            self._check_subject(entry, resource.subject, "subject")
            if resource.status in _VOIDED:
                continue
            yield MedicationStatement(
                coding=self._medication_coding(
                    entry, resource.medicationCodeableConcept, resource.medicationReference
                ),
                dosage_text=dosage,
                status=resource.status,
            )

    def _allergies(self) -> Iterator[Allergy]:
        for entry in self._of("AllergyIntolerance"):
            resource: FhirAllergy = entry.resource
            self._check_subject(entry, resource.patient, "patient")
            if _status(resource.verificationStatus) in _VOIDED:
                continue
            substance = _pick_coding(resource.code, (RXNORM, SNOMED))
            if substance is None:
                raise _Problem(f"{entry.label}: no substance code")
            manifestations = [
                coding.display
                for reaction in resource.reaction or []
                for concept in reaction.manifestation or []
                if (coding := _pick_coding(concept, (SNOMED,))) is not None and coding.display
            ]
            yield Allergy(
                substance=substance,
                category=(resource.category or [""])[0],
                criticality=resource.criticality or "",
                reaction="; ".join(manifestations),
                kind=resource.type or "allergy",
            )

    def _observations(self) -> Iterator[Observation]:
        for entry in self._of("Observation"):
            resource: FhirObservation = entry.resource
            self._check_subject(entry, resource.subject, "subject")
            if resource.status in _VOIDED:
                continue
            code = _pick_coding(resource.code, (loinc.SYSTEM,))
            if code is None or code.system != loinc.SYSTEM:
                raise _Problem(f"{entry.label}: no LOINC code")
            kind = loinc.kind_for(code.code)
            effective = _to_datetime(
                resource.effectiveDateTime
                or resource.effectiveInstant
                or (resource.effectivePeriod.start if resource.effectivePeriod else None)
                or resource.issued
            )
            # (coding, kind, quantity) for each number the resource carries.
            parts: list[tuple[Coding, str, Quantity]] = []
            if resource.valueQuantity is not None:
                parts.append((code, kind, resource.valueQuantity))
            for component in resource.component or []:
                component_code = _pick_coding(component.code, (loinc.SYSTEM,))
                if component.valueQuantity is not None and component_code is not None:
                    component_kind = loinc.kind_for(component_code.code)
                    parts.append((component_code, component_kind, component.valueQuantity))
            if not parts:
                # A code the briefing reads must come with a number; others (smoking status,
                # survey answers, ...) are not numeric and are skipped.
                if kind or code.code in loinc.BLOOD_PRESSURE_PANELS:
                    raise _Problem(f"{entry.label}: {kind or 'blood pressure'} without a quantity")
                continue
            if effective is None:
                raise _Problem(f"{entry.label}: no effective date")
            for part_code, part_kind, quantity in parts:
                if quantity.value is None:
                    raise _Problem(f"{entry.label}: a valueQuantity without a value")
                yield Observation(
                    coding=part_code,
                    value=float(quantity.value),
                    unit=quantity.unit or quantity.code or "",
                    effective=effective,
                    kind=part_kind,
                )


def parse_bundle(raw: object, source: str) -> PatientRecord:
    """The patient in a decoded Bundle; ``source`` (a file name) is used in error messages."""
    try:
        if not isinstance(raw, dict) or raw.get("resourceType") != "Bundle":
            raise _Problem("not a FHIR Bundle (resourceType must be 'Bundle')")
        try:
            FhirBundle.model_validate({k: v for k, v in raw.items() if k != "entry"})
        except ValidationError as exc:
            raise _Problem(f"Bundle: {_describe_validation(exc)}") from None
        if raw["type"] not in _BUNDLE_TYPES:
            raise _Problem(f"Bundle: type must be one of {', '.join(_BUNDLE_TYPES)}")
        return _BundleReader(list(_entries(raw))).record()
    except _Problem as problem:
        raise BundleError(source, str(problem)) from None


def read_bundle_file(path: Path) -> PatientRecord:
    """Reads and parses one bundle file. Blocking: call it in an executor from async code."""
    try:
        raw = json.loads(path.read_bytes())
    except json.JSONDecodeError as exc:
        raise BundleError(
            path.name, f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    except OSError as exc:
        raise BundleError(path.name, f"cannot read the file ({exc.strerror})") from None
    return parse_bundle(raw, path.name)
