"""Sentences and numbers of a briefing's text, as the scorer compares them.

Numbers are read with their unit when one follows ("1,000 mg/day" is 1000 in mg, "30–44 mL/min"
a range in mL/min) and compared as numbers, so "5.0 mg" equals "5 mg" and "1,000" equals "1000".
A threshold of the expected findings is written the same way: "1000 mg", "45", "30-44", "5.5".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_DASHES = re.compile(r"[‐-―−]")
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+(?=[A-Z(\"'0-9])|\n+")
_NUMBER = r"\d+(?:\.\d+)?"
_QUANTITY = re.compile(
    rf"(?<![\w.])(?P<low>{_NUMBER})(?:\s*(?:-|to)\s*(?P<high>{_NUMBER}))?"
    r"\s*(?P<unit>%|[a-zµμ][a-zµμ0-9/.²\[\]{}]*(?:\s?/\s?[a-z0-9.²]+)*)?",
    re.IGNORECASE,
)

# Unit spellings -> one name per kind of unit. A unit not listed here is no unit.
UNITS: dict[str, str] = {
    "mg": "mg",
    "mg/d": "mg",
    "mg/day": "mg",
    "milligrams": "mg",
    "mcg": "mcg",
    "µg": "mcg",
    "μg": "mcg",
    "g": "g",
    "g/dl": "g/dL",
    "mg/dl": "mg/dL",
    "mg/g": "mg/g",
    "mg/mmol": "mg/mmol",
    "ml/min": "mL/min",
    "ml/min/1.73": "mL/min",
    "ml/min/1.73m²": "mL/min",
    "ml/min/1.73m2": "mL/min",
    "ml/min/1.73 m²": "mL/min",
    "ml/min/{1.73_m2}": "mL/min",
    "mmol/l": "mmol/L",
    "meq/l": "mmol/L",
    "mmol/mol": "mmol/mol",
    "ng/ml": "ng/mL",
    "pg/ml": "pg/mL",
    "%": "%",
    "percent": "%",
    "kg": "kg",
    "kg/m2": "kg/m2",
    "kg/m²": "kg/m2",
    "mmhg": "mmHg",
    "mm[hg]": "mmHg",
    "units": "units",
    "u/l": "U/L",
    "day": "days",
    "days": "days",
    "week": "weeks",
    "weeks": "weeks",
    "month": "months",
    "months": "months",
    "year": "years",
    "years": "years",
    "hours": "hours",
    "h": "hours",
}


def normalise(text: str) -> str:
    """Thousands separators dropped, every dash a hyphen-minus."""
    return _DASHES.sub("-", _THOUSANDS.sub("", text))


def split_sentences(text: str) -> list[str]:
    """Sentences (and clauses after a semicolon) of a text, stripped, none empty."""
    return [part.strip() for part in _SENTENCE_END.split(normalise(text)) if part.strip()]


@dataclass(frozen=True)
class Quantity:
    """A number, or a range, with its unit ("" when none follows)."""

    low: float
    high: float | None
    unit: str

    def numbers(self) -> tuple[float, ...]:
        return (self.low,) if self.high is None else (self.low, self.high)


def _unit(raw: str | None) -> str:
    if not raw:
        return ""
    lowered = raw.lower().rstrip(".")
    while lowered and lowered not in UNITS:
        # "mg/day," or "mL/min/1.73m²)" and the like: drop trailing characters until known.
        cut = max(lowered.rfind("/"), lowered.rfind(" "))
        lowered = lowered[:cut] if cut > 0 else ""
    return UNITS.get(lowered, "")


def quantities(text: str) -> list[Quantity]:
    """Every number of a text with its unit; a range is one quantity."""
    found = []
    for match in _QUANTITY.finditer(normalise(text)):
        low, unit = float(match.group("low")), _unit(match.group("unit"))
        high = float(match.group("high")) if match.group("high") is not None else None
        if high is not None and high <= low:  # "fell from 52 to 34": two values, not a range
            found += [Quantity(low, None, unit), Quantity(high, None, unit)]
        else:
            found.append(Quantity(low, high, unit))
    return found


def parse_threshold(threshold: str) -> Quantity:
    """A threshold of the expected findings ("1000 mg", "30-44", "5.5") as a quantity."""
    parsed = quantities(threshold)
    if len(parsed) != 1:
        raise ValueError(f"a threshold is one number or range with an optional unit: {threshold!r}")
    return parsed[0]


def states_threshold(text: str, threshold: Quantity) -> bool:
    """Whether ``text`` states the threshold: the same range, or the same number (alone or as
    one end of a range), in the same unit when the threshold has one."""
    for quantity in quantities(text):
        if threshold.unit and quantity.unit != threshold.unit:
            continue
        if threshold.high is not None:
            if (quantity.low, quantity.high) == (threshold.low, threshold.high):
                return True
        elif threshold.low in quantity.numbers():
            return True
    return False
