"""Doses that do not fit kidney function or age: metformin, DOACs, DPP-4 inhibitors,
gabapentinoids, digoxin, sulfonylureas and NSAIDs."""

from __future__ import annotations

from services.orchestrator.agent.clinical import (
    RAAS_INHIBITORS,
    SULFONAMIDE_NONANTIBIOTICS,
    Drug,
    Facts,
    daily_dose_mg,
    dose_mg,
    fmt,
    has_ckd,
)
from services.orchestrator.agent.domain import Severity
from services.orchestrator.agent.rules.finding import Finding, Rule, finding
from services.orchestrator.patients.models import PatientRecord


def _dosage(drug: Drug) -> str:
    return drug.statement.dosage_text or drug.statement.coding.display


def metformin_kidney(record: PatientRecord, facts: Facts) -> list[Finding]:
    if not facts.drugs_of("metformin") or facts.egfr is None:
        return []
    egfr = fmt(facts.egfr)
    if facts.egfr < 30:
        return [
            finding(
                Severity.CRITICAL,
                f"Metformin is active with eGFR {egfr} mL/min/1.73m² (<30): contraindicated.",
                "Stop metformin and choose glucose-lowering therapy suited to eGFR below 30.",
            )
        ]
    if facts.egfr < 45:
        return [
            finding(
                Severity.WARNING,
                f"Metformin is active with eGFR {egfr} mL/min/1.73m² (30–44): dose review needed.",
                "Limit metformin to about 1,000 mg/day and check eGFR every 3–6 months.",
            )
        ]
    return []


def _apixaban(facts: Facts, dose: float | None) -> list[Finding]:
    """Two of three criteria (age ≥80, weight ≤60 kg, creatinine ≥1.5 mg/dL) call for 2.5 mg."""
    checks = (
        (f"age {facts.age}", facts.age is not None and facts.age >= 80),
        (
            f"weight {fmt(facts.weight_kg)} kg",
            facts.weight_kg is not None and facts.weight_kg <= 60,
        ),
        (
            f"creatinine {fmt(facts.creatinine_mg_dl, 1)} mg/dL",
            facts.creatinine_mg_dl is not None and facts.creatinine_mg_dl >= 1.5,
        ),
    )
    met = [name for name, ok in checks if ok]
    if dose is None:
        return []
    if len(met) >= 2 and dose > 2.5:
        return [
            finding(
                Severity.WARNING,
                f"Apixaban {fmt(dose, 1)} mg with {len(met)} of 3 dose-reduction criteria "
                f"({', '.join(met)}).",
                "Reduce apixaban to 2.5 mg twice daily (two or more criteria met).",
            )
        ]
    if len(met) < 2 and dose <= 2.5:
        return [
            finding(
                Severity.WARNING,
                f"Apixaban {fmt(dose, 1)} mg with fewer than 2 dose-reduction criteria.",
                "Check whether the reduced apixaban dose is justified (underdosing risk).",
            )
        ]
    return []


# DOAC -> (creatinine clearance at or below which the dose is reduced, reduced dose in mg)
_CLEARANCE_REDUCTION = {"rivaroxaban": (50.0, 15.0), "edoxaban": (50.0, 30.0)}


def _by_clearance(name: str, clearance: float | None, dose: float | None) -> list[Finding]:
    if clearance is None:
        return []
    if name == "dabigatran" and clearance < 30:
        return [
            finding(
                Severity.CRITICAL,
                f"Dabigatran with creatinine clearance {fmt(clearance)} mL/min (<30).",
                "Dabigatran is not recommended below CrCl 30; consider another anticoagulant.",
            )
        ]
    if name in _CLEARANCE_REDUCTION and dose is not None:
        threshold, reduced = _CLEARANCE_REDUCTION[name]
        if clearance <= threshold and dose > reduced:
            return [
                finding(
                    Severity.WARNING,
                    f"{name.capitalize()} {fmt(dose)} mg with creatinine clearance "
                    f"{fmt(clearance)} mL/min (≤{fmt(threshold)}).",
                    f"Use {name} {fmt(reduced)} mg once daily at this creatinine clearance.",
                )
            ]
    return []


def doac_dose(record: PatientRecord, facts: Facts) -> list[Finding]:
    findings: list[Finding] = []
    for drug in facts.drugs_of("doac"):
        dose = dose_mg(_dosage(drug))
        if drug.name == "apixaban":
            findings.extend(_apixaban(facts, dose))
        else:
            findings.extend(_by_clearance(drug.name, facts.creatinine_clearance, dose))
        if facts.egfr is not None and facts.egfr < 15:
            findings.append(
                finding(
                    Severity.CRITICAL,
                    f"{drug.name.capitalize()} with eGFR {fmt(facts.egfr)} (<15).",
                    "Review anticoagulation: most DOACs are not recommended below eGFR 15.",
                )
            )
    return findings


def _dpp4_limit(name: str, egfr: float) -> float | None:
    """The highest daily dose in mg at this eGFR (None: no kidney limit known)."""
    if name == "sitagliptin":
        return 25.0 if egfr < 30 else 50.0 if egfr < 45 else None
    if name == "saxagliptin":
        return 2.5 if egfr < 45 else None
    if name == "alogliptin":
        return 6.25 if egfr < 30 else 12.5 if egfr < 60 else None
    return None


def dpp4_kidney(record: PatientRecord, facts: Facts) -> list[Finding]:
    if facts.egfr is None:
        return []
    findings: list[Finding] = []
    for drug in facts.drugs_of("dpp4i"):
        dose, limit = dose_mg(_dosage(drug)), _dpp4_limit(drug.name, facts.egfr)
        if dose is not None and limit is not None and dose > limit:
            findings.append(
                finding(
                    Severity.WARNING,
                    f"{drug.name.capitalize()} {fmt(dose)} mg with eGFR {fmt(facts.egfr)}: "
                    f"above the {limit:g} mg kidney dose.",
                    f"Reduce {drug.name} to the dose for this eGFR.",
                )
            )
    return findings


def gabapentinoid_kidney(record: PatientRecord, facts: Facts) -> list[Finding]:
    """Gabapentin's label maxima by creatinine clearance (eGFR when clearance is unknown)."""
    kidney = facts.creatinine_clearance or facts.egfr
    if kidney is None or kidney >= 60:
        return []
    limit = 300.0 if kidney < 15 else 700.0 if kidney < 30 else 1400.0
    findings: list[Finding] = []
    for drug in facts.drugs_of("gabapentinoid"):
        daily = daily_dose_mg(_dosage(drug))
        if drug.name == "gabapentin" and daily is not None and daily > limit:
            findings.append(
                finding(
                    Severity.WARNING,
                    f"Gabapentin {fmt(daily)} mg/day with kidney function {fmt(kidney)} mL/min: "
                    f"above the {fmt(limit)} mg/day maximum.",
                    "Reduce gabapentin for kidney function; watch for dizziness and sedation.",
                )
            )
    return findings


def digoxin(record: PatientRecord, facts: Facts) -> list[Finding]:
    findings: list[Finding] = []
    level = record.latest("digoxin_level")
    if level is not None and level.value > 2.0:
        findings.append(
            finding(
                Severity.CRITICAL,
                f"Digoxin level {fmt(level.value, 1)} ng/mL (>2.0): toxic range.",
                "Hold digoxin and check potassium, kidney function and the ECG.",
            )
        )
    old_or_ckd = (facts.age is not None and facts.age >= 80) or (
        facts.egfr is not None and facts.egfr < 30
    )
    for drug in facts.drugs_of("digoxin"):
        daily = daily_dose_mg(_dosage(drug))
        if old_or_ckd and daily is not None and daily > 0.125:
            findings.append(
                finding(
                    Severity.WARNING,
                    f"Digoxin {daily:g} mg/day above 0.125 mg/day in an older "
                    "adult or with eGFR below 30.",
                    "Reduce digoxin to 0.125 mg/day or less, guided by the level.",
                )
            )
    return findings


def sulfonylurea_risk(record: PatientRecord, facts: Facts) -> list[Finding]:
    findings: list[Finding] = []
    glyburide = [d for d in facts.drugs_of("sulfonylurea") if d.name == "glyburide"]
    older = facts.age is not None and facts.age >= 65
    if glyburide and (older or has_ckd(record, facts)):
        findings.append(
            finding(
                Severity.WARNING,
                "Glyburide in an older adult or with CKD: long-acting, high hypoglycemia risk.",
                "Replace glyburide with an agent of low hypoglycemia risk.",
            )
        )
    drugs = facts.drugs_of("sulfonylurea", "insulin")
    if drugs and facts.egfr is not None and facts.egfr < 45:
        names = ", ".join(d.name for d in drugs)
        findings.append(
            finding(
                Severity.WARNING,
                f"{names.capitalize()} with eGFR {fmt(facts.egfr)}: higher hypoglycemia risk.",
                "Review the dose and hypoglycemia history; prefer agents with low hypoglycemia "
                "risk.",
            )
        )
    return findings


def nsaid_ckd(record: PatientRecord, facts: Facts) -> list[Finding]:
    nsaids = facts.drugs_of("nsaid")
    if not nsaids or not has_ckd(record, facts):
        return []
    names = ", ".join(d.name for d in nsaids)
    triple = facts.drugs_of(*RAAS_INHIBITORS) and facts.drugs_of(*SULFONAMIDE_NONANTIBIOTICS)
    severe = facts.egfr is not None and facts.egfr < 30
    if triple or severe:
        reason = "with a RAAS inhibitor and a diuretic" if triple else "with eGFR below 30"
        return [
            finding(
                Severity.CRITICAL,
                f"NSAID ({names}) in chronic kidney disease {reason}.",
                "Stop the NSAID; use paracetamol or topical options for pain.",
            )
        ]
    return [
        finding(
            Severity.WARNING,
            f"NSAID ({names}) in chronic kidney disease (eGFR {fmt(facts.egfr)}).",
            "Avoid prolonged NSAID use in CKD; prefer paracetamol or topical options.",
        )
    ]


RULES: tuple[Rule, ...] = (
    metformin_kidney,
    doac_dose,
    dpp4_kidney,
    gabapentinoid_kidney,
    digoxin,
    sulfonylurea_risk,
    nsaid_ckd,
)
