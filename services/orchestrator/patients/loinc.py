"""LOINC codes the briefing knows, mapped to the short ``kind`` the agent reads.

Several codes can mean the same quantity (eGFR by MDRD, CKD-EPI 2009 or CKD-EPI 2021; LDL
measured or calculated); they share a kind so that a trend spans them. A blood pressure panel
(85354-9, or 55284-4) has no value of its own: its systolic and diastolic components become two
observations.
"""

from __future__ import annotations

SYSTEM = "http://loinc.org"

BLOOD_PRESSURE_PANELS: frozenset[str] = frozenset({"85354-9", "55284-4"})

KINDS: dict[str, str] = {
    # Glycaemia
    "4548-4": "hba1c",  # Hemoglobin A1c/Hemoglobin.total in Blood
    "17856-6": "hba1c",  # Hemoglobin A1c/Hemoglobin.total in Blood by HPLC
    "2345-7": "glucose",  # Glucose [Mass/volume] in Serum or Plasma
    "2339-0": "glucose",  # Glucose [Mass/volume] in Blood
    "41653-7": "glucose",  # Glucose [Mass/volume] in Capillary blood by Glucometer
    # Kidney
    "33914-3": "egfr",  # eGFR (MDRD) /1.73 sq M
    "62238-1": "egfr",  # eGFR (CKD-EPI) /1.73 sq M
    "98979-8": "egfr",  # eGFR (CKD-EPI 2021) /1.73 sq M
    "48642-3": "egfr",  # eGFR (MDRD) among non-blacks
    "48643-1": "egfr",  # eGFR (MDRD) among blacks
    "2160-0": "creatinine",  # Creatinine [Mass/volume] in Serum or Plasma
    "38483-4": "creatinine",  # Creatinine [Mass/volume] in Blood
    "3094-0": "bun",  # Urea nitrogen [Mass/volume] in Serum or Plasma
    "9318-7": "uacr",  # Albumin/Creatinine [Mass Ratio] in Urine
    "14959-1": "uacr",  # Microalbumin/Creatinine [Mass Ratio] in Urine
    # Electrolytes
    "2823-3": "potassium",  # Potassium [Moles/volume] in Serum or Plasma
    "6298-4": "potassium",  # Potassium [Moles/volume] in Blood
    "2951-2": "sodium",  # Sodium [Moles/volume] in Serum or Plasma
    "1963-8": "bicarbonate",  # Bicarbonate [Moles/volume] in Serum or Plasma
    # Lipids
    "2093-3": "total_cholesterol",  # Cholesterol [Mass/volume] in Serum or Plasma
    "18262-6": "ldl",  # LDL cholesterol, direct
    "13457-7": "ldl",  # LDL cholesterol, calculated
    "2089-1": "ldl",  # LDL cholesterol [Mass/volume] in Serum or Plasma
    "2085-9": "hdl",  # HDL cholesterol
    "2571-8": "triglycerides",  # Triglyceride [Mass/volume] in Serum or Plasma
    # Other chemistry and haematology
    "2157-6": "ck",  # Creatine kinase [Enzymatic activity/volume] in Serum or Plasma
    "1742-6": "alt",  # Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma
    "718-7": "hemoglobin",  # Hemoglobin [Mass/volume] in Blood
    "6301-6": "inr",  # INR in Platelet poor plasma by Coagulation assay
    "34714-6": "inr",  # INR in Blood by Coagulation assay
    "33762-6": "nt_probnp",  # NT-proBNP [Mass/volume] in Serum or Plasma
    "30934-4": "bnp",  # BNP [Mass/volume] in Serum or Plasma
    "10230-1": "lvef",  # Left ventricular Ejection fraction
    "10535-3": "digoxin_level",  # Digoxin [Mass/volume] in Serum or Plasma
    # Vital signs
    "8480-6": "systolic_bp",  # Systolic blood pressure
    "8462-4": "diastolic_bp",  # Diastolic blood pressure
    "8867-4": "heart_rate",  # Heart rate
    "29463-7": "weight",  # Body weight
    "3141-9": "weight",  # Body weight Measured
    "8302-2": "height",  # Body height
    "39156-5": "bmi",  # Body mass index (BMI) [Ratio]
}


def kind_for(code: str) -> str:
    """The short kind for a LOINC code, or ``""`` when the briefing does not know the code."""
    return KINDS.get(code, "")
