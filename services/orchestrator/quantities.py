"""Numbers with their units in clinical text, as the grounding check compares them.

"500 mg", "0.5 g" and "500mg" are the same dose; "eGFR < 30" is 30 in mL/min, however the
passage writes it ("eGFR <30 mL/min/1.73 m²"); "3–6 months" is a range of months. A number
counts when a unit follows it, or when a lab's name stands before it (then it takes the lab's
unit: eGFR in mL/min, potassium in mmol/L, HbA1c in %, age in years); a bare number ("two of
the following", "stage 3") is no quantity.

Text is first put in one form: Unicode NFKC ("m²" is "m2", "µ" is "μ", a thin space a space),
every dash a hyphen, "≥" and "≤" as ">=" and "<=", thousands separators dropped ("1,000"),
" / " as "/", and the body-surface suffix of eGFR units ("/1.73 m2", "/{1.73_m2}") removed.

A comparator ("<", ">=", "below", "at least") is read for the reader's sake; it is not part of
what must match, since a passage often states a bound from the other side ("do not use below
30" backs "continue while eGFR ≥ 30"). Units are converted within a kind (g and mcg to mg, g/L
to g/dL, mEq/L to mmol/L); durations are not converted between days, weeks and months. No
library is used: the units that matter are few and clinical (mEq/L, mL/min/1.73 m², mmHg, "%"),
and the work is finding them in prose, which the unit libraries (pint) do not do.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from functools import cache

# Spelling (lower case) -> (canonical unit, factor to it).
UNITS: dict[str, tuple[str, float]] = {
    **dict.fromkeys(["mg", "mgs", "milligram", "milligrams", "mg/day", "mg/d"], ("mg", 1.0)),
    **dict.fromkeys(["g", "gram", "grams", "g/day", "g/d"], ("mg", 1000.0)),
    **dict.fromkeys(
        ["mcg", "μg", "ug", "microgram", "micrograms", "mcg/day", "μg/day"], ("mg", 0.001)
    ),
    **dict.fromkeys(["units", "unit", "iu", "u"], ("units", 1.0)),
    **dict.fromkeys(["ml/min", "ml/minute"], ("mL/min", 1.0)),
    **dict.fromkeys(["mmol/l", "meq/l", "mmol/litre", "mmol/liter"], ("mmol/L", 1.0)),
    "mmol/mol": ("mmol/mol", 1.0),
    "mg/dl": ("mg/dL", 1.0),
    "g/dl": ("g/dL", 1.0),
    "g/l": ("g/dL", 0.1),
    "mg/g": ("mg/g", 1.0),
    "mg/mmol": ("mg/mmol", 1.0),
    "μmol/l": ("μmol/L", 1.0),
    "umol/l": ("μmol/L", 1.0),
    "ng/ml": ("ng/mL", 1.0),
    **dict.fromkeys(["%", "percent", "per cent"], ("%", 1.0)),
    "kg": ("kg", 1.0),
    "kg/m2": ("kg/m2", 1.0),
    **dict.fromkeys(["mmhg", "mm hg", "mm[hg]"], ("mmHg", 1.0)),
    **dict.fromkeys(["hour", "hours", "hr", "hrs", "h"], ("hours", 1.0)),
    **dict.fromkeys(["day", "days"], ("days", 1.0)),
    **dict.fromkeys(["week", "weeks", "wk", "wks"], ("weeks", 1.0)),
    **dict.fromkeys(["month", "months", "mo"], ("months", 1.0)),
    **dict.fromkeys(["year", "years", "yr", "yrs", "years old"], ("years", 1.0)),
}

# A lab named before a number gives it a unit: its usual one, or its own name when labs
# report it in more than one ("LDL 70" is mg/dL or mmol/L).
LABS: dict[str, str] = {
    **dict.fromkeys(["egfr", "gfr", "crcl", "creatinine clearance", "estimated gfr"], "mL/min"),
    **dict.fromkeys(["potassium", "k+", "k", "serum potassium", "bicarbonate"], "mmol/L"),
    **dict.fromkeys(["hba1c", "a1c", "haemoglobin a1c", "hemoglobin a1c"], "%"),
    **dict.fromkeys(["hemoglobin", "haemoglobin", "hb"], "g/dL"),
    "age": "years",
    "aged": "years",
    "weight": "kg",
    "bmi": "kg/m2",
    **dict.fromkeys(["ldl", "ldl-c", "ldl cholesterol"], "LDL"),
    **dict.fromkeys(["uacr", "acr"], "UACR"),
    "inr": "INR",
    **dict.fromkeys(["blood pressure", "bp", "systolic", "sbp"], "mmHg"),
}

COMPARATORS: dict[str, str] = {
    "<": "<",
    ">": ">",
    "<=": "<=",
    ">=": ">=",
    "=": "=",
    "below": "<",
    "under": "<",
    "less than": "<",
    "lower than": "<",
    "above": ">",
    "over": ">",
    "greater than": ">",
    "more than": ">",
    "higher than": ">",
    "at least": ">=",
    "at most": "<=",
    "or more": ">=",
    "or less": "<=",
    "up to": "<=",
}

_DASHES = re.compile(r"[\u2010-\u2015\u2212\ufe63\uff0d]")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_BODY_SURFACE = re.compile(r"/\s*\{?\s*1\.73[\s_]*m2\s*\}?", re.IGNORECASE)
_SLASH = re.compile(r"\s*/\s*")
_NUMBER = r"\d+(?:\.\d+)?|\.\d+"


def normalise(text: str) -> str:
    """Text in the one form the parser reads (see the module's docstring)."""
    text = unicodedata.normalize("NFKC", text)
    text = text.replace("≥", ">=").replace("≤", "<=").replace("µ", "μ")
    text = _DASHES.sub("-", _THOUSANDS.sub("", text))
    return _SLASH.sub("/", _BODY_SURFACE.sub("", text))


def _alternation(words: list[str]) -> str:
    return "|".join(
        re.escape(w).replace(r"\ ", r"\s+") for w in sorted(words, key=len, reverse=True)
    )


@cache
def _pattern() -> re.Pattern[str]:
    words = [w for w in COMPARATORS if w[0].isalpha()]
    symbols = [w for w in COMPARATORS if not w[0].isalpha()]
    return re.compile(
        rf"(?:(?<![\w+-])(?P<lab>{_alternation(list(LABS))})(?![\w+])"
        r"(?:\s*(?:of|is|was|at|from|level|value|:|\()){0,2})?\s*"
        rf"(?P<cmp>{_alternation(symbols)}|(?<![\w])(?:{_alternation(words)})(?!\w))?\s*"
        rf"(?<![\w.])(?P<low>{_NUMBER})"
        rf"(?:\s*(?:-|to)\s*(?P<high>{_NUMBER}))?"
        rf"(?:\s*(?P<unit>{_alternation(list(UNITS))})(?![\w/]))?",
        re.IGNORECASE,
    )


@dataclass(frozen=True)
class Quantity:
    """A number, or a range, in a canonical unit, with what was written and its comparator."""

    low: float
    high: float | None
    unit: str
    comparator: str = ""
    written: str = ""

    def numbers(self) -> tuple[float, ...]:
        return (self.low,) if self.high is None else (self.low, self.high)


def quantities(text: str) -> list[Quantity]:
    """Every number of ``text`` that has a unit or a lab before it, in text order."""
    found = []
    for match in _pattern().finditer(normalise(text)):
        unit_word, lab = match.group("unit"), match.group("lab")
        if unit_word:
            unit, factor = UNITS[" ".join(unit_word.lower().split())]
        elif lab:
            unit, factor = LABS[" ".join(lab.lower().split())], 1.0
        else:
            continue
        low = float(match.group("low")) * factor
        high = float(match.group("high")) * factor if match.group("high") else None
        cmp_word = match.group("cmp")
        comparator = COMPARATORS[" ".join(cmp_word.lower().split())] if cmp_word else ""
        written = " ".join(match.group(0).split())
        if high is not None and high <= low:  # "fell from 52 to 34": two values, not a range
            found += [
                Quantity(low, None, unit, comparator, written),
                Quantity(high, None, unit, "", written),
            ]
        else:
            found.append(Quantity(low, high, unit, comparator, written))
    return found


def same_number(a: float, b: float) -> bool:
    """Equal once converted (0.5 g is 500 mg, within floating-point error)."""
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def stated_in(quantity: Quantity, stated: list[Quantity]) -> bool:
    """Whether every number of ``quantity`` is among ``stated`` in the same unit (alone or as
    one end of a range)."""
    pool = [n for q in stated if q.unit == quantity.unit for n in q.numbers()]
    return all(any(same_number(n, p) for p in pool) for n in quantity.numbers())
