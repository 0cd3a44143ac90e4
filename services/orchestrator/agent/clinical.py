"""Facts the offline agent reads from a record: age, latest labs in usual units, the drugs
(recognised by :mod:`.drugs`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from services.orchestrator.agent.drugs import Drug, recognise
from services.orchestrator.patients.models import Observation, PatientRecord

OLDER_ADULT_AGE = 65  # the Beers Criteria's older adults; guidelines' "older adults"
_DOSE = re.compile(r"(\d+(?:\.\d+)?)\s*mg\b")
_TIMES_A_DAY = (
    (re.compile(r"four times|\bqid\b"), 4),
    (re.compile(r"three times|\btid\b"), 3),
    (re.compile(r"twice|\bbid\b|two times"), 2),
)


def dose_mg(text: str) -> float | None:
    """The first dose in mg of a dosage text ("5 mg twice daily" -> 5.0)."""
    match = _DOSE.search(text.lower())
    return float(match.group(1)) if match else None


def daily_dose_mg(text: str) -> float | None:
    """Dose times doses a day ("600 mg three times daily" -> 1800.0); once daily otherwise."""
    dose = dose_mg(text)
    if dose is None:
        return None
    lowered = text.lower()
    times = next((n for pattern, n in _TIMES_A_DAY if pattern.search(lowered)), 1)
    return dose * times


def plain_display(display: str) -> str:
    """A display without a trailing qualifier such as "(disorder)"."""
    return re.sub(r"\s*\([^)]*\)\s*$", "", display).strip()


def _value(observation: Observation | None, per_unit: dict[str, float]) -> float | None:
    """The value converted by the first unit fragment that matches (1.0 when none does)."""
    if observation is None:
        return None
    unit = observation.unit.lower().replace("µ", "u").replace("μ", "u")
    for fragment, factor in per_unit.items():
        if fragment in unit:
            return observation.value * factor
    return observation.value


@dataclass(frozen=True)
class Facts:
    """The latest values the rules and queries use, in mg/dL, mmol/L, kg and mmHg."""

    age: int | None
    sex: str
    egfr: float | None
    creatinine_mg_dl: float | None
    potassium: float | None
    ldl_mg_dl: float | None
    hba1c: float | None
    uacr: float | None
    weight_kg: float | None
    systolic_bp: float | None
    diastolic_bp: float | None
    drugs: tuple[Drug, ...]
    bmi: float | None = None
    hemoglobin: float | None = None  # g/dL
    bicarbonate: float | None = None  # mmol/L

    @property
    def values(self) -> dict[str, float]:
        """The known values by the label a guideline states a bound on ("egfr", "crcl", ...)."""
        named = {
            "age": self.age,
            "egfr": self.egfr,
            "crcl": self.creatinine_clearance,
            "creatinine": self.creatinine_mg_dl,
            "potassium": self.potassium,
            "ldl": self.ldl_mg_dl,
            "hba1c": self.hba1c,
            "uacr": self.uacr,
            "weight": self.weight_kg,
            "sbp": self.systolic_bp,
            "bmi": self.bmi,
            "hemoglobin": self.hemoglobin,
            "bicarbonate": self.bicarbonate,
        }
        return {label: float(value) for label, value in named.items() if value is not None}

    def drugs_of(self, *classes: str) -> list[Drug]:
        return [drug for drug in self.drugs if drug.drug_class in classes]

    @property
    def creatinine_clearance(self) -> float | None:
        """Cockcroft-Gault with actual body weight, mL/min; None when an input is missing."""
        if None in (self.age, self.weight_kg, self.creatinine_mg_dl) or not self.creatinine_mg_dl:
            return None
        assert self.age is not None and self.weight_kg is not None
        clearance = (140 - self.age) * self.weight_kg / (72 * self.creatinine_mg_dl)
        return clearance * (0.85 if self.sex == "female" else 1.0)


def _hba1c_percent(observation: Observation | None) -> float | None:
    """HbA1c in % (NGSP); IFCC mmol/mol is converted by the NGSP-IFCC master equation."""
    if observation is not None and "mmol/mol" in observation.unit.lower():
        return observation.value / 10.929 + 2.15
    return _value(observation, {})


def age_on(birth_date: date | None, today: date) -> int | None:
    if birth_date is None:
        return None
    before_birthday = (today.month, today.day) < (birth_date.month, birth_date.day)
    return today.year - birth_date.year - before_birthday


def read_facts(record: PatientRecord, today: date) -> Facts:
    return Facts(
        age=age_on(record.birth_date, today),
        sex=record.sex,
        egfr=_value(record.latest("egfr"), {}),
        creatinine_mg_dl=_value(record.latest("creatinine"), {"umol": 1 / 88.42}),
        potassium=_value(record.latest("potassium"), {}),
        ldl_mg_dl=_value(record.latest("ldl"), {"mmol": 38.67}),
        hba1c=_hba1c_percent(record.latest("hba1c")),
        uacr=_value(record.latest("uacr"), {"mg/mmol": 8.84}),
        weight_kg=_value(record.latest("weight"), {"lb": 0.4536}),
        systolic_bp=_value(record.latest("systolic_bp"), {}),
        diastolic_bp=_value(record.latest("diastolic_bp"), {}),
        drugs=tuple(recognise(m) for m in record.active_medications),
        bmi=_value(record.latest("bmi"), {}),
        hemoglobin=_value(record.latest("hemoglobin"), {"g/l": 0.1, "mmol/l": 1.611}),
        bicarbonate=_value(record.latest("bicarbonate"), {}),
    )


def has_ckd(record: PatientRecord, facts: Facts) -> bool:
    """CKD on the problem list, or a latest eGFR below 60."""
    listed = any("kidney" in c.coding.display.lower() for c in record.active_conditions)
    return listed or (facts.egfr is not None and facts.egfr < 60)


def fmt(value: float | None, decimals: int = 0) -> str:
    """A value for a sentence or query: ``"34"``, ``"1.6"``; ``"unknown"`` when missing."""
    if value is None:
        return "unknown"
    return f"{value:.{decimals}f}"
