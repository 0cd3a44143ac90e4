"""The offline agent's plan, rules and extraction, on made-up records (no services needed).

The fixes of issue 18 (advice that fits the patient) have their own tests beside this file:
test_offline_fit.py (sentences, populations, drugs) and test_offline_rules.py (the rules and
the recommendations made from their actions)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from services.orchestrator.agent.clinical import read_facts
from services.orchestrator.agent.domain import Severity
from services.orchestrator.agent.extract import best_sentences, sentences
from services.orchestrator.agent.planning import MAX_SEARCHES, plan_searches
from services.orchestrator.agent.rules import record_findings
from services.orchestrator.patients.fhir_loader import read_bundle_file
from services.orchestrator.patients.models import Observation, PatientRecord
from tests.orchestrator.brief_support import PLAIN, RICH

TODAY = date(2026, 11, 25)


def _alerts(record: PatientRecord) -> list[tuple[Severity, str]]:
    findings = record_findings(record, _facts(record))
    return [(f.alert.severity, f.alert.message) for f in findings if f.alert is not None]


def _facts(record: PatientRecord):  # type: ignore[no-untyped-def]
    return read_facts(record, TODAY)


def test_plan_asks_about_each_medication_allergy_and_problem_with_the_deciding_values() -> None:
    queries = [s.query for s in plan_searches(RICH, _facts(RICH))]
    assert "metformin dosing eGFR 34" in queries
    assert "apixaban dose reduction age 83 weight 58 kg creatinine 1.6" in queries
    assert "sulfonamide antibiotic allergy cross-reactivity furosemide" in queries
    assert "statin intolerance LDL 131 nonstatin therapy" in queries
    assert any(q.startswith("ibuprofen NSAID") and "eGFR 34" in q for q in queries)
    assert any(q.startswith("lisinopril potassium 5.7") for q in queries)
    assert any("atrial fibrillation" in q for q in queries)
    # Stopped medications and resolved problems are not searched.
    assert not any("atorvastatin statin intensity" in q for q in queries)
    assert not any("bronchitis" in q.lower() for q in queries)
    assert len(queries) == len(set(queries)) <= MAX_SEARCHES


def test_rules_raise_the_alerts_the_record_calls_for_most_urgent_first() -> None:
    alerts = _alerts(RICH)
    severities = [severity for severity, _ in alerts]
    rank = {Severity.CRITICAL: 0, Severity.WARNING: 1, Severity.INFO: 2}
    assert severities == sorted(severities, key=rank.__getitem__)
    by_text = {message: severity for severity, message in alerts}

    def severity_of(fragment: str) -> Severity:
        matches = [s for message, s in by_text.items() if fragment in message]
        assert len(matches) == 1, (fragment, list(by_text))
        return matches[0]

    assert severity_of("Metformin is active with eGFR 34") is Severity.WARNING
    assert severity_of("Potassium 5.7") is Severity.WARNING
    assert severity_of("eGFR fell from 52 to 34") is Severity.WARNING
    assert severity_of("Apixaban 5.0 mg with 3 of 3") is Severity.WARNING
    # NSAID with an ACE inhibitor and a loop diuretic in CKD.
    assert severity_of("NSAID (ibuprofen)") is Severity.CRITICAL
    assert severity_of("Blood pressure 148/88") is Severity.WARNING
    assert severity_of("LDL 131 mg/dL above goal (<70) with documented statin") is Severity.WARNING
    assert severity_of("furosemide is a non-antibiotic sulfonamide") is Severity.INFO


def test_metformin_below_egfr_30_is_critical() -> None:
    latest = RICH.series("egfr")[-1]
    lower = latest.model_copy(update={"value": 24.0})
    observations = [o for o in RICH.observations if o is not latest] + [lower]
    record = RICH.model_copy(update={"observations": observations})
    assert (
        Severity.CRITICAL,
        "Metformin is active with eGFR 24 mL/min/1.73m² (<30): contraindicated.",
    ) in _alerts(record)


def test_units_are_converted_before_the_rules_apply() -> None:
    converted: list[Observation] = []
    for observation in RICH.observations:
        if observation.kind == "creatinine":
            changed = observation.model_copy(update={"value": 141.0, "unit": "umol/L"})
        elif observation.kind == "ldl":
            changed = observation.model_copy(update={"value": 3.4, "unit": "mmol/L"})
        else:
            changed = observation
        converted.append(changed)
    facts = read_facts(RICH.model_copy(update={"observations": converted}), TODAY)
    assert facts.creatinine_mg_dl is not None and round(facts.creatinine_mg_dl, 1) == 1.6
    assert facts.ldl_mg_dl is not None and round(facts.ldl_mg_dl) == 131


def test_a_well_controlled_record_raises_no_alert() -> None:
    assert _alerts(PLAIN) == []


SECTION = ("Diabetes in CKD", "Metformin dose adjustment when eGFR falls")
HEADING = " > ".join(SECTION)
LEAD_IN = "KDIGO gives a practical dosing scheme for metformin as kidney function declines:"
PASSAGE = f"""{HEADING}
{LEAD_IN}
- **eGFR ≥60**: usual full dose (up to 2,000–2,550 mg/day); monitor eGFR at least **annually**.
- **eGFR 30–44**: **halve the dose** (maximum about **1,000 mg/day**) and monitor eGFR every 3–6 \
months. Starting metformin in this range is generally not advised.
- **eGFR <30**: **stop metformin**. Metformin is not used in people on dialysis.
| eGFR | dose |
|------|------|
"""


def test_sentences_skip_the_breadcrumb_headings_and_tables_and_keep_lead_ins() -> None:
    found = sentences(PASSAGE, HEADING)
    # Each list item is one unit with the lead-in it completes (it used to lose it, and with it
    # the drug: "eGFR <30: stop metformin." named no drug).
    assert [s.lead_in for s in found] == [LEAD_IN] * 3
    assert found[0].text.startswith("eGFR ≥60: usual full dose")
    assert (
        found[2].full
        == f"{LEAD_IN} eGFR <30: stop metformin. Metformin is not used in people on dialysis."
    )
    assert not any(s.text.startswith(("#", "|", "Diabetes in CKD")) for s in found)
    assert not any("**" in s.full for s in found)


def test_best_sentences_prefer_the_range_the_query_value_falls_in() -> None:
    in_range = best_sentences(PASSAGE, "metformin dosing eGFR 34", limit=1, section=SECTION)
    assert in_range.text == (
        f"{LEAD_IN} eGFR 30–44: halve the dose (maximum about 1,000 mg/day) and monitor eGFR "
        "every 3–6 months. Starting metformin in this range is generally not advised."
    )
    below = best_sentences(PASSAGE, "metformin dosing eGFR 25", limit=1, section=SECTION)
    assert below.text.endswith(
        "eGFR <30: stop metformin. Metformin is not used in people on dialysis."
    )
    assert below.score > 0
    none = best_sentences(PASSAGE, "warfarin INR", section=SECTION)
    assert (none.text, none.score) == ("", 0.0)
    # A band the value is outside of does not qualify: at eGFR 34, the "≥60" and "<30" rows.
    two = best_sentences(PASSAGE, "metformin dosing eGFR 34", limit=2, section=SECTION)
    assert two.text == in_range.text


def test_topic_terms_filter_sentences_unless_the_own_section_names_the_topic() -> None:
    query = "metformin dosing eGFR 34"
    off_topic = best_sentences(PASSAGE, query, section=SECTION, terms=("apixaban",))
    assert off_topic.text == ""
    on_topic_heading = best_sentences(PASSAGE, query, section=SECTION, terms=("metformin",))
    assert "eGFR 30–44" in on_topic_heading.text  # the section's heading names metformin
    by_sentence = best_sentences(PASSAGE, "metformin dialysis", terms=("dialysis",))
    assert by_sentence.text.endswith("Metformin is not used in people on dialysis.")


PATIENTS = Path(__file__).resolve().parents[2] / "data" / "patients"
# Synthetic patient -> (severity, words of the alert its README row says a briefing must raise)
EXPECTED_ALERTS = {
    "pt-0001": (Severity.WARNING, "Metformin is active with eGFR 34"),
    "pt-0002": (Severity.WARNING, "without an ACE inhibitor or ARB"),
    "pt-0004": (Severity.WARNING, "on sacubitril/valsartan and spironolactone"),
    "pt-0005": (Severity.WARNING, "Potassium 5.6 mmol/L (>5.5)"),
    "pt-0006": (Severity.WARNING, "Apixaban 5.0 mg with 3 of 3 dose-reduction criteria"),
    "pt-0007": (Severity.WARNING, "Rivaroxaban 20 mg with creatinine clearance"),
    "pt-0008": (Severity.WARNING, "Labile INR on warfarin: 6 of 8 values outside"),
    "pt-0009": (Severity.WARNING, "above the 130/80 target"),
    "pt-0010": (Severity.WARNING, "with documented statin intolerance"),
    "pt-0011": (Severity.WARNING, "Allergy to Penicillin recorded (anaphylaxis"),
    "pt-0013": (Severity.WARNING, "without RAS blockade, after ACE-inhibitor angioedema"),
    "pt-0014": (Severity.CRITICAL, "Potassium 6.1 mmol/L (≥6.0)"),
    "pt-0015": (Severity.CRITICAL, "NSAID (ibuprofen) in chronic kidney disease with a RAAS"),
    "pt-0016": (Severity.WARNING, "Glyburide in an older adult"),
    "pt-0017": (Severity.WARNING, "Sitagliptin 100 mg with eGFR 28"),
    "pt-0018": (Severity.WARNING, "Gabapentin 1800 mg/day"),
    "pt-0020": (Severity.INFO, "no SGLT2 inhibitor"),
    "pt-0021": (Severity.CRITICAL, "Digoxin level 2.1 ng/mL"),
    "pt-0022": (Severity.WARNING, "without an ACE inhibitor or ARB"),
    "pt-0023": (Severity.WARNING, "Metformin is active with eGFR 32"),
    "pt-0024": (Severity.WARNING, "Triple antithrombotic therapy"),
}


@pytest.mark.parametrize(("patient", "expected"), sorted(EXPECTED_ALERTS.items()))
def test_the_synthetic_patients_raise_the_alerts_they_were_built_for(
    patient: str, expected: tuple[Severity, str]
) -> None:
    record = read_bundle_file(PATIENTS / f"{patient}.json")
    alerts = _alerts(record)
    assert any(
        severity == expected[0] and expected[1] in message for severity, message in alerts
    ), alerts


def test_a_correct_dose_raises_no_dose_alert() -> None:
    record = read_bundle_file(PATIENTS / "pt-0019.json")  # apixaban 5 mg, no criteria met
    assert not any("Apixaban" in message for _, message in _alerts(record))
