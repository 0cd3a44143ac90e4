"""Values and trends that need attention: potassium, eGFR, blood pressure, lipids, glycemia,
INR control, antithrombotic combinations and missing kidney-protective therapy."""

from __future__ import annotations

from datetime import timedelta

from services.orchestrator.agent.clinical import ANTICOAGULANTS, RAAS_INHIBITORS, Facts, fmt
from services.orchestrator.agent.domain import Severity
from services.orchestrator.agent.rules.finding import Finding, Rule, finding
from services.orchestrator.patients.models import PatientRecord

MIN_TREND_SPAN = timedelta(days=60)
RECENT = timedelta(days=180)
STATIN_WORDS = ("statin",)


def _has_problem(record: PatientRecord, *words: str) -> bool:
    return any(word in c.coding.display.lower() for c in record.active_conditions for word in words)


def potassium(record: PatientRecord, facts: Facts) -> list[Finding]:
    k = facts.potassium
    if k is None:
        return []
    value = fmt(k, 1)
    if k >= 6.0:
        return [
            finding(
                Severity.CRITICAL,
                f"Potassium {value} mmol/L (≥6.0): severe hyperkalemia.",
                "Repeat potassium urgently with an ECG and treat hyperkalemia.",
            )
        ]
    if k > 5.5:
        return [
            finding(
                Severity.WARNING,
                f"Potassium {value} mmol/L (>5.5): hyperkalemia.",
                "Review potassium-raising drugs and diet, and recheck potassium soon.",
            )
        ]
    raising = facts.drugs_of(*RAAS_INHIBITORS, "mra")
    if k > 5.0 and raising:
        names = ", ".join(d.name for d in raising)
        severity = Severity.WARNING if facts.drugs_of("mra") else Severity.INFO
        return [
            finding(
                severity,
                f"Potassium {value} mmol/L (>5.0) on {names}.",
                "Monitor potassium closely while on RAAS or mineralocorticoid blockade.",
            )
        ]
    if k < 3.5:
        return [
            finding(
                Severity.INFO,
                f"Potassium {value} mmol/L (<3.5): hypokalemia.",
                "Look for diuretic-related potassium loss and replace potassium.",
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
            finding(
                Severity.WARNING,
                f"eGFR fell from {fmt(first.value)} to {fmt(last.value)} over {months} months "
                f"({fmt(100 * drop / first.value)}% decline).",
                "Look for causes of declining kidney function and review renally cleared drugs.",
            )
        ]
    return []


def blood_pressure(record: PatientRecord, facts: Facts) -> list[Finding]:
    sbp, dbp = facts.systolic_bp, facts.diastolic_bp
    if (sbp is None or sbp <= 130) and (dbp is None or dbp <= 80):
        return []
    return [
        finding(
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
            finding(
                Severity.WARNING,
                f"LDL {ldl} mg/dL above goal (<70) with documented statin intolerance.",
                "Consider a different statin at low dose or non-statin therapy "
                "(ezetimibe, PCSK9 inhibitor, bempedoic acid).",
            )
        ]
    if facts.drugs_of("statin"):
        return [
            finding(
                Severity.INFO,
                f"LDL {ldl} mg/dL above goal (<70) on statin therapy.",
                "Check adherence and consider intensifying lipid-lowering therapy.",
            )
        ]
    if facts.ldl_mg_dl >= 100:
        return [
            finding(
                Severity.INFO,
                f"LDL {ldl} mg/dL with no statin.",
                "Consider a statin according to cardiovascular risk.",
            )
        ]
    return []


def glycemic_control(record: PatientRecord, facts: Facts) -> list[Finding]:
    if facts.hba1c is None or facts.hba1c < 8:
        return []
    severity = Severity.WARNING if facts.hba1c >= 9 else Severity.INFO
    return [
        finding(
            severity,
            f"HbA1c {fmt(facts.hba1c, 1)}% is above target.",
            "Review glucose-lowering therapy against an individual HbA1c target.",
        )
    ]


def hypoglycemia_events(record: PatientRecord, facts: Facts) -> list[Finding]:
    glucose = record.series("glucose")
    if not glucose:
        return []
    since = glucose[-1].effective - RECENT
    low = [g for g in glucose if g.effective >= since and g.value < 70]
    if not low:
        return []
    lowest = min(g.value for g in low)
    return [
        finding(
            Severity.WARNING,
            f"{len(low)} glucose value(s) below 70 mg/dL in 6 months (lowest {fmt(lowest)}).",
            "Deintensify therapy that causes hypoglycemia and relax the glycemic target.",
        )
    ]


def inr_control(record: PatientRecord, facts: Facts) -> list[Finding]:
    if not facts.drugs_of("warfarin"):
        return []
    inr = record.series("inr")
    if len(inr) < 4:
        return []
    outside = [o.value for o in inr if not 2.0 <= o.value <= 3.0]
    if len(outside) / len(inr) < 0.4:
        return []
    low, high = min(o.value for o in inr), max(o.value for o in inr)
    return [
        finding(
            Severity.WARNING,
            f"Labile INR on warfarin: {len(outside)} of {len(inr)} values outside 2.0–3.0 "
            f"({fmt(low, 1)}–{fmt(high, 1)}).",
            "Address INR control; consider switching to a DOAC if eligible.",
        )
    ]


def antithrombotic_combination(record: PatientRecord, facts: Facts) -> list[Finding]:
    anticoagulants = facts.drugs_of(*ANTICOAGULANTS)
    antiplatelets = facts.drugs_of("antiplatelet")
    if not anticoagulants or not antiplatelets:
        return []
    names = ", ".join(d.name for d in [*anticoagulants, *antiplatelets])
    if len(antiplatelets) >= 2:
        return [
            finding(
                Severity.WARNING,
                f"Triple antithrombotic therapy ({names}): high bleeding risk.",
                "Limit triple therapy to the shortest time; usually stop aspirin after PCI.",
            )
        ]
    return [
        finding(
            Severity.INFO,
            f"Anticoagulant with an antiplatelet ({names}): higher bleeding risk.",
            "Check that the antiplatelet is still needed alongside the anticoagulant.",
        )
    ]


def kidney_protection(record: PatientRecord, facts: Facts) -> list[Finding]:
    findings: list[Finding] = []
    if facts.uacr is not None and facts.uacr >= 30 and not facts.drugs_of(*RAAS_INHIBITORS):
        findings.append(
            finding(
                Severity.WARNING,
                f"Albuminuria (UACR {fmt(facts.uacr)} mg/g) without an ACE inhibitor or ARB.",
                "Consider an ACE inhibitor or ARB titrated to the highest tolerated dose.",
            )
        )
    diabetic_ckd = _has_problem(record, "diabetes") and (
        _has_problem(record, "kidney") or (facts.uacr is not None and facts.uacr >= 30)
    )
    if (
        diabetic_ckd
        and facts.egfr is not None
        and facts.egfr >= 20
        and not facts.drugs_of("sglt2i")
    ):
        findings.append(
            finding(
                Severity.INFO,
                f"Diabetes with CKD (eGFR {fmt(facts.egfr)}) and no SGLT2 inhibitor.",
                "Consider an SGLT2 inhibitor for kidney and heart protection.",
            )
        )
    return findings


RULES: tuple[Rule, ...] = (
    potassium,
    egfr_trend,
    hypoglycemia_events,
    inr_control,
    antithrombotic_combination,
    kidney_protection,
    blood_pressure,
    ldl_goal,
    glycemic_control,
)
