"""The offline agent's search plan: one query per active problem, medication and allergy.

Queries carry the values that decide the guidance (e.g. "metformin dosing eGFR 34"), so they
are written about the patient: they go to the Retriever only, never to logs or spans.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.orchestrator.agent.clinical import (
    SULFONAMIDE_NONANTIBIOTICS,
    Drug,
    Facts,
    fmt,
    plain_display,
)
from services.orchestrator.patients.models import Allergy, Condition, PatientRecord

MAX_SEARCHES = 16


@dataclass(frozen=True)
class PlannedSearch:
    """A query and why it was asked (the rationale of recommendations drawn from it)."""

    query: str
    reason: str


def _with(label: str, value: float | None, decimals: int = 0, unit: str = "") -> str:
    """`` label value`` to append to a query; empty when the value is unknown."""
    if value is None:
        return ""
    return " " + " ".join(part for part in (label, f"{fmt(value, decimals)}{unit}") if part)


def _problem_query(condition: Condition, facts: Facts) -> PlannedSearch:
    name = plain_display(condition.coding.display)
    lowered = name.lower()
    if "diabetes" in lowered:
        query = "type 2 diabetes glycemic target HbA1c" + _with("", facts.hba1c, 1, "%")
        query += " CKD" if facts.egfr is not None and facts.egfr < 60 else ""
    elif "kidney" in lowered:
        query = "chronic kidney disease" + _with("eGFR", facts.egfr)
        query += _with("albuminuria UACR", facts.uacr) + " monitoring and slowing progression"
    elif "hypertension" in lowered or "blood pressure" in lowered:
        bp = (
            f" {fmt(facts.systolic_bp)}/{fmt(facts.diastolic_bp)}"
            if facts.systolic_bp is not None
            else ""
        )
        query = f"blood pressure target{bp} hypertension treatment"
        query += " chronic kidney disease" if facts.egfr is not None and facts.egfr < 60 else ""
    elif "atrial fibrillation" in lowered:
        query = "atrial fibrillation anticoagulation stroke prevention" + _with("age", facts.age)
    elif "heart failure" in lowered:
        query = "heart failure guideline-directed medical therapy" + _with("eGFR", facts.egfr)
    elif any(word in lowered for word in ("lipid", "cholesterol", "hyperlipid")):
        query = "LDL cholesterol" + _with("", facts.ldl_mg_dl, 0, " mg/dL") + " goal statin therapy"
    elif "hyperkalemia" in lowered:
        query = "hyperkalemia potassium" + _with("", facts.potassium, 1) + " management"
    else:
        query = f"{name} management"
    return PlannedSearch(query, f"active problem: {name}")


def _medication_query(drug: Drug, facts: Facts) -> PlannedSearch:
    name = drug.name or plain_display(drug.statement.coding.display)
    egfr = _with("eGFR", facts.egfr)
    cls = drug.drug_class
    if cls == "metformin":
        query = f"metformin dosing{egfr}"
    elif cls == "doac" and name == "apixaban":
        query = (
            "apixaban dose reduction"
            + _with("age", facts.age)
            + _with("weight", facts.weight_kg, 0, " kg")
            + _with("creatinine", facts.creatinine_mg_dl, 1)
        )
    elif cls == "doac":
        query = f"{name} dosing creatinine clearance" + _with("", facts.creatinine_clearance)
    elif cls == "nsaid":
        query = f"{name} NSAID use in chronic kidney disease{egfr}"
    elif cls in ("acei", "arb"):
        query = (
            f"{name} potassium" + _with("", facts.potassium, 1) + f" creatinine monitoring{egfr}"
        )
    elif cls == "mra":
        query = f"{name} hyperkalemia potassium" + _with("", facts.potassium, 1) + egfr
    elif cls == "sglt2i":
        query = f"{name} SGLT2 inhibitor kidney protection{egfr}"
    elif cls in ("sulfonylurea", "insulin"):
        query = f"{name} hypoglycemia risk{egfr}"
    elif cls == "statin":
        query = f"{name} statin intensity" + _with("LDL", facts.ldl_mg_dl) + " CKD"
    elif cls == "loop_diuretic":
        query = f"{name} diuretic dosing heart failure kidney function"
    elif cls == "warfarin":
        query = "warfarin INR monitoring management"
    elif facts.egfr is not None:
        query = f"{name} dosing kidney function{egfr}"
    else:
        query = f"{name} dosing and monitoring"
    return PlannedSearch(query, f"active medication: {name}")


def _allergy_query(allergy: Allergy, facts: Facts) -> PlannedSearch:
    substance = plain_display(allergy.substance.display)
    lowered = substance.lower()
    if "sulfonamide" in lowered or "sulfa" in lowered:
        related = " ".join(d.name for d in facts.drugs_of(*SULFONAMIDE_NONANTIBIOTICS))
        query = f"sulfonamide antibiotic allergy cross-reactivity {related or 'diuretics'}"
    elif "statin" in lowered:
        query = "statin intolerance" + _with("LDL", facts.ldl_mg_dl) + " nonstatin therapy"
    elif "penicillin" in lowered:
        query = "penicillin allergy cephalosporin cross-reactivity"
    elif "ace inhibitor" in lowered or lowered.endswith("pril"):
        query = "ACE inhibitor angioedema alternative ARB"
    else:
        query = f"{substance} {allergy.kind} alternatives"
    return PlannedSearch(query, f"recorded {allergy.kind}: {substance}")


def plan_searches(record: PatientRecord, facts: Facts) -> list[PlannedSearch]:
    """Distinct queries, medications first (dosing matters most), then allergies and problems;
    at most :data:`MAX_SEARCHES`."""
    planned = [
        *(_medication_query(d, facts) for d in facts.drugs),
        *(_allergy_query(a, facts) for a in record.allergies),
        *(_problem_query(c, facts) for c in record.active_conditions),
    ]
    seen: set[str] = set()
    distinct: list[PlannedSearch] = []
    for search in planned:
        key = search.query.lower()
        if key not in seen:
            seen.add(key)
            distinct.append(search)
    return distinct[:MAX_SEARCHES]
