"""Rule-based alerts drawn from the record alone (no guideline needed to raise them).

Each rule looks at the latest values and the active medications and may raise a
:class:`Finding`: an alert plus the action it suggests, used as a recommendation without
citations when no guideline search succeeded. Thresholds follow the guidelines in
data/guidelines (KDIGO, ADA, EHRA, ACC/AHA, NLA).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from services.orchestrator.agent.base import Alert, Severity
from services.orchestrator.agent.clinical import (
    RAAS_INHIBITORS,
    SULFONAMIDE_NONANTIBIOTICS,
    Facts,
    fmt,
    has_ckd,
)
from services.orchestrator.patients.models import PatientRecord

MIN_TREND_SPAN = timedelta(days=60)
STATIN_WORDS = ("statin",)


@dataclass(frozen=True)
class Finding:
    """An alert and what to do about it."""

    alert: Alert
    action: str


Rule = Callable[[PatientRecord, Facts], list[Finding]]


def _finding(severity: Severity, message: str, action: str) -> Finding:
    return Finding(Alert(severity=severity, message=message), action)


def metformin_kidney(record: PatientRecord, facts: Facts) -> list[Finding]:
    if not facts.drugs_of("metformin") or facts.egfr is None:
        return []
    egfr = fmt(facts.egfr)
    if facts.egfr < 30:
        return [
            _finding(
                Severity.CRITICAL,
                f"Metformin is active with eGFR {egfr} mL/min/1.73m² (<30): contraindicated.",
                "Stop metformin and choose glucose-lowering therapy suited to eGFR below 30.",
            )
        ]
    if facts.egfr < 45:
        return [
            _finding(
                Severity.WARNING,
                f"Metformin is active with eGFR {egfr} mL/min/1.73m² (30–44): dose review needed.",
                "Limit metformin to about 1,000 mg/day and check eGFR every 3–6 months.",
            )
        ]
    return []


def potassium(record: PatientRecord, facts: Facts) -> list[Finding]:
    k = facts.potassium
    if k is None:
        return []
    value = fmt(k, 1)
    if k >= 6.0:
        return [
            _finding(
                Severity.CRITICAL,
                f"Potassium {value} mmol/L (≥6.0): severe hyperkalemia.",
                "Repeat potassium urgently with an ECG and treat hyperkalemia.",
            )
        ]
    if k > 5.5:
        return [
            _finding(
                Severity.WARNING,
                f"Potassium {value} mmol/L (>5.5): hyperkalemia.",
                "Review potassium-raising drugs and diet, and recheck potassium soon.",
            )
        ]
    raising = facts.drugs_of(*RAAS_INHIBITORS, "mra")
    if k > 5.0 and raising:
        names = ", ".join(d.name for d in raising)
        return [
            _finding(
                Severity.INFO,
                f"Potassium {value} mmol/L (>5.0) on {names}.",
                "Monitor potassium closely while on RAAS or mineralocorticoid blockade.",
            )
        ]
    return []


def egfr_trend(record: PatientRecord, facts: Facts) -> list[Finding]:
    series = record.series("egfr")
    if len(series) < 2:
        return []
    first, last = series[0], series[-1]
    span = last.effective - first.effective
    if span < MIN_TREND_SPAN or first.value <= 0:
        return []
    drop = first.value - last.value
    per_year = drop / (span.days / 365.25)
    if drop / first.value >= 0.25 or per_year >= 5:
        months = round(span.days / 30.44)
        return [
            _finding(
                Severity.WARNING,
                f"eGFR fell from {fmt(first.value)} to {fmt(last.value)} over {months} months "
                f"({fmt(100 * drop / first.value)}% decline).",
                "Look for causes of declining kidney function and review renally cleared drugs.",
            )
        ]
    return []


def _dose_mg(dosage: str) -> float | None:
    match = re.search(r"(\d+(?:\.\d+)?)\s*mg", dosage.lower())
    return float(match.group(1)) if match else None


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
            _finding(
                Severity.WARNING,
                f"Apixaban {fmt(dose, 1)} mg with {len(met)} of 3 dose-reduction criteria "
                f"({', '.join(met)}).",
                "Reduce apixaban to 2.5 mg twice daily (two or more criteria met).",
            )
        ]
    if len(met) < 2 and dose <= 2.5:
        return [
            _finding(
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
            _finding(
                Severity.CRITICAL,
                f"Dabigatran with creatinine clearance {fmt(clearance)} mL/min (<30).",
                "Dabigatran is not recommended below CrCl 30; consider another anticoagulant.",
            )
        ]
    if name in _CLEARANCE_REDUCTION and dose is not None:
        threshold, reduced = _CLEARANCE_REDUCTION[name]
        if clearance <= threshold and dose > reduced:
            return [
                _finding(
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
        dose = _dose_mg(drug.statement.dosage_text or drug.statement.coding.display)
        if drug.name == "apixaban":
            findings.extend(_apixaban(facts, dose))
        else:
            findings.extend(_by_clearance(drug.name, facts.creatinine_clearance, dose))
        if facts.egfr is not None and facts.egfr < 15:
            findings.append(
                _finding(
                    Severity.CRITICAL,
                    f"{drug.name.capitalize()} with eGFR {fmt(facts.egfr)} (<15).",
                    "Review anticoagulation: most DOACs are not recommended below eGFR 15.",
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
            _finding(
                Severity.CRITICAL,
                f"NSAID ({names}) in chronic kidney disease {reason}.",
                "Stop the NSAID; use paracetamol or topical options for pain.",
            )
        ]
    return [
        _finding(
            Severity.WARNING,
            f"NSAID ({names}) in chronic kidney disease (eGFR {fmt(facts.egfr)}).",
            "Avoid prolonged NSAID use in CKD; prefer paracetamol or topical options.",
        )
    ]


def blood_pressure(record: PatientRecord, facts: Facts) -> list[Finding]:
    sbp, dbp = facts.systolic_bp, facts.diastolic_bp
    if (sbp is None or sbp <= 130) and (dbp is None or dbp <= 80):
        return []
    return [
        _finding(
            Severity.WARNING,
            f"Blood pressure {fmt(sbp)}/{fmt(dbp)} mmHg is above the 130/80 target.",
            "Intensify blood-pressure treatment towards a target below 130/80 mmHg.",
        )
    ]


def _statin_intolerant(record: PatientRecord) -> bool:
    return any(
        any(word in a.substance.display.lower() for word in STATIN_WORDS) for a in record.allergies
    )


def ldl_goal(record: PatientRecord, facts: Facts) -> list[Finding]:
    if facts.ldl_mg_dl is None or facts.ldl_mg_dl <= 70:
        return []
    ldl = fmt(facts.ldl_mg_dl)
    if _statin_intolerant(record):
        return [
            _finding(
                Severity.WARNING,
                f"LDL {ldl} mg/dL above goal (<70) with documented statin intolerance.",
                "Consider a different statin at low dose or non-statin therapy "
                "(ezetimibe, PCSK9 inhibitor, bempedoic acid).",
            )
        ]
    if facts.drugs_of("statin"):
        return [
            _finding(
                Severity.INFO,
                f"LDL {ldl} mg/dL above goal (<70) on statin therapy.",
                "Check adherence and consider intensifying lipid-lowering therapy.",
            )
        ]
    return []


def hypoglycemia_risk(record: PatientRecord, facts: Facts) -> list[Finding]:
    drugs = facts.drugs_of("sulfonylurea", "insulin")
    if not drugs or facts.egfr is None or facts.egfr >= 45:
        return []
    names = ", ".join(d.name for d in drugs)
    return [
        _finding(
            Severity.WARNING,
            f"{names.capitalize()} with eGFR {fmt(facts.egfr)}: higher hypoglycemia risk.",
            "Review the dose and hypoglycemia history; prefer agents with low hypoglycemia risk.",
        )
    ]


def glycemic_control(record: PatientRecord, facts: Facts) -> list[Finding]:
    if facts.hba1c is None or facts.hba1c < 8:
        return []
    severity = Severity.WARNING if facts.hba1c >= 9 else Severity.INFO
    return [
        _finding(
            severity,
            f"HbA1c {fmt(facts.hba1c, 1)}% is above target.",
            "Review glucose-lowering therapy against an individual HbA1c target.",
        )
    ]


def allergy_conflicts(record: PatientRecord, facts: Facts) -> list[Finding]:
    findings: list[Finding] = []
    for allergy in record.allergies:
        substance = allergy.substance.display.lower()
        for drug in facts.drugs:
            if drug.name and drug.name in substance:
                findings.append(
                    _finding(
                        Severity.CRITICAL,
                        f"Active {drug.name} despite a recorded {allergy.kind} to it.",
                        f"Confirm the {allergy.kind} and whether {drug.name} should continue.",
                    )
                )
        if "sulfonamide" in substance or "sulfa" in substance:
            for drug in facts.drugs_of(*SULFONAMIDE_NONANTIBIOTICS):
                findings.append(
                    _finding(
                        Severity.INFO,
                        f"Sulfonamide allergy recorded; {drug.name} is a non-antibiotic "
                        "sulfonamide.",
                        "Cross-reactivity is uncommon; continue with monitoring unless the "
                        "reaction was severe.",
                    )
                )
    return findings


RULES: tuple[Rule, ...] = (
    metformin_kidney,
    potassium,
    egfr_trend,
    doac_dose,
    nsaid_ckd,
    hypoglycemia_risk,
    blood_pressure,
    ldl_goal,
    glycemic_control,
    allergy_conflicts,
)

_RANK = {Severity.CRITICAL: 0, Severity.WARNING: 1, Severity.INFO: 2}


def record_findings(record: PatientRecord, facts: Facts) -> list[Finding]:
    """Every rule's findings, most urgent first (rule order within a severity)."""
    findings = [finding for rule in RULES for finding in rule(record, facts)]
    return sorted(findings, key=lambda f: _RANK[f.alert.severity])
