"""The offline agent's search plan: one query per finding that has an action (to find the
passage that backs it), then one per active medication, allergy and problem.

Queries carry the values that decide the guidance (e.g. "metformin dosing eGFR 34") and the
patient's risk category ("secondary prevention" with ASCVD, "HFpEF" rather than heart failure at
large), so they are written about the patient: they go to the Retriever only, never to logs or
spans. Each search also names its topic terms: a recommendation quotes only sentences that
mention one, so a near miss of the vector search (a metformin passage for a metoprolol query) is
not cited.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from services.orchestrator.agent.clinical import Facts, fmt, plain_display
from services.orchestrator.agent.drugs import ANTICOAGULANTS, SULFONAMIDE_NONANTIBIOTICS, Drug
from services.orchestrator.agent.populations import patient_conditions
from services.orchestrator.agent.rules import Finding
from services.orchestrator.patients.models import Allergy, Condition, PatientRecord

MAX_SEARCHES = 24


@dataclass(frozen=True)
class PlannedSearch:
    """A query, why it was asked (the rationale of recommendations drawn from it), the terms
    a quoted sentence must mention (any one, case-insensitive), and for an evidence search the
    finding it is to back."""

    query: str
    reason: str
    terms: tuple[str, ...] = ()
    finding: Finding | None = None  # the finding whose action this search is to back


def _with(label: str, value: float | None, decimals: int = 0, unit: str = "") -> str:
    """`` label value`` to append to a query; empty when the value is unknown."""
    if value is None:
        return ""
    return " " + " ".join(part for part in (label, f"{fmt(value, decimals)}{unit}") if part)


def _heart_failure_topic(conditions: frozenset[str], facts: Facts) -> tuple[str, tuple[str, ...]]:
    """HFrEF and HFpEF have different guidance: the query and terms name the patient's kind."""
    egfr = _with("eGFR", facts.egfr)
    if "hfpef" in conditions:
        query = "heart failure with preserved ejection fraction HFpEF drug therapy" + egfr
        return query, ("hfpef", "preserved ejection")
    if "hfref" in conditions:
        query = "heart failure with reduced ejection fraction HFrEF guideline-directed therapy"
        return query + egfr, ("hfref", "reduced ejection")
    return "heart failure drug therapy" + egfr, ("heart failure",)


def _problem_topic(
    lowered: str, facts: Facts, conditions: frozenset[str]
) -> tuple[str, tuple[str, ...]] | None:
    """(query, terms) for a known kind of problem, else None."""
    ckd = facts.egfr is not None and facts.egfr < 60
    ascvd = "ascvd" in conditions
    if "diabetes" in lowered and "neuropath" not in lowered:
        query = "type 2 diabetes glycemic target HbA1c" + _with("", facts.hba1c, 1, "%")
        return query + (" CKD" if ckd else ""), ("diabetes", "hba1c", "glyc")
    if "kidney" in lowered:
        query = "chronic kidney disease" + _with("eGFR", facts.egfr)
        query += _with("albuminuria UACR", facts.uacr) + " monitoring and slowing progression"
        return query, ("kidney", "ckd", "egfr", "albuminuria")
    if "hypertension" in lowered or "blood pressure" in lowered:
        bp = f" {fmt(facts.systolic_bp)}/{fmt(facts.diastolic_bp)}" if facts.systolic_bp else ""
        query = f"blood pressure target{bp} hypertension treatment"
        return query + (" chronic kidney disease" if ckd else ""), ("blood pressure", "hypertens")
    if "atrial fibrillation" in lowered:
        query = "atrial fibrillation anticoagulation stroke prevention" + _with("age", facts.age)
        return query, ("atrial fibrillation", "anticoag", "stroke")
    if "heart failure" in lowered:
        return _heart_failure_topic(conditions, facts)
    if any(word in lowered for word in ("lipid", "cholesterol")):
        prevention = "secondary prevention ASCVD" if ascvd else "primary prevention"
        query = f"LDL{_with('', facts.ldl_mg_dl, 0, ' mg/dL')} statin therapy {prevention}"
        return query + (" CKD" if ckd else ""), ("ldl", "statin", "cholesterol")
    if "hyperkalemia" in lowered or "hyperkalaemia" in lowered:
        query = "hyperkalemia potassium" + _with("", facts.potassium, 1) + " management"
        return query, ("potassium", "hyperkal")
    if "hypoglyc" in lowered:
        return "hypoglycemia older adults sulfonylurea deintensify", ("hypoglyc",)
    if "fall" in lowered:
        return "falls in older adults medications to avoid", ("fall",)
    if "coronary" in lowered or "myocardial" in lowered:
        return "coronary disease secondary prevention antiplatelet statin", ("coronary", "pci")
    if "neuropath" in lowered or "neuralgia" in lowered:
        return "neuropathic pain gabapentin dosing kidney function", ("gabapentin", "neuropath")
    if "osteoarthritis" in lowered:
        return "osteoarthritis pain NSAID alternatives kidney", ("nsaid", "pain")
    return None


def _problem_query(condition: Condition, facts: Facts, conditions: frozenset[str]) -> PlannedSearch:
    name = plain_display(condition.coding.display)
    topic = _problem_topic(name.lower(), facts, conditions)
    query, terms = topic or (f"{name} management", (name.lower(),))
    return PlannedSearch(query, f"active problem: {name}", terms)


def _medication_topic(drug: Drug, name: str, facts: Facts) -> tuple[str, tuple[str, ...]]:
    egfr = _with("eGFR", facts.egfr)
    cls = drug.drug_class
    if cls == "metformin":
        return f"metformin dosing{egfr}", ("metformin",)
    if name == "apixaban":
        query = (
            "apixaban dose reduction"
            + _with("age", facts.age)
            + _with("weight", facts.weight_kg, 0, " kg")
            + _with("creatinine", facts.creatinine_mg_dl, 1)
        )
        return query, ("apixaban",)
    if cls == "doac":
        query = f"{name} dosing creatinine clearance" + _with("", facts.creatinine_clearance)
        return query, (name,)
    if cls == "warfarin":
        return "warfarin INR time in therapeutic range switch to DOAC", ("warfarin", "inr")
    if cls == "nsaid":
        return f"{name} NSAID use in chronic kidney disease{egfr}", (name, "nsaid")
    if cls in ("acei", "arb"):
        query = (
            f"{name} potassium" + _with("", facts.potassium, 1) + f" creatinine monitoring{egfr}"
        )
        return query, (name, "ace inhibitor", "arb", "ras inhibitor", "raas")
    if cls == "arni":
        return f"sacubitril valsartan heart failure potassium{egfr}", ("sacubitril", "arni")
    if cls == "mra":
        query = f"{name} hyperkalemia potassium" + _with("", facts.potassium, 1) + egfr
        return query, (name, "mineralocorticoid", "mra")
    if cls == "sglt2i":
        return f"{name} SGLT2 inhibitor kidney protection{egfr}", (name, "sglt2")
    if cls == "dpp4i":
        return f"{name} DPP-4 inhibitor dose kidney function{egfr}", (name, "dpp-4")
    if cls in ("sulfonylurea", "insulin"):
        return f"{name} hypoglycemia risk{egfr}", (name, "sulfonylurea", "hypoglyc")
    if cls == "statin":
        query = f"{name} statin intensity" + _with("LDL", facts.ldl_mg_dl) + " CKD"
        return query, (name, "statin")
    if cls == "loop_diuretic":
        return f"{name} diuretic dosing heart failure kidney function", (name, "diuretic")
    if cls == "gabapentinoid":
        kidney = facts.creatinine_clearance or facts.egfr
        query = f"{name} dosing kidney impairment creatinine clearance" + _with("", kidney)
        return query, (name, "gabapentinoid")
    if cls == "digoxin":
        return "digoxin dose older adults kidney function level", ("digoxin",)
    if cls == "antiplatelet" and facts.drugs_of(*ANTICOAGULANTS):
        return f"{name} with oral anticoagulant after PCI bleeding triple therapy", (name, "triple")
    query = f"{name} dosing kidney function{egfr}" if facts.egfr else f"{name} dosing monitoring"
    return query, (name,)


def _medication_query(drug: Drug, facts: Facts) -> PlannedSearch:
    name = drug.name or plain_display(drug.statement.coding.display)
    query, terms = _medication_topic(drug, name, facts)
    return PlannedSearch(query, f"active medication: {name}", terms)


def _allergy_query(allergy: Allergy, facts: Facts) -> PlannedSearch:
    substance = plain_display(allergy.substance.display)
    lowered = substance.lower()
    if "sulfonamide" in lowered or "sulfa" in lowered:
        related = " ".join(d.name for d in facts.drugs_of(*SULFONAMIDE_NONANTIBIOTICS))
        query = f"sulfonamide antibiotic allergy cross-reactivity {related or 'diuretics'}"
        terms: tuple[str, ...] = ("sulfonamide",)
    elif "statin" in lowered:
        query = "statin intolerance" + _with("LDL", facts.ldl_mg_dl) + " nonstatin therapy"
        terms = ("statin",)
    elif "penicillin" in lowered or "cillin" in lowered:
        query, terms = "penicillin allergy cephalosporin cross-reactivity", ("penicillin",)
    elif "angioedema" in allergy.reaction.lower():
        query, terms = "ACE inhibitor angioedema alternative ARB", ("angioedema",)
    else:
        query, terms = f"{substance} {allergy.kind} alternatives", (lowered,)
    return PlannedSearch(query, f"recorded {allergy.kind}: {substance}", terms)


def evidence_searches(findings: Sequence[Finding]) -> list[PlannedSearch]:
    """One search per finding whose action a guideline can back."""
    return [
        PlannedSearch(f.evidence.query, f.message, f.evidence.terms, finding=f)
        for f in findings
        if f.action and f.evidence is not None
    ]


def plan_searches(
    record: PatientRecord, facts: Facts, findings: Sequence[Finding] = ()
) -> list[PlannedSearch]:
    """Distinct queries: the findings' evidence first, then medications (dosing matters most)
    that no finding's action is about, allergies and problems; at most :data:`MAX_SEARCHES`."""
    conditions = patient_conditions(record, facts)
    actions = " ".join(f.action for f in findings).lower()
    planned = [
        *evidence_searches(findings),
        # A drug an action already advises about needs no second recommendation.
        *(_medication_query(d, facts) for d in facts.drugs if not d.name or d.name not in actions),
        *(_allergy_query(a, facts) for a in record.allergies),
        *(_problem_query(c, facts, conditions) for c in record.active_conditions),
    ]
    seen: set[str] = set()
    distinct: list[PlannedSearch] = []
    for search in planned:
        key = search.query.lower()
        if key not in seen:
            seen.add(key)
            distinct.append(search)
    return distinct[:MAX_SEARCHES]
