"""Values and trends that need attention: potassium, eGFR, haemoglobin, bicarbonate, blood
pressure, lipids, glycemia, INR control and antithrombotic combinations."""

from __future__ import annotations

from datetime import timedelta

from services.orchestrator.agent.clinical import OLDER_ADULT_AGE, Facts, fmt
from services.orchestrator.agent.domain import Severity
from services.orchestrator.agent.drugs import ANTICOAGULANTS, RAAS_INHIBITORS
from services.orchestrator.agent.rules.finding import Evidence, Finding, Rule, advice, finding
from services.orchestrator.patients.models import PatientRecord

MIN_TREND_SPAN = timedelta(days=60)
RECENT = timedelta(days=180)
STATIN_WORDS = ("statin",)
# Haemoglobin below which an adult has anaemia, g/dL (KDIGO, as the WHO).
ANEMIA_BELOW = {"female": 12.0, "male": 13.0}
HEMOGLOBIN_FALL = 1.0  # g/dL over the record: a fall worth explaining on antithrombotics
BICARBONATE_LOW = 22.0  # mmol/L, the lower limit of normal
_BINDER_EVIDENCE = Evidence(
    "potassium binder patiromer sodium zirconium cyclosilicate continue RAAS inhibitor "
    "hyperkalemia",
    ("binder", "patiromer", "zirconium"),
)


def _names(*groups: list[str]) -> str:
    names = [name for group in groups for name in group]
    return ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else "".join(names)


def potassium(record: PatientRecord, facts: Facts) -> list[Finding]:
    k = facts.potassium
    if k is None:
        return []
    value = fmt(k, 1)
    mras = [d.name for d in facts.drugs_of("mra")]
    raas = [d.name for d in facts.drugs_of(*RAAS_INHIBITORS)]
    binder = [
        advice(
            f"Potassium {value} mmol/L on {_names(raas, mras)}.",
            f"Start a potassium binder (patiromer or sodium zirconium cyclosilicate) to keep "
            f"{_names(raas or mras)}: once potassium is controlled, continue it rather than "
            "stopping it for good.",
            _BINDER_EVIDENCE,
        )
    ]
    if k >= 6.0:
        held = f"; hold {_names(raas, mras)} until potassium is controlled" if raas or mras else ""
        return [
            finding(
                Severity.CRITICAL,
                f"Potassium {value} mmol/L (≥6.0): severe hyperkalemia.",
                f"Repeat potassium urgently with an ECG and treat hyperkalemia{held}.",
                Evidence(
                    "potassium 6.0 mmol/L or higher hold RAAS inhibitor treat acute hyperkalemia",
                    ("potassium", "hyperkal"),
                ),
            ),
            *(binder if raas or mras else []),
        ]
    if k > 5.5:
        if mras:
            alert = finding(
                Severity.WARNING,
                f"Potassium {value} mmol/L (>5.5) on {_names(mras)}: hyperkalemia.",
                f"Hold or stop {_names(mras)}: potassium is above 5.5 mmol/L.",
                Evidence("MRA potassium above 5.5 hold or stop spironolactone", ("mra", *mras)),
            )
        else:
            alert = finding(
                Severity.WARNING,
                f"Potassium {value} mmol/L (>5.5): hyperkalemia.",
                "Review potassium-raising drugs and diet, and recheck potassium soon.",
                Evidence(
                    "hyperkalemia potassium above 5.5 review potassium-raising drugs diet",
                    ("potassium", "hyperkal"),
                ),
            )
        return [alert, *(binder if raas else [])]
    if k > 5.0 and mras:
        return [
            finding(
                Severity.WARNING,
                f"Potassium {value} mmol/L (>5.0) on {_names(raas, mras)}.",
                f"Consider halving the {_names(mras)} dose and recheck potassium: potassium is in "
                "the 5.0–5.5 mmol/L band.",
                Evidence(
                    "MRA potassium 5.0–5.5 halve the dose review diet interacting drugs",
                    ("mra", *mras),
                ),
            )
        ]
    if k > 5.0 and raas:
        return [
            finding(
                Severity.INFO,
                f"Potassium {value} mmol/L (>5.0) on {_names(raas)}.",
                f"Continue {_names(raas)}; review diet and potassium-raising drugs, and recheck "
                "potassium.",
                Evidence(
                    "potassium above 5.0 to 5.5 continue RAAS inhibitor review diet recheck",
                    ("potassium", "hyperkal"),
                ),
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
                Evidence("change in eGFR warrants evaluation progression of CKD", ("egfr", "gfr")),
            )
        ]
    return []


def nephrology_referral(record: PatientRecord, facts: Facts) -> list[Finding]:
    """KDIGO refers people with eGFR below 30 (CKD G4–G5) to specialist kidney care."""
    if facts.egfr is None or facts.egfr >= 30:
        return []
    return [
        advice(
            f"eGFR {fmt(facts.egfr)} mL/min/1.73m², below 30 (CKD G4–G5).",
            "Refer to nephrology: specialist kidney care is recommended when eGFR is below 30.",
            Evidence("referral to nephrology specialist kidney care eGFR below 30", ("nephrolog",)),
        )
    ]


def hemoglobin(record: PatientRecord, facts: Facts) -> list[Finding]:
    """Anaemia, and a falling haemoglobin on antithrombotic drugs (bleeding until shown
    otherwise)."""
    series = record.series("hemoglobin")
    if facts.hemoglobin is None or not series:
        return []
    threshold = ANEMIA_BELOW.get(record.sex, 12.0)
    antithrombotic = [d.name for d in facts.drugs_of(*ANTICOAGULANTS, "antiplatelet")]
    first = series[0].value
    falling = first - series[-1].value >= HEMOGLOBIN_FALL
    low = facts.hemoglobin < threshold
    value = fmt(facts.hemoglobin, 1)
    if falling and antithrombotic:
        return [
            finding(
                Severity.WARNING,
                f"Haemoglobin fell from {fmt(first, 1)} to {value} g/dL on "
                f"{_names(antithrombotic)}.",
                f"Look for bleeding on {_names(antithrombotic)}, check iron studies, and review "
                "whether each antithrombotic drug is still needed.",
                Evidence(
                    "anemia bleeding risk combined antithrombotic therapy stopping unnecessary "
                    "antiplatelets",
                    ("anemia", "bleeding", "antiplatelet"),
                ),
            )
        ]
    if not low:
        return []
    return [
        finding(
            Severity.WARNING if facts.hemoglobin < 10 else Severity.INFO,
            f"Haemoglobin {value} g/dL (below {threshold:.1f}): anaemia.",
            "Check iron studies, vitamin B12 and folate for the anaemia and look for blood loss; "
            "consider iron before an erythropoiesis-stimulating agent.",
            Evidence(
                "anemia CKD initial work-up iron ferritin transferrin saturation",
                ("anemia", "hemoglobin", "iron"),
            ),
        )
    ]


def bicarbonate(record: PatientRecord, facts: Facts) -> list[Finding]:
    if facts.bicarbonate is None or facts.bicarbonate >= BICARBONATE_LOW:
        return []
    on_alkali = any(d.drug_class == "alkali" for d in facts.drugs)
    action = (
        "Review the sodium bicarbonate dose: treatment aims to keep serum bicarbonate from "
        "falling below 18 mmol/L; watch blood pressure, fluid status and potassium."
        if on_alkali
        else "Consider sodium bicarbonate or dietary alkali to keep serum bicarbonate from "
        "falling below 18 mmol/L."
    )
    return [
        finding(
            Severity.WARNING if facts.bicarbonate <= 18 else Severity.INFO,
            f"Bicarbonate {fmt(facts.bicarbonate)} mmol/L (<22): metabolic acidosis.",
            action,
            Evidence(
                "metabolic acidosis CKD sodium bicarbonate serum bicarbonate below 18 mmol/L",
                ("bicarbonate", "acidosis"),
            ),
        )
    ]


_BP_EVIDENCE = Evidence(
    "blood pressure target below 130/80 mm Hg treatment", ("blood pressure", "bp")
)
# Classes that lower blood pressure; three of them with a diuretic is resistant hypertension.
BP_LOWERING = frozenset(
    {*RAAS_INHIBITORS, "ccb", "thiazide", "loop_diuretic", "mra", "beta_blocker"}
)
DIURETICS = frozenset({"thiazide", "loop_diuretic", "mra"})


def blood_pressure(record: PatientRecord, facts: Facts) -> list[Finding]:
    sbp, dbp = facts.systolic_bp, facts.diastolic_bp
    if (sbp is None or sbp <= 130) and (dbp is None or dbp <= 80):
        return []
    found = [
        finding(
            Severity.WARNING,
            f"Blood pressure {fmt(sbp)}/{fmt(dbp)} mmHg is above the 130/80 target.",
            "Intensify blood-pressure treatment towards a target below 130/80 mm Hg.",
            _BP_EVIDENCE,
        )
    ]
    classes = {d.drug_class for d in facts.drugs} & BP_LOWERING
    if len(classes) < 3 or not classes & DIURETICS:
        return found
    found.append(
        advice(
            f"Blood pressure above target on {len(classes)} classes of blood-pressure drugs, "
            "one of them a diuretic: resistant hypertension.",
            "Check adherence to the blood-pressure drugs (pill counts, pharmacy refills) and "
            "confirm the readings with home or ambulatory monitoring before adding a drug.",
            Evidence(
                "resistant hypertension confirm adherence pill counts home blood pressure",
                ("adherence", "nonadherence"),
            ),
        )
    )
    if (
        "mra" not in classes
        and (facts.potassium is None or facts.potassium <= 4.5)
        and (facts.egfr is None or facts.egfr >= 45)
    ):
        found.append(
            advice(
                "Resistant hypertension without a mineralocorticoid receptor antagonist.",
                "Add spironolactone 12.5–25 mg daily as the fourth blood-pressure drug, and check "
                "potassium and creatinine after starting it.",
                Evidence(
                    "resistant hypertension add spironolactone fourth drug potassium monitoring",
                    ("spironolactone",),
                ),
            )
        )
    hctz = [d for d in facts.drugs if d.name == "hydrochlorothiazide"]
    if hctz:
        found.append(
            advice(
                "Resistant hypertension on hydrochlorothiazide.",
                "Consider chlorthalidone (12.5–25 mg) or indapamide in place of "
                "hydrochlorothiazide: long-acting thiazide-like diuretics are preferred.",
                Evidence(
                    "resistant hypertension diuretic chlorthalidone indapamide instead of "
                    "hydrochlorothiazide",
                    ("chlorthalidone",),
                ),
            )
        )
    return found


def _statin_intolerant(record: PatientRecord) -> bool:
    return any(
        any(word in a.substance.display.lower() for word in STATIN_WORDS) for a in record.allergies
    )


def ldl_goal(record: PatientRecord, facts: Facts) -> list[Finding]:
    if facts.ldl_mg_dl is None or facts.ldl_mg_dl <= 70:
        return []
    ldl = fmt(facts.ldl_mg_dl)
    if _statin_intolerant(record):
        nonstatins = [d.name for d in facts.drugs_of("nonstatin")]
        on = f" to {_names(nonstatins)}" if nonstatins else ""
        return [
            finding(
                Severity.WARNING,
                f"LDL {ldl} mg/dL above goal (<70) with documented statin intolerance.",
                "Rechallenge with a different statin at a low dose (for example rosuvastatin "
                "5 mg daily, or non-daily dosing): most patients with reported intolerance can "
                "take some statin.",
                Evidence(
                    "statin intolerance rechallenge different statin lower dose non-daily dosing",
                    ("statin", "rechallenge"),
                ),
            ),
            advice(
                f"LDL {ldl} mg/dL above goal with statin intolerance.",
                f"Add a PCSK9 inhibitor{on}; bempedoic acid may be used instead, as it rarely "
                "causes muscle symptoms.",
                Evidence(
                    "statin intolerant non-statin therapy PCSK9 monoclonal antibodies bempedoic "
                    "acid",
                    ("pcsk9", "bempedoic", "evolocumab"),
                ),
            ),
        ]
    statins = [d.name for d in facts.drugs_of("statin")]
    if statins:
        return [
            finding(
                Severity.INFO,
                f"LDL {ldl} mg/dL above goal (<70) on statin therapy.",
                f"Check adherence to {_names(statins)} and consider intensifying lipid-lowering "
                "therapy: LDL is above goal.",
                Evidence(
                    "LDL above goal on statin add non-statin therapy ezetimibe", ("ldl", "statin")
                ),
            )
        ]
    if facts.ldl_mg_dl < 100:
        return []
    in_ckd = facts.age is not None and facts.age >= 50 and facts.egfr is not None
    if in_ckd and facts.egfr is not None and facts.egfr < 60:
        return [
            finding(
                Severity.INFO,
                f"LDL {ldl} mg/dL with no statin, age {facts.age} and eGFR {fmt(facts.egfr)}.",
                "Start a statin: it is recommended for adults aged 50 or older with eGFR below 60 "
                "not on dialysis.",
                Evidence(
                    "statin or statin/ezetimibe adults aged 50 or older eGFR below 60 not on "
                    "dialysis",
                    ("statin",),
                ),
            )
        ]
    return [
        finding(
            Severity.INFO,
            f"LDL {ldl} mg/dL with no statin.",
            "Consider a statin according to cardiovascular risk.",
            Evidence("statin therapy LDL cholesterol cardiovascular risk", ("statin",)),
        )
    ]


def glycemic_control(record: PatientRecord, facts: Facts) -> list[Finding]:
    if facts.hba1c is None or facts.hba1c < 8:
        return []
    severity = Severity.WARNING if facts.hba1c >= 9 else Severity.INFO
    return [
        finding(
            severity,
            f"HbA1c {fmt(facts.hba1c, 1)}% is above target.",
            "Review glucose-lowering therapy against an individual HbA1c target.",
            Evidence("individualised HbA1c target glucose-lowering therapy", ("hba1c",)),
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
            Evidence(
                "hypoglycemia deintensify insulin sulfonylurea older adults glycemic goal",
                ("hypoglyc", "deintensif"),
            ),
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
            Evidence(
                "warfarin poor INR control time in therapeutic range switch to a DOAC",
                ("warfarin", "inr"),
            ),
        )
    ]


def antithrombotic_combination(record: PatientRecord, facts: Facts) -> list[Finding]:
    anticoagulants = [d.name for d in facts.drugs_of(*ANTICOAGULANTS)]
    antiplatelets = [d.name for d in facts.drugs_of("antiplatelet")]
    if not anticoagulants or not antiplatelets:
        return []
    names = _names(anticoagulants, antiplatelets)
    found: list[Finding] = []
    if len(antiplatelets) >= 2 and "aspirin" in antiplatelets:
        others = [name for name in antiplatelets if name != "aspirin"]
        found.append(
            finding(
                Severity.WARNING,
                f"Triple antithrombotic therapy ({names}): high bleeding risk.",
                "Stop aspirin: triple therapy is limited to 1–4 weeks after PCI. Continue "
                f"{_names(anticoagulants, others)} for up to 12 months after PCI.",
                Evidence(
                    "AF PCI stop aspirin triple therapy 1–4 weeks continue OAC plus P2Y12 "
                    "inhibitor 12 months",
                    ("aspirin", "triple"),
                ),
            )
        )
    elif len(antiplatelets) >= 2:
        found.append(
            finding(
                Severity.WARNING,
                f"Triple antithrombotic therapy ({names}): high bleeding risk.",
                "Limit triple therapy to the shortest time.",
                Evidence("triple antithrombotic therapy shorten bleeding risk", ("triple",)),
            )
        )
    else:
        found.append(
            finding(
                Severity.INFO,
                f"Anticoagulant with an antiplatelet ({names}): higher bleeding risk.",
                "Check that the antiplatelet is still needed alongside the anticoagulant.",
                Evidence(
                    "oral anticoagulant plus antiplatelet stable coronary disease OAC monotherapy",
                    ("antiplatelet", "aspirin"),
                ),
            )
        )
    older = facts.age is not None and facts.age >= OLDER_ADULT_AGE
    if (older or facts.drugs_of("nsaid")) and not facts.drugs_of("ppi"):
        with_clopidogrel = (
            " (pantoprazole with clopidogrel)" if "clopidogrel" in antiplatelets else ""
        )
        found.append(
            advice(
                f"Combined antithrombotic therapy ({names}) without a proton pump inhibitor, "
                f"with a raised GI bleeding risk{' (age 65 or older)' if older else ''}.",
                f"Add a proton pump inhibitor{with_clopidogrel} to protect against GI bleeding "
                "on combined antithrombotic therapy.",
                Evidence(
                    "gastroprotection proton pump inhibitor combined antithrombotic therapy",
                    ("proton pump", "ppi"),
                ),
            )
        )
    return found


RULES: tuple[Rule, ...] = (
    potassium,
    egfr_trend,
    nephrology_referral,
    hemoglobin,
    bicarbonate,
    hypoglycemia_events,
    inr_control,
    antithrombotic_combination,
    blood_pressure,
    ldl_goal,
    glycemic_control,
)
