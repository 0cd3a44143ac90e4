"""The parser of numbers with units the grounding check compares: units, ranges, comparators,
decimals and Unicode spellings."""

from __future__ import annotations

import pytest

from services.orchestrator.quantities import Quantity, normalise, quantities, stated_in


def _values(text: str) -> list[tuple[float, float | None, str]]:
    return [(q.low, q.high, q.unit) for q in quantities(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Give 500 mg twice daily.", [(500.0, None, "mg")]),
        ("Give 500mg twice daily.", [(500.0, None, "mg")]),
        ("Give 0.5 g twice daily.", [(500.0, None, "mg")]),
        ("Up to 1,000 mg/day.", [(1000.0, None, "mg")]),
        ("Vitamin B12 1000 mcg", [(1.0, None, "mg")]),
        ("Vitamin B12 1000 µg", [(1.0, None, "mg")]),  # the micro sign
        ("Vitamin B12 1000 μg", [(1.0, None, "mg")]),  # the Greek mu
        ("10 units of insulin", [(10.0, None, "units")]),
        ("potassium 5.5 mmol/L", [(5.5, None, "mmol/L")]),
        ("K+ above 5.5 mEq/L", [(5.5, None, "mmol/L")]),
        ("an HbA1c of 7%", [(7.0, None, "%")]),
        ("a 30 percent rise", [(30.0, None, "%")]),
        ("recheck in 3 months", [(3.0, None, "months")]),
        ("over 2-4 weeks", [(2.0, 4.0, "weeks")]),
        ("over 2–4 weeks", [(2.0, 4.0, "weeks")]),  # en dash
        ("for 3 to 6 months", [(3.0, 6.0, "months")]),
        ("eGFR 30–44 mL/min/1.73 m²", [(30.0, 44.0, "mL/min")]),
        ("eGFR 45 mL/min/{1.73_m2}", [(45.0, None, "mL/min")]),
        ("hemoglobin 95 g/L", [(9.5, None, "g/dL")]),
        ("BP 140 mmHg", [(140.0, None, "mmHg")]),
        ("a dose of .5 mg", [(0.5, None, "mg")]),
    ],
)
def test_units_and_ranges(text: str, expected: list[tuple[float, float | None, str]]) -> None:
    assert _values(text) == expected


@pytest.mark.parametrize(
    ("text", "comparator", "value", "unit"),
    [
        ("stop if eGFR < 30", "<", 30.0, "mL/min"),
        ("stop if eGFR <30", "<", 30.0, "mL/min"),
        ("continue while eGFR ≥ 30", ">=", 30.0, "mL/min"),
        ("continue while eGFR >= 30", ">=", 30.0, "mL/min"),
        ("continue while eGFR ＞ 30", ">", 30.0, "mL/min"),  # full-width, NFKC
        ("reduce when eGFR is below 45", "<", 45.0, "mL/min"),
        ("with a potassium of at least 5.5", ">=", 5.5, "mmol/L"),
        ("potassium > 5.0 mmol/L", ">", 5.0, "mmol/L"),
        ("aged 80 years or older", "", 80.0, "years"),
        ("age ≥ 80", ">=", 80.0, "years"),
        ("weight ≤ 60 kg", "<=", 60.0, "kg"),
        ("LDL 70", "", 70.0, "LDL"),
    ],
)
def test_comparators_and_labs(text: str, comparator: str, value: float, unit: str) -> None:
    [quantity] = quantities(text)
    assert (quantity.comparator, quantity.low, quantity.unit) == (comparator, value, unit)


def test_bare_numbers_are_no_quantities() -> None:
    assert quantities("two of the following; stage 3 CKD; 1 in 4 patients") == []


def test_a_falling_pair_is_two_values_not_a_range() -> None:
    assert _values("eGFR fell from 52 to 34 mL/min") == [
        (52.0, None, "mL/min"),
        (34.0, None, "mL/min"),
    ]


def test_what_was_written_is_kept_for_the_reader() -> None:
    [quantity] = quantities("Stop metformin if eGFR ≥ 30.")
    assert quantity.written == "eGFR >= 30"


def test_normalise_puts_unicode_and_separators_in_one_form() -> None:
    assert normalise("1,000 mg ≥ 5 µg – 3 m² a / b") == "1000 mg >= 5 μg - 3 m2 a/b"


@pytest.mark.parametrize(
    ("claim", "pool", "stated"),
    [
        ("500 mg", "1000 mg twice daily or 500 mg", True),
        ("0.5 g", "500 mg", True),
        ("500 mg", "5000 mg", False),
        ("500 mg", "500 mcg", False),
        ("eGFR < 30", "eGFR <30 mL/min/1.73 m2", True),
        ("eGFR < 30", "30 mg daily", False),  # the same number in another unit
        ("eGFR 30-44", "eGFR 30–44", True),
        ("eGFR 30-44", "eGFR 45 to 59", False),
        ("3 months", "every 3 months", True),
        ("3 months", "12 weeks", False),  # durations are not converted
        ("potassium 5.5 mmol/L", "K+ >5.5 mEq/L", True),
    ],
)
def test_stated_in(claim: str, pool: str, stated: bool) -> None:
    [quantity] = quantities(claim)
    assert stated_in(quantity, quantities(pool)) is stated


def test_a_range_is_stated_by_its_ends_anywhere() -> None:
    assert stated_in(Quantity(30.0, 44.0, "mL/min"), quantities("eGFR 30 and eGFR 44"))
