"""Whether a recommendation's drugs and numbers appear in what it cites or in the record.

A hook for the grounding check issue 18 asks of the orchestrator: here it only measures. Every
drug a recommendation names must be named (by itself, a brand, or for a class by a member) in
one of its cited passages or in the patient's record; every number with a unit ("1,000 mg/day",
"15 mg", "3–6 months") must appear with the same unit there, and every number after a lab's name
("eGFR 30–44", "potassium >5.5") must appear there as a number. A passage's text is the excerpt
the briefing carries (its first 1,200 characters).
"""

from __future__ import annotations

import re

from eval.briefings.lexicon import drug_mentions, subject_pattern
from eval.briefings.patient import PatientFacts
from eval.briefings.statements import Briefing, Statement
from eval.briefings.text import Quantity, normalise, quantities, states_threshold

_NUMBER = r"(\d+(?:\.\d+)?)"
_LAB_NUMBER = re.compile(
    r"\b(?:eGFR|GFR|CrCl|creatinine clearance|potassium|K\+?|HbA1c|A1c|INR|LDL(?:-C)?|UACR|ACR|"
    r"BP|blood pressure|ha?emoglobin|Hb|bicarbonate|BMI|age|weight)"
    r"\s*(?:of|is|was|at|below|above|under|over|from|<|>|≤|≥|<=|>=|=|\(|:)?\s*(?:about\s+)?"
    + _NUMBER
    + r"(?:\s*-\s*"
    + _NUMBER
    + ")?",
    re.IGNORECASE,
)


def _labelled_numbers(text: str) -> list[float]:
    numbers = []
    for match in _LAB_NUMBER.finditer(normalise(text)):
        numbers += [float(n) for n in match.groups() if n is not None]
    return numbers


def ungrounded(statement: Statement, briefing: Briefing, facts: PatientFacts) -> list[str]:
    """The drugs and numbers of a statement found in none of its cited passages nor the record."""
    pool = "\n".join(
        [*(briefing.sources.get(i, "") for i in statement.source_ids), facts.record_text]
    )
    pool_numbers = {n for q in quantities(pool) for n in q.numbers()}
    missing = [
        entry.key
        for entry in drug_mentions(statement.text)
        if not subject_pattern(entry.key).search(pool)
    ]
    for quantity in quantities(statement.text):
        if quantity.unit and not states_threshold(pool, quantity):
            missing.append(_show(quantity))
    missing += [f"{n:g}" for n in _labelled_numbers(statement.text) if n not in pool_numbers]
    return list(dict.fromkeys(missing))


def _show(quantity: Quantity) -> str:
    value = f"{quantity.low:g}" + (f"-{quantity.high:g}" if quantity.high is not None else "")
    return f"{value} {quantity.unit}"
