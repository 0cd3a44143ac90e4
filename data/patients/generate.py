"""Writes the synthetic patients of data/patients as FHIR R4 Bundles (pt-0001.json, ...).

    python data/patients/generate.py        # rewrites every pt-*.json next to this file
    python data/patients/generate.py DIR    # writes them, and expected/findings.json, in DIR

Every person here is invented. Each patient is built to need a guideline in data/guidelines
(see README.md for who is who). Codes are real: SNOMED CT and ICD-10-CM for problems, RxNorm
ingredients for drugs (the strength is in the dosage text), LOINC with UCUM units for results.
Creatinine is derived from the stated eGFR with the CKD-EPI 2021 equation, so the two agree.
The output is deterministic (ids from uuid5), so regenerating changes nothing unless this
file changed. The bundles vary on purpose, as real exports do: "collection" and "transaction"
bundles, urn:uuid and Patient/<id> references, MedicationStatement and MedicationRequest,
dosage as text or as structured dose and timing.

Beside each patient's definition sit its expected findings: what a good briefing must state
(``expect``: alerts and recommendations, each a subject, an action and a threshold) and must not
(``forbid``). They are written to expected/findings.json, which eval/briefings scores briefings
against (`make eval-briefings`); they never enter the bundles.
"""

# ruff: noqa: E501  (the code tables below keep one entry per line)
from __future__ import annotations

import json
import sys
import uuid
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

OUT = Path(__file__).parent
# Not a *.json beside the bundles: `make seed` loads every *.json of this folder.
EXPECTED_FINDINGS = Path("expected") / "findings.json"
NAMESPACE = uuid.UUID("0f4c3a52-6d0e-4b7f-9a51-2f1c8e7d3b90")

SNOMED = "http://snomed.info/sct"
ICD10_CM = "http://hl7.org/fhir/sid/icd-10-cm"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"

# fmt: off
# --- Problems: (SNOMED code, SNOMED display, ICD-10-CM code, ICD-10-CM display) -------------
T2DM = ("44054006", "Diabetes mellitus type 2", "E11.9", "Type 2 diabetes mellitus without complications")
T2DM_CKD = ("44054006", "Diabetes mellitus type 2", "E11.22", "Type 2 diabetes mellitus with diabetic chronic kidney disease")
T2DM_NEURO = ("230572002", "Diabetic neuropathy", "E11.42", "Type 2 diabetes mellitus with diabetic polyneuropathy")
HYPOGLYCEMIA = ("302866003", "Hypoglycemia", "E11.649", "Type 2 diabetes mellitus with hypoglycemia without coma")
CKD3A = ("700378005", "Chronic kidney disease stage 3A", "N18.31", "Chronic kidney disease, stage 3a")
CKD3B = ("700379002", "Chronic kidney disease stage 3B", "N18.32", "Chronic kidney disease, stage 3b")
CKD4 = ("431857002", "Chronic kidney disease stage 4", "N18.4", "Chronic kidney disease, stage 4 (severe)")
HTN = ("59621000", "Essential hypertension", "I10", "Essential (primary) hypertension")
HFREF = ("703272007", "Heart failure with reduced ejection fraction", "I50.22", "Chronic systolic (congestive) heart failure")
HFPEF = ("446221000", "Heart failure with normal ejection fraction", "I50.32", "Chronic diastolic (congestive) heart failure")
AF = ("49436004", "Atrial fibrillation", "I48.91", "Unspecified atrial fibrillation")
HYPERKALEMIA = ("14140009", "Hyperkalemia", "E87.5", "Hyperkalemia")
HYPERLIPIDEMIA = ("55822004", "Hyperlipidemia", "E78.5", "Hyperlipidemia, unspecified")
HYPERCHOL = ("13644009", "Hypercholesterolemia", "E78.00", "Pure hypercholesterolemia, unspecified")
CAD = ("53741008", "Coronary arteriosclerosis", "I25.10", "Atherosclerotic heart disease of native coronary artery without angina pectoris")
OLD_MI = ("1755008", "Old myocardial infarction", "I25.2", "Old myocardial infarction")
NSTEMI = ("401314000", "Acute non-ST segment elevation myocardial infarction", "I21.4", "Non-ST elevation (NSTEMI) myocardial infarction")
MYALGIA = ("68962001", "Muscle pain", "M79.10", "Myalgia, unspecified site")
OA_KNEE = ("239873007", "Osteoarthritis of knee", "M17.0", "Bilateral primary osteoarthritis of knee")
PHN = ("2177002", "Postherpetic neuralgia", "B02.29", "Other postherpetic nervous system involvement")
DIZZINESS = ("404640003", "Dizziness", "R42", "Dizziness and giddiness")
FALLS = ("161898004", "Falls", "Z91.81", "History of falling")
OBESITY = ("414916001", "Obesity", "E66.9", "Obesity, unspecified")
HYPOTHYROID = ("40930008", "Hypothyroidism", "E03.9", "Hypothyroidism, unspecified")
EDEMA = ("267038008", "Edema", "R60.0", "Localized edema")
GOUT = ("90560007", "Gout", "M10.9", "Gout, unspecified")
ANEMIA_CKD = ("271737000", "Anemia", "D63.1", "Anemia in chronic kidney disease")
TIA = ("266257000", "Transient ischemic attack", "Z86.73", "Personal history of transient ischemic attack (TIA), and cerebral infarction without residual deficits")

# --- Drugs: (RxNorm ingredient code, display) ------------------------------------------------
METFORMIN = ("6809", "metformin")
GLIPIZIDE = ("4821", "glipizide")
GLYBURIDE = ("4815", "glyburide")
SITAGLIPTIN = ("593411", "sitagliptin")
EMPAGLIFLOZIN = ("1545653", "empagliflozin")
DAPAGLIFLOZIN = ("1488564", "dapagliflozin")
SEMAGLUTIDE = ("1991302", "semaglutide")
GLARGINE = ("274783", "insulin glargine")
LISINOPRIL = ("29046", "lisinopril")
LOSARTAN = ("52175", "losartan")
SACUBITRIL_VALSARTAN = ("1656328", "sacubitril / valsartan")
CARVEDILOL = ("20352", "carvedilol")
METOPROLOL = ("6918", "metoprolol")
SPIRONOLACTONE = ("9997", "spironolactone")
FUROSEMIDE = ("4603", "furosemide")
HCTZ = ("5487", "hydrochlorothiazide")
AMLODIPINE = ("17767", "amlodipine")
DILTIAZEM = ("3443", "diltiazem")
APIXABAN = ("1364430", "apixaban")
RIVAROXABAN = ("1114195", "rivaroxaban")
WARFARIN = ("11289", "warfarin")
ATORVASTATIN = ("83367", "atorvastatin")
EZETIMIBE = ("341248", "ezetimibe")
IBUPROFEN = ("5640", "ibuprofen")
GABAPENTIN = ("25480", "gabapentin")
DIGOXIN = ("3407", "digoxin")
LEVOTHYROXINE = ("10582", "levothyroxine")
ASPIRIN = ("1191", "aspirin")
CLOPIDOGREL = ("32968", "clopidogrel")
SODIUM_BICARBONATE = ("36676", "sodium bicarbonate")
ALLOPURINOL = ("519", "allopurinol")
ACETAMINOPHEN = ("161", "acetaminophen")
OMEPRAZOLE = ("7646", "omeprazole")

# --- Results: kind -> (LOINC code, display, UCUM unit, category) ---------------------------
LABS: dict[str, tuple[str, str, str, str]] = {
    "hba1c": ("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "%", "laboratory"),
    "egfr": ("98979-8", "Glomerular filtration rate/1.73 sq M.predicted [Volume Rate/Area] in Serum, Plasma or Blood by Creatinine-based formula (CKD-EPI 2021)", "mL/min/{1.73_m2}", "laboratory"),
    "creatinine": ("2160-0", "Creatinine [Mass/volume] in Serum or Plasma", "mg/dL", "laboratory"),
    "potassium": ("2823-3", "Potassium [Moles/volume] in Serum or Plasma", "mmol/L", "laboratory"),
    "bicarbonate": ("1963-8", "Bicarbonate [Moles/volume] in Serum or Plasma", "mmol/L", "laboratory"),
    "ldl": ("13457-7", "Cholesterol in LDL [Mass/volume] in Serum or Plasma by calculation", "mg/dL", "laboratory"),
    "uacr": ("9318-7", "Albumin/Creatinine [Mass Ratio] in Urine", "mg/g", "laboratory"),
    "glucose": ("41653-7", "Glucose [Mass/volume] in Capillary blood by Glucometer", "mg/dL", "laboratory"),
    "inr": ("6301-6", "INR in Platelet poor plasma by Coagulation assay", "{INR}", "laboratory"),
    "nt_probnp": ("33762-6", "Natriuretic peptide.B prohormone N-Terminal [Mass/volume] in Serum or Plasma", "pg/mL", "laboratory"),
    "ck": ("2157-6", "Creatine kinase [Enzymatic activity/volume] in Serum or Plasma", "U/L", "laboratory"),
    "alt": ("1742-6", "Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma", "U/L", "laboratory"),
    "hemoglobin": ("718-7", "Hemoglobin [Mass/volume] in Blood", "g/dL", "laboratory"),
    "digoxin_level": ("10535-3", "Digoxin [Mass/volume] in Serum or Plasma", "ng/mL", "laboratory"),
    "lvef": ("10230-1", "Left ventricular Ejection fraction", "%", "imaging"),
    "weight": ("29463-7", "Body weight", "kg", "vital-signs"),
    "bmi": ("39156-5", "Body mass index (BMI) [Ratio]", "kg/m2", "vital-signs"),
    "heart_rate": ("8867-4", "Heart rate", "/min", "vital-signs"),
}
# fmt: on
BP_PANEL = ("85354-9", "Blood pressure panel with all children optional")
SYSTOLIC = ("8480-6", "Systolic blood pressure")
DIASTOLIC = ("8462-4", "Diastolic blood pressure")

Series = list[tuple[str, float]]


@dataclass
class Med:
    drug: tuple[str, str]
    dosage: str  # text, e.g. "1000 mg by mouth twice daily"
    status: str = "active"
    # Structured dosage instead of text: (dose, unit, times, per period, period unit).
    structured: tuple[float, str, int, int, str] | None = None


@dataclass
class AllergySpec:
    codings: list[tuple[str, str, str]]  # (system, code, display)
    reaction: tuple[str, str]  # SNOMED manifestation
    criticality: str
    kind: str = "allergy"
    recorded: str = "2020-01-01"


@dataclass
class PatientSpec:
    pid: str
    given: str
    family: str
    sex: str
    birth: str
    conditions: list[tuple[tuple[str, str, str, str], str]]  # (problem, onset)
    meds: list[Med]
    labs: dict[str, Series]
    bp: list[tuple[str, int, int]] = field(default_factory=list)
    allergies: list[AllergySpec] = field(default_factory=list)
    bundle_type: str = "collection"
    relative_refs: bool = False  # Patient/<id> instead of urn:uuid references
    med_requests: bool = False  # MedicationRequest instead of MedicationStatement
    # What a good briefing must say, and must not (expected/findings.json, not the bundle).
    expect: list[Expect] = field(default_factory=list)
    forbid: list[Forbid] = field(default_factory=list)


# --- Expected findings ------------------------------------------------------------------------
# Subjects, actions and units are the words of eval/briefings (lexicon.py, actions.py, text.py);
# "a|b" lists alternatives: any one subject, any one action, any one threshold will do.
@dataclass(frozen=True)
class Expect:
    """A finding a good briefing states in one sentence: an alert naming the subject and one of
    the thresholds (a value of the record), or a recommendation (or an alert) naming the subject,
    one of the actions and one of the thresholds."""

    key: str
    kind: str  # "alert" | "recommendation"
    subjects: str
    actions: str = ""
    thresholds: str = ""
    note: str = ""


@dataclass(frozen=True)
class Forbid:
    """A statement a good briefing does not make: a subject with one of the actions, or, for a
    condition the patient does not have, advice addressed to people with it."""

    key: str
    subjects: str
    actions: str = ""
    note: str = ""


def alert(key: str, subjects: str, thresholds: str = "", note: str = "") -> Expect:
    return Expect(key, "alert", subjects, "", thresholds, note)


def rec(key: str, subjects: str, actions: str, thresholds: str = "", note: str = "") -> Expect:
    return Expect(key, "recommendation", subjects, actions, thresholds, note)


def metformin_30_44(egfr: int) -> list[Expect]:
    """KDIGO 2022: halve metformin (at most 1,000 mg/day) at eGFR 30-44, stop below 30."""
    return [
        rec(
            "metformin-reduce",
            "metformin",
            "reduce",
            "1000 mg|45|30-44",
            f"eGFR {egfr}: at most 1,000 mg/day below 45",
        ),
        rec(
            "metformin-stop-below-30",
            "metformin",
            "stop|avoid",
            "30",
            "stop when eGFR falls below 30",
        ),
    ]


PENICILLIN_ANAPHYLAXIS = AllergySpec(
    codings=[(SNOMED, "373270004", "Penicillin -class of antibiotic-")],
    reaction=("39579001", "Anaphylaxis"),
    criticality="high",
    recorded="2012-05-14",
)
SULFONAMIDE_RASH = AllergySpec(
    codings=[(RXNORM, "10180", "sulfamethoxazole"), (SNOMED, "387406002", "Sulfonamide")],
    reaction=("271807003", "Eruption of skin"),
    criticality="low",
    recorded="2019-08-02",
)
ACEI_ANGIOEDEMA = AllergySpec(
    codings=[
        (RXNORM, "29046", "lisinopril"),
        (SNOMED, "41549009", "Angiotensin-converting enzyme inhibitor"),
    ],
    reaction=("41291007", "Angioedema"),
    criticality="high",
    recorded="2024-03-22",
)
ATORVASTATIN_MYALGIA = AllergySpec(
    codings=[(RXNORM, "83367", "atorvastatin")],
    reaction=("68962001", "Muscle pain"),
    criticality="low",
    kind="intolerance",
    recorded="2024-11-05",
)
CODEINE_NAUSEA = AllergySpec(
    codings=[(RXNORM, "2670", "codeine")],
    reaction=("422587007", "Nausea"),
    criticality="low",
    kind="intolerance",
    recorded="2016-02-10",
)

# fmt: off
PATIENTS: list[PatientSpec] = [
    PatientSpec(
        "pt-0001", "Margaret", "Ellworth", "female", "1951-04-12",
        [(T2DM_CKD, "2009-06-01"), (CKD3B, "2025-09-16"), (HTN, "2004-01-15"), (HYPERLIPIDEMIA, "2010-03-20")],
        [
            Med(METFORMIN, "1000 mg by mouth twice daily"),
            Med(LISINOPRIL, "20 mg by mouth once daily"),
            Med(ATORVASTATIN, "40 mg by mouth once daily"),
        ],
        {
            "egfr": [("2025-02-11", 52), ("2025-09-16", 41), ("2026-04-21", 34)],
            "hba1c": [("2025-02-11", 7.4), ("2025-09-16", 7.8), ("2026-04-21", 8.1)],
            "uacr": [("2025-02-11", 180), ("2025-09-16", 240), ("2026-04-21", 310)],
            "potassium": [("2025-02-11", 4.6), ("2025-09-16", 4.8), ("2026-04-21", 5.0)],
            "ldl": [("2025-02-11", 88), ("2026-04-21", 92)],
            "weight": [("2025-02-11", 78.0), ("2025-09-16", 77.4), ("2026-04-21", 76.9)],
        },
        bp=[("2025-02-11", 138, 82), ("2025-09-16", 142, 84), ("2026-04-21", 146, 86)],
        expect=[
            *metformin_30_44(34),
            alert("egfr-decline", "egfr", "34", "eGFR 52 -> 41 -> 34 over 14 months"),
            rec("sglt2i-start", "sglt2i", "start", "", "T2D with CKD, eGFR >= 20: add an SGLT2 inhibitor"),
            rec("acei-maximise", "lisinopril|acei|ras_blocker", "increase", "", "UACR 180 -> 310 mg/g on lisinopril 20 mg: titrate to the highest tolerated dose"),
        ],
        forbid=[
            Forbid("no-mra-advice", "mra", "reduce|stop|monitor|continue|increase", "she takes no MRA"),
            Forbid("no-ascvd-premise", "ascvd", "", "she has no ASCVD"),
        ],
    ),
    PatientSpec(
        "pt-0002", "Raymond", "Tolliver", "male", "1958-09-03",
        [(T2DM_CKD, "2011-02-14"), (CKD3B, "2026-02-18"), (HTN, "2012-07-09"), (OBESITY, "2011-02-14")],
        [
            Med(METFORMIN, "", structured=(1000, "mg", 2, 1, "d")),
            Med(GLIPIZIDE, "", structured=(10, "mg", 2, 1, "d")),
        ],
        {
            "egfr": [("2025-01-22", 58), ("2025-07-30", 47), ("2026-02-18", 39), ("2026-08-25", 37)],
            "hba1c": [("2025-01-22", 8.6), ("2025-07-30", 8.9), ("2026-02-18", 9.1)],
            "uacr": [("2025-01-22", 420), ("2026-02-18", 510)],
            "potassium": [("2025-07-30", 4.5), ("2026-08-25", 4.7)],
            "weight": [("2025-01-22", 112.0), ("2026-02-18", 113.5)],
            "bmi": [("2025-01-22", 36.6), ("2026-02-18", 37.1)],
        },
        bp=[("2025-01-22", 148, 88), ("2025-07-30", 152, 90), ("2026-02-18", 150, 86)],
        med_requests=True,
        expect=[
            *metformin_30_44(37),
            alert("uacr-high", "uacr", "510", "UACR 510 mg/g"),
            rec("ras-start", "ras_blocker|acei|arb", "start", "", "albuminuria with no ACE inhibitor or ARB"),
            rec("sglt2i-start", "sglt2i", "start", "", "T2D with CKD, eGFR >= 20"),
            alert("hba1c-high", "hba1c", "9.1", "HbA1c 9.1%"),
            alert("bp-high", "systolic_bp", "150", "BP 150/86"),
        ],
    ),
    PatientSpec(
        "pt-0003", "Linh", "Castellanos", "female", "1966-02-27",
        [(T2DM_CKD, "2014-10-03"), (CKD3A, "2024-11-12"), (HTN, "2015-05-30")],
        [
            Med(METFORMIN, "1000 mg by mouth twice daily with meals"),
            Med(EMPAGLIFLOZIN, "10 mg by mouth once daily (started June 2025)"),
            Med(LOSARTAN, "50 mg by mouth once daily"),
        ],
        {
            "egfr": [("2025-03-04", 48), ("2025-08-12", 44), ("2026-01-20", 45), ("2026-07-14", 42)],
            "hba1c": [("2025-03-04", 7.3), ("2025-08-12", 7.0), ("2026-01-20", 7.1)],
            "uacr": [("2025-03-04", 45), ("2026-01-20", 38)],
            "potassium": [("2025-03-04", 4.4), ("2026-07-14", 4.5)],
        },
        bp=[("2025-03-04", 132, 78), ("2026-01-20", 128, 76)],
        bundle_type="transaction",
        expect=[
            rec("metformin-reduce", "metformin", "reduce", "1000 mg|45|30-44", "eGFR 42: at most 1,000 mg/day below 45"),
            rec("sglt2i-continue", "empagliflozin|sglt2i", "continue", "", "the eGFR dip after starting an SGLT2 inhibitor is expected"),
        ],
        forbid=[Forbid("keep-sglt2i", "empagliflozin|sglt2i", "stop", "an expected eGFR dip is no reason to stop it")],
    ),
    PatientSpec(
        "pt-0004", "Walter", "Brennagh", "male", "1949-11-08",
        [(HFREF, "2021-08-17"), (CKD3A, "2023-04-02"), (HTN, "2005-09-11")],
        [
            Med(SACUBITRIL_VALSARTAN, "97 mg/103 mg by mouth twice daily"),
            Med(CARVEDILOL, "25 mg by mouth twice daily with food"),
            Med(SPIRONOLACTONE, "25 mg by mouth once daily"),
            Med(DAPAGLIFLOZIN, "10 mg by mouth once daily"),
            Med(FUROSEMIDE, "40 mg by mouth once daily"),
        ],
        {
            "potassium": [("2025-03-18", 4.7), ("2025-10-07", 4.9), ("2026-06-09", 5.4)],
            "egfr": [("2025-03-18", 55), ("2025-10-07", 50), ("2026-06-09", 48)],
            "nt_probnp": [("2025-03-18", 2400), ("2025-10-07", 1850), ("2026-06-09", 2100)],
            "lvef": [("2025-03-18", 30)],
            "heart_rate": [("2025-10-07", 64), ("2026-06-09", 62)],
            "weight": [("2025-03-18", 88.0), ("2025-10-07", 89.5), ("2026-06-09", 91.0)],
        },
        bp=[("2025-03-18", 114, 70), ("2025-10-07", 110, 68), ("2026-06-09", 108, 66)],
        relative_refs=True,
        expect=[
            alert("potassium-rising", "potassium", "5.4", "potassium 4.7 -> 5.4 on spironolactone"),
            rec("mra-potassium", "spironolactone|mra", "reduce|monitor", "5.5|5.0-5.5|5", "potassium 5.0-5.5 on an MRA: halve the dose, monitor closely"),
        ],
    ),
    PatientSpec(
        "pt-0005", "Dolores", "Whitcombe", "female", "1944-06-30",
        [(HFREF, "2019-02-25"), (CKD3B, "2024-07-19"), (T2DM, "2006-11-03"), (HYPERKALEMIA, "2026-05-12")],
        [
            Med(SACUBITRIL_VALSARTAN, "49 mg/51 mg by mouth twice daily"),
            Med(METOPROLOL, "metoprolol succinate 50 mg extended-release by mouth once daily"),
            Med(SPIRONOLACTONE, "25 mg by mouth once daily"),
            Med(FUROSEMIDE, "40 mg by mouth twice daily"),
            Med(GLARGINE, "18 units subcutaneously at bedtime"),
        ],
        {
            "potassium": [("2025-04-22", 5.1), ("2025-11-04", 5.3), ("2026-05-12", 5.6)],
            "egfr": [("2025-04-22", 38), ("2025-11-04", 35), ("2026-05-12", 31)],
            "hba1c": [("2025-04-22", 7.6), ("2026-05-12", 7.4)],
            "lvef": [("2025-04-22", 35)],
            "nt_probnp": [("2025-11-04", 3100)],
            "weight": [("2025-04-22", 70.5), ("2026-05-12", 71.8)],
        },
        bp=[("2025-04-22", 118, 64), ("2026-05-12", 112, 62)],
        med_requests=True,
        expect=[
            alert("potassium-high", "potassium", "5.6", "potassium 5.1 -> 5.6"),
            rec("mra-stop", "spironolactone|mra", "stop", "5.5", "potassium above 5.5 on an MRA: hold or stop it"),
            rec("binder-start", "potassium_binder", "start", "", "a potassium binder to keep RAAS inhibition"),
        ],
    ),
    PatientSpec(
        "pt-0006", "Harold", "Feeney", "male", "1942-01-19",
        [(AF, "2020-05-06"), (HTN, "1998-03-12"), (CKD3B, "2025-06-03"), (TIA, "2020-04-28")],
        [
            Med(APIXABAN, "5 mg by mouth twice daily"),
            Med(METOPROLOL, "metoprolol tartrate 25 mg by mouth twice daily"),
            Med(AMLODIPINE, "5 mg by mouth once daily"),
        ],
        {
            "egfr": [("2025-06-03", 47), ("2025-12-09", 43), ("2026-06-16", 42)],
            "weight": [("2025-06-03", 61.2), ("2025-12-09", 59.4), ("2026-06-16", 58.1)],
            "hemoglobin": [("2025-12-09", 12.8), ("2026-06-16", 12.4)],
            "heart_rate": [("2026-06-16", 78)],
        },
        bp=[("2025-12-09", 134, 76), ("2026-06-16", 130, 74)],
        bundle_type="transaction",
        expect=[
            alert("apixaban-criteria", "apixaban", "5 mg", "apixaban 5 mg with age 84, 58 kg, creatinine 1.61"),
            rec("apixaban-reduce", "apixaban", "reduce", "2.5 mg", "two or more of age >= 80, weight <= 60 kg, creatinine >= 1.5: 2.5 mg twice daily"),
        ],
    ),
    PatientSpec(
        "pt-0007", "Agnes", "Pellegrino", "female", "1943-05-05",
        [(AF, "2018-09-21"), (HTN, "2001-06-14"), (CKD3B, "2025-05-20")],
        [
            Med(RIVAROXABAN, "20 mg by mouth once daily with the evening meal"),
            Med(DILTIAZEM, "diltiazem extended-release 180 mg by mouth once daily"),
        ],
        {
            "egfr": [("2025-05-20", 45), ("2025-11-18", 41), ("2026-05-26", 40)],
            "weight": [("2025-05-20", 63.4), ("2026-05-26", 62.0)],
            "hemoglobin": [("2026-05-26", 11.9)],
        },
        bp=[("2025-11-18", 136, 72), ("2026-05-26", 138, 74)],
        expect=[
            alert("rivaroxaban-dose", "rivaroxaban", "20 mg", "rivaroxaban 20 mg with CrCl about 32 mL/min"),
            rec("rivaroxaban-reduce", "rivaroxaban", "reduce", "15 mg", "CrCl 15-50 mL/min: 15 mg daily"),
            rec("apixaban-prefer", "apixaban", "start|switch", "", "Beers prefers apixaban in older adults"),
        ],
    ),
    PatientSpec(
        "pt-0008", "Clarence", "Obuya", "male", "1950-12-14",
        [(AF, "2017-03-08"), (T2DM, "2013-08-19"), (HTN, "2009-01-27")],
        [
            Med(WARFARIN, "5 mg by mouth daily except 2.5 mg on Sundays; INR goal 2.0-3.0"),
            Med(METFORMIN, "500 mg by mouth twice daily"),
            Med(LISINOPRIL, "10 mg by mouth once daily"),
        ],
        {
            "inr": [
                ("2025-05-06", 1.7), ("2025-06-03", 3.4), ("2025-07-01", 2.1), ("2025-08-12", 4.2),
                ("2025-10-07", 1.8), ("2026-01-13", 3.6), ("2026-03-10", 2.4), ("2026-05-05", 1.6),
            ],
            "egfr": [("2025-05-06", 68), ("2026-03-10", 66)],
            "hba1c": [("2025-05-06", 7.0), ("2026-03-10", 6.9)],
        },
        bp=[("2025-05-06", 128, 78), ("2026-03-10", 130, 80)],
        relative_refs=True,
        med_requests=True,
        expect=[
            alert("inr-labile", "inr", "1.6|4.2|1.7|3.4|1.8|3.6", "six of eight INR values outside 2.0-3.0"),
            rec("doac-switch", "doac|apixaban|rivaroxaban|edoxaban|dabigatran", "start|switch", "", "poor time in range, eGFR 66: consider a DOAC"),
        ],
    ),
    PatientSpec(
        "pt-0009", "Yvonne", "Baptiste", "female", "1955-08-21",
        [(HTN, "2003-10-02"), (OBESITY, "2008-04-15"), (CKD3A, "2026-01-27")],
        [
            Med(AMLODIPINE, "10 mg by mouth once daily"),
            Med(LOSARTAN, "100 mg by mouth once daily"),
            Med(HCTZ, "25 mg by mouth once daily"),
        ],
        {
            "potassium": [("2025-03-25", 3.4), ("2026-01-27", 3.5)],
            "egfr": [("2025-03-25", 62), ("2026-01-27", 58)],
            "uacr": [("2025-03-25", 85), ("2026-01-27", 96)],
            "weight": [("2025-03-25", 94.0), ("2026-01-27", 95.2)],
            "bmi": [("2026-01-27", 34.9)],
        },
        bp=[("2025-03-25", 162, 94), ("2025-07-08", 158, 92), ("2025-11-18", 165, 96), ("2026-01-27", 160, 95)],
        expect=[
            alert("bp-high", "systolic_bp", "160", "BP about 160/95 on three drugs"),
            rec("spironolactone-add", "spironolactone|mra", "start", "", "resistant hypertension: add spironolactone"),
            rec("chlorthalidone", "chlorthalidone", "start|switch", "", "consider chlorthalidone in place of hydrochlorothiazide"),
            rec("adherence", "adherence", "monitor", "", "check adherence before adding drugs"),
        ],
    ),
    PatientSpec(
        "pt-0010", "Desmond", "Achterberg", "male", "1961-03-09",
        [(CAD, "2023-02-10"), (OLD_MI, "2023-02-10"), (HYPERCHOL, "2015-06-22"), (MYALGIA, "2024-11-05")],
        [
            Med(ATORVASTATIN, "40 mg by mouth once daily (stopped for muscle pain)", status="stopped"),
            Med(EZETIMIBE, "10 mg by mouth once daily"),
            Med(ASPIRIN, "81 mg by mouth once daily"),
            Med(METOPROLOL, "metoprolol succinate 25 mg extended-release by mouth once daily"),
        ],
        {
            "ldl": [("2025-02-18", 182), ("2025-08-26", 165), ("2026-05-19", 158)],
            "ck": [("2025-02-18", 142)],
            "alt": [("2025-02-18", 24)],
        },
        bp=[("2025-08-26", 126, 78)],
        allergies=[ATORVASTATIN_MYALGIA],
        bundle_type="transaction",
        expect=[
            alert("ldl-high", "ldl", "158", "LDL 182 -> 158 mg/dL on ezetimibe alone"),
            rec("statin-rechallenge", "statin", "start|switch", "", "rechallenge, or another statin at a low dose"),
            rec("pcsk9i", "pcsk9i", "start", "", "PCSK9 inhibitor"),
            rec("bempedoic-acid", "bempedoic_acid", "start", "", "bempedoic acid"),
        ],
    ),
    PatientSpec(
        "pt-0011", "Priya", "Venkataram", "female", "1970-10-17",
        [(T2DM, "2016-05-11"), (HTN, "2017-09-04"), (CKD3A, "2025-10-21")],
        [
            Med(METFORMIN, "500 mg by mouth twice daily"),
            Med(LISINOPRIL, "10 mg by mouth once daily"),
        ],
        {
            "egfr": [("2025-04-15", 55), ("2025-10-21", 51)],
            "hba1c": [("2025-04-15", 7.2), ("2025-10-21", 7.1)],
            "uacr": [("2025-10-21", 34)],
        },
        bp=[("2025-10-21", 132, 80)],
        allergies=[PENICILLIN_ANAPHYLAXIS],
        expect=[alert("penicillin-anaphylaxis", "penicillin_allergy", "", "penicillin anaphylaxis, high criticality")],
    ),
    PatientSpec(
        "pt-0012", "Eustace", "Marlowe", "male", "1953-07-25",
        [(HFPEF, "2022-01-18"), (CKD3A, "2023-09-07"), (EDEMA, "2025-06-24"), (GOUT, "2019-11-30")],
        [
            Med(FUROSEMIDE, "40 mg by mouth once daily"),
            Med(ALLOPURINOL, "100 mg by mouth once daily"),
            Med(LOSARTAN, "50 mg by mouth once daily"),
            Med(EMPAGLIFLOZIN, "10 mg by mouth once daily"),
        ],
        {
            "egfr": [("2025-06-24", 52), ("2026-02-03", 49)],
            "potassium": [("2025-06-24", 4.2), ("2026-02-03", 4.3)],
            "weight": [("2025-06-24", 96.0), ("2026-02-03", 94.2)],
        },
        bp=[("2025-06-24", 136, 78), ("2026-02-03", 130, 76)],
        allergies=[SULFONAMIDE_RASH],
        relative_refs=True,
        expect=[
            alert("sulfonamide-allergy", "sulfonamide_allergy", "", "sulfamethoxazole rash while on furosemide"),
            rec("furosemide-continue", "furosemide|sulfonamide_allergy", "continue", "", "low cross-reactivity with non-antibiotic sulfonamides"),
            rec("sglt2i-hfpef", "empagliflozin|sglt2i", "continue|start", "", "an SGLT2 inhibitor in HFpEF (he takes empagliflozin)"),
        ],
        forbid=[Forbid("keep-furosemide", "furosemide|loop_diuretic", "stop|avoid", "a sulfonamide antibiotic rash is no reason to stop furosemide")],
    ),
    PatientSpec(
        "pt-0013", "Rosalind", "Aguirre", "female", "1960-01-30",
        [(T2DM_CKD, "2012-12-05"), (HTN, "2010-02-16"), (OBESITY, "2012-12-05")],
        [
            Med(AMLODIPINE, "10 mg by mouth once daily"),
            Med(METFORMIN, "1000 mg by mouth twice daily"),
            Med(SEMAGLUTIDE, "1 mg subcutaneously once weekly"),
        ],
        {
            "uacr": [("2025-05-13", 520), ("2026-03-24", 610)],
            "egfr": [("2025-05-13", 64), ("2026-03-24", 60)],
            "hba1c": [("2025-05-13", 7.5), ("2026-03-24", 7.2)],
            "potassium": [("2026-03-24", 4.3)],
        },
        bp=[("2025-05-13", 144, 86), ("2026-03-24", 146, 88)],
        allergies=[ACEI_ANGIOEDEMA],
        med_requests=True,
        expect=[
            alert("acei-angioedema", "acei_angioedema", "", "angioedema on lisinopril"),
            rec("acei-avoid", "acei", "avoid", "", "no ACE inhibitor after ACE-inhibitor angioedema"),
            rec("arni-avoid", "sacubitril_valsartan|arni", "avoid", "", "sacubitril/valsartan is contraindicated after ACE-inhibitor angioedema"),
            rec("arb-caution", "arb", "start", "", "an ARB is possible with caution: albuminuria is untreated by RAS blockade"),
        ],
        forbid=[
            Forbid("no-acei", "acei", "start|continue", "ACE-inhibitor angioedema"),
            Forbid("no-arni", "sacubitril_valsartan|arni", "start|continue", "ACE-inhibitor angioedema"),
        ],
    ),
    PatientSpec(
        "pt-0014", "Ignatius", "Varga", "male", "1948-04-04",
        [(CKD4, "2024-02-20"), (T2DM_CKD, "2002-07-15"), (HTN, "1999-05-03"), (HYPERKALEMIA, "2025-12-02"), (ANEMIA_CKD, "2026-06-30")],
        [
            Med(LISINOPRIL, "40 mg by mouth once daily"),
            Med(FUROSEMIDE, "40 mg by mouth once daily"),
            Med(GLARGINE, "14 units subcutaneously at bedtime"),
            Med(SODIUM_BICARBONATE, "650 mg by mouth twice daily"),
        ],
        {
            "egfr": [("2025-06-10", 24), ("2025-12-02", 21), ("2026-06-30", 19)],
            "potassium": [("2025-06-10", 5.6), ("2025-12-02", 5.8), ("2026-06-30", 6.1)],
            "bicarbonate": [("2025-12-02", 19), ("2026-06-30", 18)],
            "hemoglobin": [("2025-12-02", 10.1), ("2026-06-30", 9.4)],
            "uacr": [("2025-06-10", 890)],
            "hba1c": [("2025-12-02", 7.3)],
        },
        bp=[("2025-12-02", 148, 82), ("2026-06-30", 150, 84)],
        bundle_type="transaction",
        expect=[
            alert("potassium-severe", "potassium", "6.1", "potassium 5.6 -> 6.1 on lisinopril 40 mg"),
            rec("binder-start", "potassium_binder", "start", "", "treat hyperkalemia with a binder while keeping RAS blockade"),
            rec("ras-keep", "lisinopril|acei|ras_blocker", "continue", "", "keep RAS blockade where possible"),
            rec("nephrology", "nephrology", "refer", "", "eGFR 19: refer to nephrology"),
            alert("anemia", "hemoglobin", "9.4", "haemoglobin 9.4 g/dL"),
            alert("acidosis", "bicarbonate", "18", "bicarbonate 18 mmol/L"),
        ],
    ),
    PatientSpec(
        "pt-0015", "Beatrix", "Holloway", "female", "1952-09-12",
        [(OA_KNEE, "2018-03-27"), (HTN, "2006-08-08"), (CKD3A, "2025-04-08")],
        [
            Med(IBUPROFEN, "600 mg by mouth three times daily for knee pain (since November 2025)"),
            Med(LISINOPRIL, "20 mg by mouth once daily"),
            Med(HCTZ, "25 mg by mouth once daily"),
        ],
        {
            "egfr": [("2025-04-08", 52), ("2025-10-14", 49), ("2026-02-24", 37)],
            "potassium": [("2025-10-14", 4.6), ("2026-02-24", 5.1)],
        },
        bp=[("2025-10-14", 134, 80), ("2026-02-24", 142, 84)],
        expect=[
            alert("nsaid-triple-whammy", "ibuprofen|nsaid", "", "ibuprofen with lisinopril and hydrochlorothiazide"),
            rec("nsaid-stop", "ibuprofen|nsaid", "stop|avoid", "", "stop the NSAID"),
            alert("egfr-decline", "egfr", "37", "eGFR 49 -> 37 after starting the NSAID"),
        ],
    ),
    PatientSpec(
        "pt-0016", "Archibald", "Nwosu", "male", "1941-12-02",
        [(T2DM, "1997-04-22"), (HYPOGLYCEMIA, "2026-03-02"), (FALLS, "2026-05-19"), (CKD3A, "2023-10-10")],
        [
            Med(GLYBURIDE, "10 mg by mouth twice daily"),
            Med(METFORMIN, "500 mg by mouth twice daily"),
        ],
        {
            "hba1c": [("2025-06-17", 6.4), ("2025-12-16", 6.1), ("2026-05-19", 5.9)],
            "glucose": [("2026-03-02", 52), ("2026-05-19", 48)],
            "egfr": [("2025-06-17", 50), ("2025-12-16", 48), ("2026-05-19", 46)],
            "weight": [("2025-06-17", 68.0), ("2026-05-19", 66.1)],
        },
        bp=[("2026-05-19", 124, 70)],
        relative_refs=True,
        med_requests=True,
        expect=[
            alert("hypoglycemia", "glucose", "52|48", "capillary glucose 52 and 48 mg/dL"),
            rec("glyburide-stop", "glyburide|sulfonylurea", "stop|switch|avoid", "", "avoid glyburide in older adults and CKD"),
            rec("deintensify", "hba1c|glucose_lowering|glucose|diabetes", "deintensify|reduce", "", "HbA1c 5.9 with hypoglycemia: deintensify"),
        ],
    ),
    PatientSpec(
        "pt-0017", "Constance", "Ilyin", "female", "1957-02-14",
        [(T2DM_CKD, "2008-09-09"), (CKD4, "2026-06-02"), (HTN, "2007-01-23")],
        [
            Med(SITAGLIPTIN, "100 mg by mouth once daily"),
            Med(METFORMIN, "1000 mg by mouth twice daily (stopped December 2025)", status="stopped"),
            Med(GLARGINE, "20 units subcutaneously at bedtime"),
            Med(LOSARTAN, "50 mg by mouth once daily"),
        ],
        {
            "egfr": [("2025-05-13", 35), ("2025-11-25", 31), ("2026-06-02", 28)],
            "hba1c": [("2025-11-25", 7.9), ("2026-06-02", 8.2)],
            "potassium": [("2026-06-02", 4.9)],
            "uacr": [("2026-06-02", 340)],
        },
        bp=[("2026-06-02", 138, 80)],
        bundle_type="transaction",
        expect=[
            alert("sitagliptin-dose", "sitagliptin", "100 mg", "sitagliptin 100 mg at eGFR 28"),
            rec("sitagliptin-reduce", "sitagliptin|dpp4i", "reduce", "25 mg", "eGFR below 30: 25 mg daily"),
        ],
        forbid=[Forbid("no-metformin-advice", "metformin", "reduce|continue|monitor|start", "metformin was stopped")],
    ),
    PatientSpec(
        "pt-0018", "Leopold", "Szabo", "male", "1954-06-06",
        [(T2DM_NEURO, "2019-07-16"), (PHN, "2024-09-03"), (CKD3B, "2025-02-25"), (DIZZINESS, "2026-04-14")],
        [
            Med(GABAPENTIN, "600 mg by mouth three times daily"),
            Med(METFORMIN, "500 mg by mouth twice daily"),
            Med(LISINOPRIL, "10 mg by mouth once daily"),
        ],
        {
            "egfr": [("2025-02-25", 36), ("2025-09-30", 33), ("2026-04-14", 29)],
            "hba1c": [("2025-09-30", 7.2)],
            "weight": [("2026-04-14", 82.0)],
        },
        bp=[("2026-04-14", 128, 76)],
        allergies=[CODEINE_NAUSEA],
        expect=[
            alert("gabapentin-dose", "gabapentin", "600 mg|1800 mg", "gabapentin 600 mg three times daily at eGFR 29"),
            rec("gabapentin-reduce", "gabapentin|gabapentinoid", "reduce", "60|30|700 mg|1400 mg|30-59|15-29", "reduce for kidney function; dizziness"),
            alert("codeine-intolerance", "codeine_intolerance", "", "codeine intolerance"),
            rec("metformin-stop", "metformin", "stop|avoid", "30", "metformin 500 mg twice daily at eGFR 29: stop below 30"),
        ],
    ),
    PatientSpec(
        "pt-0019", "Miriam", "Achebe-Stone", "female", "1947-03-18",
        [(AF, "2021-11-02"), (HFPEF, "2022-06-14"), (HTN, "2000-10-19")],
        [
            Med(APIXABAN, "5 mg by mouth twice daily"),
            Med(METOPROLOL, "metoprolol succinate 50 mg extended-release by mouth once daily"),
            Med(FUROSEMIDE, "20 mg by mouth once daily"),
        ],
        {
            "egfr": [("2025-07-15", 46), ("2026-04-28", 45)],
            "weight": [("2025-07-15", 72.4), ("2026-04-28", 71.9)],
            "hemoglobin": [("2026-04-28", 12.9)],
        },
        bp=[("2026-04-28", 128, 74)],
        med_requests=True,
        expect=[
            rec("apixaban-correct", "apixaban", "continue", "5 mg", "no dose-reduction criterion met: 5 mg twice daily is right"),
            rec("apixaban-reassess-at-80", "apixaban", "monitor", "80", "reassess the dose when she turns 80"),
        ],
        forbid=[Forbid("no-apixaban-reduction", "apixaban", "reduce", "fewer than two criteria: reducing would underdose")],
    ),
    PatientSpec(
        "pt-0020", "Theodore", "Lund", "male", "1963-08-29",
        [(T2DM_CKD, "2015-03-03"), (OBESITY, "2015-03-03"), (CKD3A, "2025-09-09"), (HTN, "2016-12-12")],
        [
            Med(METFORMIN, "", structured=(1000, "mg", 2, 1, "d")),
            Med(LISINOPRIL, "", structured=(40, "mg", 1, 1, "d")),
        ],
        {
            "uacr": [("2025-02-04", 650), ("2025-09-09", 720)],
            "egfr": [("2025-02-04", 59), ("2025-09-09", 54)],
            "hba1c": [("2025-02-04", 8.4), ("2025-09-09", 8.6)],
            "bmi": [("2025-09-09", 36.2)],
            "weight": [("2025-09-09", 118.3)],
            "potassium": [("2025-09-09", 4.6)],
        },
        bp=[("2025-02-04", 136, 84), ("2025-09-09", 134, 82)],
        bundle_type="transaction",
        med_requests=True,
        expect=[
            rec("sglt2i-start", "sglt2i", "start", "", "T2D, CKD and albuminuria: add an SGLT2 inhibitor"),
            rec("glp1ra-start", "glp1ra", "start", "", "a GLP-1 receptor agonist (HbA1c 8.6, BMI 36)"),
            alert("hba1c-high", "hba1c", "8.6", "HbA1c 8.6%"),
        ],
    ),
    PatientSpec(
        "pt-0021", "Winifred", "Sandoval", "female", "1939-10-10",
        [(AF, "2012-02-29"), (HFPEF, "2019-05-21"), (CKD4, "2025-08-19"), (HYPOTHYROID, "1995-07-07"), (FALLS, "2026-01-08")],
        [
            Med(WARFARIN, "2.5 mg by mouth once daily; INR goal 2.0-3.0"),
            Med(DIGOXIN, "0.25 mg by mouth once daily"),
            Med(FUROSEMIDE, "20 mg by mouth once daily"),
            Med(LEVOTHYROXINE, "75 mcg by mouth once daily before breakfast"),
        ],
        {
            "egfr": [("2025-08-19", 27), ("2026-02-17", 26)],
            "inr": [("2025-08-19", 2.6), ("2025-11-11", 3.1), ("2026-02-17", 2.8)],
            "digoxin_level": [("2026-02-17", 2.1)],
            "potassium": [("2026-02-17", 4.1)],
            "weight": [("2026-02-17", 54.8)],
            "heart_rate": [("2026-02-17", 56)],
        },
        bp=[("2026-02-17", 124, 66)],
        expect=[
            alert("digoxin-level", "digoxin_level|digoxin", "2.1", "digoxin level 2.1 ng/mL"),
            rec("digoxin-reduce", "digoxin", "reduce|stop", "0.125 mg", "Beers: at most 0.125 mg/day"),
        ],
    ),
    PatientSpec(
        "pt-0022", "Benedikt", "Oyelaran", "male", "1968-11-23",
        [(CKD3A, "2025-04-29"), (HTN, "2014-06-10")],
        [Med(AMLODIPINE, "5 mg by mouth once daily")],
        {
            "uacr": [("2025-04-29", 350), ("2026-01-06", 410)],
            "egfr": [("2025-04-29", 57), ("2026-01-06", 55)],
            "ldl": [("2025-04-29", 145)],
            "potassium": [("2026-01-06", 4.4)],
            "hba1c": [("2025-04-29", 5.6)],
        },
        bp=[("2025-04-29", 142, 90), ("2026-01-06", 146, 92)],
        relative_refs=True,
        expect=[
            rec("ras-start", "ras_blocker|acei|arb", "start", "", "UACR 410 mg/g: ACE inhibitor or ARB"),
            rec("sglt2i-start", "sglt2i", "start", "", "SGLT2 inhibitor for CKD without diabetes"),
            rec("statin-start", "statin", "start", "", "statin for CKD at 50 or older (LDL 145, no statin)"),
            alert("bp-high", "systolic_bp", "146", "BP 146/92 on amlodipine alone"),
            alert("uacr-high", "uacr", "410", "UACR 350 -> 410 mg/g"),
        ],
        forbid=[Forbid("no-diabetes-premise", "diabetes", "", "he has no diabetes")],
    ),
    PatientSpec(
        "pt-0023", "Georgina", "Faulkner", "female", "1958-05-15",
        [(T2DM_CKD, "2010-01-19"), (HTN, "2011-03-08"), (CKD3B, "2025-12-09")],
        [
            Med(METFORMIN, "1000 mg by mouth twice daily"),
            Med(LISINOPRIL, "10 mg by mouth once daily"),
        ],
        {
            "egfr": [("2025-06-10", 45), ("2025-12-09", 38), ("2026-06-23", 32)],
            "hba1c": [("2025-06-10", 7.0), ("2026-06-23", 7.2)],
            "uacr": [("2026-06-23", 120)],
        },
        bp=[("2025-12-09", 134, 82), ("2026-06-23", 136, 80)],
        med_requests=True,
        expect=[
            *metformin_30_44(32),
            alert("egfr-decline", "egfr", "32", "eGFR 45 -> 38 -> 32"),
        ],
    ),
    PatientSpec(
        "pt-0024", "Ruben", "Castellano", "male", "1955-02-07",
        [(AF, "2022-10-14"), (CAD, "2026-03-09"), (NSTEMI, "2026-03-09"), (HTN, "2008-05-20")],
        [
            Med(APIXABAN, "5 mg by mouth twice daily"),
            Med(ASPIRIN, "81 mg by mouth once daily (since stent, March 2026)"),
            Med(CLOPIDOGREL, "75 mg by mouth once daily (since stent, March 2026)"),
            Med(ATORVASTATIN, "80 mg by mouth once daily"),
            Med(METOPROLOL, "metoprolol succinate 50 mg extended-release by mouth once daily"),
        ],
        {
            "hemoglobin": [("2026-03-12", 12.1), ("2026-07-21", 11.4), ("2026-10-20", 10.9)],
            "egfr": [("2026-03-12", 72), ("2026-10-20", 70)],
            "ldl": [("2026-03-12", 118), ("2026-07-21", 64)],
            "weight": [("2026-10-20", 84.0)],
        },
        bp=[("2026-07-21", 124, 76), ("2026-10-20", 122, 74)],
        bundle_type="transaction",
        expect=[
            alert("triple-therapy", "triple_therapy|aspirin", "", "apixaban + aspirin + clopidogrel seven months after PCI"),
            rec("aspirin-stop", "aspirin", "stop", "30 days|1 week|7 days|1 month|4 weeks", "aspirin for at most 30 days after PCI"),
            rec("keep-doac-clopidogrel", "clopidogrel|p2y12|apixaban|doac", "continue", "", "keep the DOAC and clopidogrel"),
            rec("ppi", "ppi", "start", "", "a proton pump inhibitor while on combined antithrombotic therapy"),
            alert("hemoglobin-falling", "hemoglobin", "10.9", "haemoglobin 12.1 -> 10.9 g/dL"),
        ],
        forbid=[Forbid("keep-anticoagulant", "apixaban|doac|anticoagulant", "stop", "AF needs the anticoagulant after PCI")],
    ),
]
# fmt: on


def age_on(birth: str, day: str) -> int:
    b, d = date.fromisoformat(birth), date.fromisoformat(day)
    return d.year - b.year - ((d.month, d.day) < (b.month, b.day))


def creatinine_for(egfr: float, age: int, sex: str) -> float:
    """Serum creatinine (mg/dL) giving ``egfr`` by CKD-EPI 2021, found by bisection."""
    female = sex == "female"
    kappa, alpha = (0.7, -0.241) if female else (0.9, -0.302)

    def ckd_epi(scr: float) -> float:
        ratio = scr / kappa
        value: float = 142 * min(ratio, 1) ** alpha * max(ratio, 1) ** -1.200 * 0.9938**age
        return value * (1.012 if female else 1.0)

    low, high = 0.2, 15.0
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if ckd_epi(middle) > egfr else (low, middle)
    return round((low + high) / 2, 2)


class BundleWriter:
    """Builds one patient's Bundle."""

    def __init__(self, spec: PatientSpec) -> None:
        self.spec = spec
        self.entries: list[dict[str, Any]] = []
        self.patient_url = self.url("Patient", 0)
        self.subject = {
            "reference": f"Patient/{spec.pid}" if spec.relative_refs else self.patient_url
        }

    def url(self, kind: str, n: int) -> str:
        return f"urn:uuid:{uuid.uuid5(NAMESPACE, f'{self.spec.pid}/{kind}/{n}')}"

    def add(self, resource: dict[str, Any]) -> None:
        kind = resource["resourceType"]
        n = sum(1 for e in self.entries if e["resource"]["resourceType"] == kind)
        entry: dict[str, Any] = {
            "fullUrl": self.patient_url if kind == "Patient" else self.url(kind, n),
            "resource": resource,
        }
        if self.spec.bundle_type == "transaction":
            entry["request"] = (
                {"method": "PUT", "url": f"Patient/{self.spec.pid}"}
                if kind == "Patient"
                else {"method": "POST", "url": kind}
            )
        self.entries.append(entry)

    def bundle(self) -> dict[str, Any]:
        spec = self.spec
        self.add(
            {
                "resourceType": "Patient",
                "id": spec.pid,
                "meta": {
                    "tag": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
                            "code": "HTEST",
                            "display": "test health data",
                        }
                    ]
                },
                "identifier": [
                    {"system": "urn:example:briefing-demo:mrn", "value": f"MRN-{spec.pid[3:]}"}
                ],
                "name": [{"use": "official", "family": spec.family, "given": [spec.given]}],
                "gender": spec.sex,
                "birthDate": spec.birth,
            }
        )
        for problem, onset in spec.conditions:
            self.add(self.condition(problem, onset))
        for med in spec.meds:
            self.add(self.medication(med))
        for allergy in spec.allergies:
            self.add(self.allergy(allergy))
        for index, (kind, series) in enumerate(spec.labs.items()):
            for n, (day, value) in enumerate(series):
                self.add(self.observation(kind, day, value, hour=8 + (index + n) % 3))
                if kind == "egfr":
                    creatinine = creatinine_for(value, age_on(spec.birth, day), spec.sex)
                    self.add(self.observation("creatinine", day, creatinine, hour=8))
        for day, systolic, diastolic in spec.bp:
            self.add(self.blood_pressure(day, systolic, diastolic))
        return {
            "resourceType": "Bundle",
            "id": f"bundle-{spec.pid}",
            "type": spec.bundle_type,
            "timestamp": "2026-11-01T09:00:00Z",
            "entry": self.entries,
        }

    def condition(self, problem: tuple[str, str, str, str], onset: str) -> dict[str, Any]:
        snomed, snomed_display, icd, icd_display = problem
        return {
            "resourceType": "Condition",
            "clinicalStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                        "code": "active",
                    }
                ]
            },
            "verificationStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                        "code": "confirmed",
                    }
                ]
            },
            "category": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                            "code": "problem-list-item",
                        }
                    ]
                }
            ],
            "code": {
                "coding": [
                    {"system": SNOMED, "code": snomed, "display": snomed_display},
                    {"system": ICD10_CM, "code": icd, "display": icd_display},
                ],
                "text": snomed_display,
            },
            "subject": self.subject,
            "onsetDateTime": onset,
        }

    def medication(self, med: Med) -> dict[str, Any]:
        code, display = med.drug
        concept = {
            "coding": [{"system": RXNORM, "code": code, "display": display}],
            "text": display,
        }
        dosage: dict[str, Any]
        if med.structured:
            dose, unit, times, period, period_unit = med.structured
            dosage = {
                "timing": {
                    "repeat": {"frequency": times, "period": period, "periodUnit": period_unit}
                },
                "route": {
                    "coding": [{"system": SNOMED, "code": "26643006", "display": "Oral route"}]
                },
                "doseAndRate": [
                    {"doseQuantity": {"value": dose, "unit": unit, "system": UCUM, "code": unit}}
                ],
            }
        else:
            dosage = {"text": med.dosage}
        if self.spec.med_requests:
            return {
                "resourceType": "MedicationRequest",
                "status": med.status,
                "intent": "order",
                "medicationCodeableConcept": concept,
                "subject": self.subject,
                "authoredOn": "2025-01-06",
                "dosageInstruction": [dosage],
            }
        return {
            "resourceType": "MedicationStatement",
            "status": med.status,
            "medicationCodeableConcept": concept,
            "subject": self.subject,
            "dosage": [dosage],
        }

    def allergy(self, spec: AllergySpec) -> dict[str, Any]:
        system_code, reaction_display = spec.reaction
        return {
            "resourceType": "AllergyIntolerance",
            "clinicalStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                        "code": "active",
                    }
                ]
            },
            "verificationStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
                        "code": "confirmed",
                    }
                ]
            },
            "type": spec.kind,
            "category": ["medication"],
            "criticality": spec.criticality,
            "code": {
                "coding": [
                    {"system": system, "code": code, "display": display}
                    for system, code, display in spec.codings
                ],
                "text": spec.codings[0][2],
            },
            "patient": self.subject,
            "recordedDate": spec.recorded,
            "reaction": [
                {
                    "manifestation": [
                        {
                            "coding": [
                                {"system": SNOMED, "code": system_code, "display": reaction_display}
                            ],
                            "text": reaction_display,
                        }
                    ]
                }
            ],
        }

    def _observation_base(
        self, category: str, code: str, display: str, day: str, hour: int
    ) -> dict[str, Any]:
        return {
            "resourceType": "Observation",
            "status": "final",
            "category": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                            "code": category,
                        }
                    ]
                }
            ],
            "code": {
                "coding": [{"system": LOINC, "code": code, "display": display}],
                "text": display,
            },
            "subject": self.subject,
            "effectiveDateTime": f"{day}T{hour:02d}:30:00Z",
        }

    def observation(self, kind: str, day: str, value: float, hour: int) -> dict[str, Any]:
        code, display, unit, category = LABS[kind]
        resource = self._observation_base(category, code, display, day, hour)
        resource["valueQuantity"] = {"value": value, "unit": unit, "system": UCUM, "code": unit}
        return resource

    def blood_pressure(self, day: str, systolic: int, diastolic: int) -> dict[str, Any]:
        resource = self._observation_base("vital-signs", *BP_PANEL, day, 9)
        resource["component"] = [
            {
                "code": {"coding": [{"system": LOINC, "code": code, "display": display}]},
                "valueQuantity": {
                    "value": value,
                    "unit": "mm[Hg]",
                    "system": UCUM,
                    "code": "mm[Hg]",
                },
            }
            for (code, display), value in ((SYSTOLIC, systolic), (DIASTOLIC, diastolic))
        ]
        return resource


def _alternatives(text: str) -> list[str]:
    return [part for part in text.split("|") if part]


def expected_findings() -> dict[str, Any]:
    """Every patient's expected and forbidden statements, as eval/briefings reads them."""
    patients = {}
    for spec in PATIENTS:
        patients[spec.pid] = {
            "expected": [
                {
                    "key": e.key,
                    "kind": e.kind,
                    "subjects": _alternatives(e.subjects),
                    "actions": _alternatives(e.actions),
                    "thresholds": _alternatives(e.thresholds),
                    "note": e.note,
                }
                for e in spec.expect
            ],
            "forbidden": [
                {
                    "key": f.key,
                    "subjects": _alternatives(f.subjects),
                    "actions": _alternatives(f.actions),
                    "note": f.note,
                }
                for f in spec.forbid
            ],
        }
    return {
        "about": "Written by data/patients/generate.py from the patient definitions; "
        "read by eval/briefings. See data/patients/README.md.",
        "patients": patients,
    }


def main(out: Path = OUT) -> None:
    for old in out.glob("pt-*.json"):
        old.unlink()
    for spec in PATIENTS:
        path = out / f"{spec.pid}.json"
        path.write_text(json.dumps(BundleWriter(spec).bundle(), indent=2) + "\n", encoding="utf-8")
    findings = json.dumps(expected_findings(), indent=2, ensure_ascii=False) + "\n"
    (out / EXPECTED_FINDINGS).parent.mkdir(exist_ok=True)
    (out / EXPECTED_FINDINGS).write_text(findings, encoding="utf-8")
    print(f"wrote {len(PATIENTS)} bundles and {EXPECTED_FINDINGS} to {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)
