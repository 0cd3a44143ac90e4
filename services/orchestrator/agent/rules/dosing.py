"""Doses that do not fit kidney function or age (metformin, DOACs, DPP-4 inhibitors,
gabapentinoids, digoxin, sulfonylureas, NSAIDs), and a dose that does (apixaban without the
criteria for 2.5 mg).

An action names the dose or band the guideline gives, never a value computed for the patient
(a creatinine clearance of 32 is in the alert, "CrCl 15–50 mL/min" in the action), so that the
passage backing the action states every number of it.
"""

from __future__ import annotations

from services.orchestrator.agent.clinical import (
    OLDER_ADULT_AGE,
    Facts,
    daily_dose_mg,
    dose_mg,
    fmt,
    has_ckd,
)
from services.orchestrator.agent.domain import Severity
from services.orchestrator.agent.drugs import RAAS_INHIBITORS, SULFONAMIDE_NONANTIBIOTICS, Drug
from services.orchestrator.agent.rules.finding import Evidence, Finding, Rule, advice, finding
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
                "Stop metformin: it is contraindicated below eGFR 30. Choose glucose-lowering "
                "therapy suited to this kidney function.",
                Evidence("metformin eGFR below 30 stop contraindicated", ("metformin",)),
            )
        ]
    if facts.egfr < 45:
        return [
            finding(
                Severity.WARNING,
                f"Metformin is active with eGFR {egfr} mL/min/1.73m² (30–44): dose review needed.",
                "Halve the metformin dose to at most 1,000 mg/day (eGFR 30–44), check eGFR every "
                "3–6 months, and stop metformin if eGFR falls below 30.",
                Evidence(
                    "metformin dose adjustment eGFR 30–44 halve maximum 1,000 mg/day",
                    ("metformin",),
                ),
            )
        ]
    return []


_APIXABAN_EVIDENCE = Evidence(
    "apixaban dose reduction 2.5 mg twice daily two of three criteria age 80 weight 60 kg "
    "creatinine 1.5 mg/dL",
    ("apixaban",),
)
_APIXABAN_CRITERIA = "age 80 or older, weight 60 kg or less, creatinine 1.5 mg/dL or higher"


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
                f"Reduce apixaban to 2.5 mg twice daily: two or more of {_APIXABAN_CRITERIA} "
                "are met.",
                _APIXABAN_EVIDENCE,
            )
        ]
    if len(met) < 2 and dose <= 2.5:
        return [
            finding(
                Severity.WARNING,
                f"Apixaban {fmt(dose, 1)} mg with fewer than 2 dose-reduction criteria.",
                "Check whether the 2.5 mg apixaban dose is justified: fewer than two of "
                f"{_APIXABAN_CRITERIA} are met, and underdosing raises stroke risk.",
                _APIXABAN_EVIDENCE,
            )
        ]
    if len(met) < 2 and dose == 5:
        age_soon = facts.age is not None and facts.age < 80
        return [
            advice(
                f"Apixaban 5 mg with {len(met)} of 3 dose-reduction criteria"
                + (f" ({', '.join(met)})." if met else "."),
                "Continue apixaban 5 mg twice daily: fewer than two of the criteria for the "
                f"2.5 mg dose ({_APIXABAN_CRITERIA}) are met."
                + (
                    " Reassess the dose at age 80, or if weight or creatinine change."
                    if age_soon
                    else " Reassess the dose if weight or creatinine change."
                ),
                _APIXABAN_EVIDENCE,
            )
        ]
    return []


# DOAC -> (creatinine clearance at or below which the dose is reduced, reduced dose in mg,
# the band of the label)
_CLEARANCE_REDUCTION = {
    "rivaroxaban": (50.0, 15.0, "15–50 mL/min"),
    "edoxaban": (50.0, 30.0, "15–50 mL/min"),
}


def _by_clearance(name: str, clearance: float | None, dose: float | None) -> list[Finding]:
    if clearance is None:
        return []
    evidence = Evidence(f"{name} dose creatinine clearance atrial fibrillation", (name,))
    if name == "dabigatran" and clearance < 30:
        return [
            finding(
                Severity.CRITICAL,
                f"Dabigatran with creatinine clearance {fmt(clearance)} mL/min (<30).",
                "Dabigatran is not recommended below CrCl 30 mL/min; consider another "
                "anticoagulant.",
                evidence,
            )
        ]
    if name in _CLEARANCE_REDUCTION and dose is not None:
        threshold, reduced, band = _CLEARANCE_REDUCTION[name]
        if clearance <= threshold and dose > reduced:
            return [
                finding(
                    Severity.WARNING,
                    f"{name.capitalize()} {fmt(dose)} mg with creatinine clearance "
                    f"{fmt(clearance)} mL/min (≤{fmt(threshold)}).",
                    f"Reduce {name} to {fmt(reduced)} mg once daily, the dose for creatinine "
                    f"clearance {band}.",
                    evidence,
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
                    "Review anticoagulation: most DOACs are not recommended below CrCl 15 mL/min.",
                    Evidence("DOAC creatinine clearance below 15 dialysis", ("doac", drug.name)),
                )
            )
    return findings


def rivaroxaban_older_adult(record: PatientRecord, facts: Facts) -> list[Finding]:
    """The Beers Criteria: avoid rivaroxaban for long-term AF in older adults (apixaban is
    safer)."""
    if facts.age is None or facts.age < OLDER_ADULT_AGE:
        return []
    if not any(d.name == "rivaroxaban" for d in facts.drugs):
        return []
    return [
        finding(
            Severity.INFO,
            f"Rivaroxaban at age {facts.age}: the Beers Criteria list it as potentially "
            "inappropriate for long-term use in older adults.",
            "Consider switching to apixaban: the Beers Criteria advise avoiding rivaroxaban for "
            "long-term AF in older adults because of higher major and GI bleeding.",
            Evidence(
                "Beers Criteria rivaroxaban avoid long-term atrial fibrillation older adults "
                "apixaban safer",
                ("rivaroxaban",),
            ),
        )
    ]


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
                    f"Reduce {drug.name} to {limit:g} mg once daily, its dose at this eGFR.",
                    Evidence(
                        f"{drug.name} dose by kidney function eGFR {fmt(facts.egfr)}",
                        (drug.name,),
                    ),
                )
            )
    return findings


# Gabapentin's label: (creatinine clearance from, the band, total daily dose range, schedule)
_GABAPENTIN_BANDS = (
    (60.0, "≥60", "900–3,600 mg/day", 3600.0, "in three divided doses"),
    (30.0, "30–59", "400–1,400 mg/day", 1400.0, "in two divided doses"),
    (15.0, "15–29", "200–700 mg/day", 700.0, "once daily"),
    (0.0, "<15", "100–300 mg/day", 300.0, "once daily"),
)


def gabapentinoid_kidney(record: PatientRecord, facts: Facts) -> list[Finding]:
    """Gabapentin's label maxima by creatinine clearance (eGFR when clearance is unknown)."""
    kidney = facts.creatinine_clearance or facts.egfr
    if kidney is None or kidney >= 60:
        return []
    _, band, doses, limit, schedule = next(b for b in _GABAPENTIN_BANDS if kidney >= b[0])
    findings: list[Finding] = []
    for drug in facts.drugs_of("gabapentinoid"):
        daily = daily_dose_mg(_dosage(drug))
        if drug.name == "gabapentin" and daily is not None and daily > limit:
            findings.append(
                finding(
                    Severity.WARNING,
                    f"Gabapentin {fmt(daily)} mg/day with kidney function {fmt(kidney)} mL/min: "
                    f"above the {fmt(limit)} mg/day maximum.",
                    f"Reduce gabapentin to {doses} {schedule}, the label range for CrCl {band}; "
                    "watch for dizziness and sedation.",
                    Evidence(
                        f"gabapentin dose kidney impairment creatinine clearance {band}",
                        ("gabapentin",),
                    ),
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
                Evidence("digoxin serum level toxicity kidney impairment", ("digoxin",)),
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
                    Evidence("digoxin dose older adults 0.125 mg/day", ("digoxin",)),
                )
            )
    return findings


def sulfonylurea_risk(record: PatientRecord, facts: Facts) -> list[Finding]:
    findings: list[Finding] = []
    glyburide = [d for d in facts.drugs_of("sulfonylurea") if d.name == "glyburide"]
    older = facts.age is not None and facts.age >= OLDER_ADULT_AGE
    if glyburide and (older or has_ckd(record, facts)):
        findings.append(
            finding(
                Severity.WARNING,
                "Glyburide in an older adult or with CKD: long-acting, high hypoglycemia risk.",
                "Replace glyburide with an agent of low hypoglycemia risk: glyburide should be "
                "avoided in CKD and in older adults.",
                Evidence("glyburide avoid older adults CKD prolonged hypoglycemia", ("glyburide",)),
            )
        )
    drugs = facts.drugs_of("sulfonylurea", "insulin")
    if drugs and facts.egfr is not None and facts.egfr < 45:
        names = ", ".join(d.name for d in drugs)
        findings.append(
            finding(
                Severity.WARNING,
                f"{names.capitalize()} with eGFR {fmt(facts.egfr)}: higher hypoglycemia risk.",
                f"Review the {names} dose and hypoglycemia history; prefer agents with low "
                "hypoglycemia risk.",
                Evidence(
                    "insulin sulfonylurea hypoglycemia risk CKD reduced clearance",
                    ("sulfonylurea", "insulin", "hypoglyc"),
                ),
            )
        )
    return findings


def nsaid_ckd(record: PatientRecord, facts: Facts) -> list[Finding]:
    nsaids = facts.drugs_of("nsaid")
    if not nsaids or not has_ckd(record, facts):
        return []
    names = ", ".join(d.name for d in nsaids)
    terms = ("nsaid", *(d.name for d in nsaids))
    triple = facts.drugs_of(*RAAS_INHIBITORS) and facts.drugs_of(*SULFONAMIDE_NONANTIBIOTICS)
    severe = facts.egfr is not None and facts.egfr < 30
    pain = advice(
        f"NSAID ({names}) in chronic kidney disease.",
        "For pain, use acetaminophen (paracetamol) first, or a topical NSAID for localised pain.",
        Evidence("safer pain relief in CKD acetaminophen topical NSAIDs", ("acetaminophen",)),
    )
    if triple or severe:
        reason = "with a RAAS inhibitor and a diuretic" if triple else "with eGFR below 30"
        query = (
            "triple whammy NSAID diuretic ACE inhibitor ARB acute kidney injury avoid"
            if triple
            else "NSAID avoid eGFR below 30 chronic kidney disease"
        )
        return [
            finding(
                Severity.CRITICAL,
                f"NSAID ({names}) in chronic kidney disease {reason}.",
                f"Stop {names}: NSAIDs should be avoided in CKD "
                + ("with a diuretic and a RAS inhibitor." if triple else "below eGFR 30."),
                Evidence(query, terms),
            ),
            pain,
        ]
    return [
        finding(
            Severity.WARNING,
            f"NSAID ({names}) in chronic kidney disease (eGFR {fmt(facts.egfr)}).",
            f"Avoid prolonged {names} use in CKD.",
            Evidence("NSAID chronic kidney disease avoid prolonged use", terms),
        ),
        pain,
    ]


RULES: tuple[Rule, ...] = (
    metformin_kidney,
    doac_dose,
    rivaroxaban_older_adult,
    dpp4_kidney,
    gabapentinoid_kidney,
    digoxin,
    sulfonylurea_risk,
    nsaid_ckd,
)
