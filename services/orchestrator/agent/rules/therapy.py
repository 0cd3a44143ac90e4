"""Therapy the record calls for that is missing or below its dose: RAS blockade for albuminuria
(or an ARB after ACE-inhibitor angioedema), the ACE inhibitor or ARB at its highest tolerated
dose, an SGLT2 inhibitor for diabetic or albuminuric CKD and heart failure (and kept as eGFR
falls), a GLP-1 receptor agonist when glucose and weight stay high."""

from __future__ import annotations

from services.orchestrator.agent.clinical import Facts, daily_dose_mg, fmt
from services.orchestrator.agent.domain import Severity
from services.orchestrator.agent.drugs import RAAS_INHIBITORS, Drug
from services.orchestrator.agent.rules.finding import Evidence, Finding, Rule, advice, finding
from services.orchestrator.patients.models import PatientRecord

ALBUMINURIA = 30.0  # UACR, mg/g
SGLT2_MIN_EGFR = 20.0
SGLT2_NONDIABETIC_UACR = 200.0  # mg/g: KDIGO's threshold for CKD without diabetes
HBA1C_ABOVE_TARGET = 8.0  # %, above the widest individual target (<8.0%)
OBESITY_BMI = 30.0
# Usual maximum daily dose (mg) for hypertension: where "titrate to the highest approved dose
# that is tolerated" ends.
MAX_DAILY_MG: dict[str, float] = {
    "lisinopril": 40,
    "enalapril": 40,
    "ramipril": 10,
    "benazepril": 40,
    "perindopril": 8,
    "quinapril": 80,
    "captopril": 150,
    "losartan": 100,
    "valsartan": 320,
    "irbesartan": 300,
    "candesartan": 32,
    "olmesartan": 40,
    "telmisartan": 80,
}


def _has_problem(record: PatientRecord, *words: str) -> bool:
    return any(word in c.coding.display.lower() for c in record.active_conditions for word in words)


def _ace_inhibitor_angioedema(record: PatientRecord) -> bool:
    return any("angioedema" in a.reaction.lower() for a in record.allergies)


def ras_blockade(record: PatientRecord, facts: Facts) -> list[Finding]:
    """Albuminuria without an ACE inhibitor or ARB; or with one below its highest dose."""
    if facts.uacr is None or facts.uacr < ALBUMINURIA:
        return []
    uacr = fmt(facts.uacr)
    blockers = facts.drugs_of(*RAAS_INHIBITORS)
    if not blockers and _ace_inhibitor_angioedema(record):
        return [
            finding(
                Severity.WARNING,
                f"Albuminuria (UACR {uacr} mg/g) without RAS blockade, after ACE-inhibitor "
                "angioedema.",
                "Consider an ARB, with caution, for the albuminuria: angioedema rarely recurs on "
                "an ARB.",
                Evidence(
                    "ACE inhibitor angioedema ARB can be used with caution recurrence uncommon",
                    ("arb", "angioedema"),
                ),
            )
        ]
    if not blockers:
        return [
            finding(
                Severity.WARNING,
                f"Albuminuria (UACR {uacr} mg/g) without an ACE inhibitor or ARB.",
                "Start an ACE inhibitor or ARB for the albuminuria and titrate it to the highest "
                "approved dose that is tolerated.",
                Evidence(
                    "ACE inhibitor or ARB albuminuria titrated to highest approved dose tolerated",
                    ("ace inhibitor", "arb", "ras"),
                ),
            )
        ]
    return [
        advice(
            f"Albuminuria (UACR {uacr} mg/g) on {drug.name} {fmt(dose)} mg daily, below its "
            f"usual maximum of {fmt(limit)} mg.",
            f"Titrate {drug.name} to the highest approved dose that is tolerated, checking "
            "blood pressure, creatinine and potassium within 2–4 weeks of each increase.",
            Evidence(
                "titrate ACE inhibitor or ARB to highest approved dose tolerated check creatinine "
                "potassium 2–4 weeks",
                ("ace inhibitor", "arb", "ras inhibitor", "titrat"),
            ),
        )
        for drug, dose, limit in _below_maximum(blockers)
        if facts.potassium is None or facts.potassium <= 5.0
    ]


def _below_maximum(drugs: list[Drug]) -> list[tuple[Drug, float, float]]:
    found = []
    for drug in drugs:
        dose, limit = daily_dose_mg(drug.statement.dosage_text), MAX_DAILY_MG.get(drug.name)
        if dose is not None and limit is not None and dose < limit:
            found.append((drug, dose, limit))
    return found


def sglt2_inhibitor(record: PatientRecord, facts: Facts) -> list[Finding]:
    """KDIGO and the HF guideline: an SGLT2 inhibitor for type 2 diabetes with CKD, for CKD with
    UACR ≥200 mg/g, and for heart failure, from eGFR 20; once started, kept as eGFR falls."""
    if facts.egfr is None:
        return []
    taken = facts.drugs_of("sglt2i")
    diabetes = _has_problem(record, "diabetes") and not _has_problem(record, "type 1")
    ckd = facts.egfr < 60 or (facts.uacr is not None and facts.uacr >= ALBUMINURIA)
    heart_failure = _has_problem(record, "heart failure")
    if taken:
        if not (ckd or heart_failure):
            return []
        name = taken[0].name
        return [
            advice(
                f"On {name} with eGFR {fmt(facts.egfr)}.",
                f"Continue {name} as eGFR declines, until dialysis or transplantation: an "
                "initial eGFR dip is expected and is not a reason to stop it.",
                Evidence(
                    "SGLT2 inhibitor continued as eGFR declines initial eGFR dip expected not a "
                    "reason to stop",
                    ("sglt2", name),
                ),
            )
        ]
    if facts.egfr < SGLT2_MIN_EGFR:
        return []
    albuminuric = facts.uacr is not None and facts.uacr >= SGLT2_NONDIABETIC_UACR
    if diabetes and ckd:
        why, action, query = (
            f"Type 2 diabetes with CKD (eGFR {fmt(facts.egfr)}) and no SGLT2 inhibitor.",
            "Start an SGLT2 inhibitor with proven kidney benefit: it is recommended in type 2 "
            "diabetes with CKD from eGFR 20, to slow CKD progression and prevent cardiovascular "
            "events.",
            "SGLT2 inhibitor type 2 diabetes CKD eGFR 20 or above kidney benefit",
        )
    elif ckd and albuminuric:
        why, action, query = (
            f"CKD with UACR {fmt(facts.uacr)} mg/g and no SGLT2 inhibitor.",
            "Start an SGLT2 inhibitor: it is recommended in CKD with eGFR 20 or above and ACR "
            "200 mg/g or above, with or without diabetes.",
            "SGLT2 inhibitor CKD eGFR 20 or above ACR 200 mg/g with or without diabetes",
        )
    elif heart_failure:
        why, action, query = (
            "Heart failure and no SGLT2 inhibitor.",
            "Start an SGLT2 inhibitor for the heart failure: it reduces heart failure "
            "hospitalization.",
            "SGLT2 inhibitor heart failure reduce hospitalization dapagliflozin empagliflozin",
        )
    else:
        return []
    return [finding(Severity.INFO, why, action, Evidence(query, ("sglt2",)))]


def glp1_receptor_agonist(record: PatientRecord, facts: Facts) -> list[Finding]:
    """Type 2 diabetes above target with obesity, CKD or ASCVD, and no GLP-1 receptor agonist
    (nor a DPP-4 inhibitor, which is not combined with one)."""
    if not _has_problem(record, "diabetes") or _has_problem(record, "type 1"):
        return []
    if facts.hba1c is None or facts.hba1c < HBA1C_ABOVE_TARGET:
        return []
    if facts.drugs_of("glp1ra", "dpp4i"):
        return []
    obese = (facts.bmi is not None and facts.bmi >= OBESITY_BMI) or _has_problem(record, "obes")
    ckd = (facts.egfr is not None and facts.egfr < 60) or _has_problem(record, "kidney")
    vascular = _has_problem(record, "coronary", "myocardial", "stroke", "ischemic attack")
    if not (obese or ckd or vascular):
        return []
    reasons = ", ".join(
        why for why, ok in (("obesity", obese), ("CKD", ckd), ("ASCVD", vascular)) if ok
    )
    return [
        advice(
            f"HbA1c {fmt(facts.hba1c, 1)}% with {reasons} and no GLP-1 receptor agonist.",
            "Consider a GLP-1 receptor agonist with proven cardiovascular benefit: it lowers "
            "glucose and weight with low hypoglycemia risk.",
            Evidence(
                "GLP-1 receptor agonist type 2 diabetes glucose lowering weight cardiovascular "
                "benefit",
                ("glp-1",),
            ),
        )
    ]


RULES: tuple[Rule, ...] = (ras_blockade, sglt2_inhibitor, glp1_receptor_agonist)
