"""The offline agent's rules on the synthetic patients, and the recommendations made from their
actions: each action is a recommendation citing the passages that back it, or an uncited one
that says no passage does (issue 18, point 3, cause 4)."""

from __future__ import annotations

import pytest

from services.orchestrator.agent.clinical import read_facts
from services.orchestrator.agent.domain import SearchCall, SearchOutcome, Severity
from services.orchestrator.agent.offline import UNBACKED, action_recommendations
from services.orchestrator.agent.planning import plan_searches
from services.orchestrator.agent.rules import Finding, record_findings
from services.orchestrator.patients.models import Coding, MedicationStatement
from tests.orchestrator.offline_support import TODAY, passage, patient


def _findings(patient_id: str) -> list[Finding]:
    record, facts, _ = patient(patient_id)
    return record_findings(record, facts)


def _one(patient_id: str, fragment: str) -> Finding:
    matching = [f for f in _findings(patient_id) if fragment in f"{f.message} {f.action}"]
    assert len(matching) == 1, [f"{f.message} | {f.action}" for f in _findings(patient_id)]
    return matching[0]


# (patient, words of the finding's message or action, its alert's severity or None for advice)
NEW_RULES = [
    # Allergies with no conflicting drug are stated.
    ("pt-0011", "Allergy to Penicillin recorded (anaphylaxis, high criticality)", Severity.WARNING),
    ("pt-0018", "Intolerance to codeine recorded (nausea)", Severity.INFO),
    ("pt-0013", "ACE-inhibitor angioedema recorded (lisinopril)", Severity.WARNING),
    # Haemoglobin: anaemia, and a fall on antithrombotic drugs.
    ("pt-0014", "Haemoglobin 9.4 g/dL (below 13.0): anaemia.", Severity.WARNING),
    ("pt-0024", "Haemoglobin fell from 12.1 to 10.9 g/dL on apixaban", Severity.WARNING),
    ("pt-0014", "Bicarbonate 18 mmol/L (<22): metabolic acidosis.", Severity.WARNING),
    # A dose that is right is confirmed, without an alert.
    ("pt-0019", "Continue apixaban 5 mg twice daily", None),
    # The ACE inhibitor below its highest dose with albuminuria.
    ("pt-0001", "Titrate lisinopril to the highest approved dose", None),
    ("pt-0014", "Refer to nephrology", None),
    # Hyperkalaemia: the MRA by band, a binder to keep RAS blockade.
    ("pt-0004", "Consider halving the spironolactone dose", Severity.WARNING),
    ("pt-0005", "Hold or stop spironolactone", Severity.WARNING),
    ("pt-0014", "Start a potassium binder", None),
    # The missing therapy, searched for as such.
    ("pt-0022", "Start an SGLT2 inhibitor: it is recommended in CKD with eGFR 20", Severity.INFO),
    ("pt-0022", "Start a statin: it is recommended for adults aged 50", Severity.INFO),
    ("pt-0020", "Consider a GLP-1 receptor agonist", None),
    ("pt-0009", "Add spironolactone 12.5–25 mg daily", None),
    ("pt-0009", "Check adherence to the blood-pressure drugs", None),
    ("pt-0007", "Consider switching to apixaban", Severity.INFO),
    ("pt-0024", "Add a proton pump inhibitor", None),
    ("pt-0017", "Reduce sitagliptin to 25 mg once daily", Severity.WARNING),
]


@pytest.mark.parametrize(("patient_id", "fragment", "severity"), NEW_RULES)
def test_the_new_rules_raise_what_the_record_calls_for(
    patient_id: str, fragment: str, severity: Severity | None
) -> None:
    found = _one(patient_id, fragment)
    assert found.severity is severity
    assert (found.alert is None) is (severity is None)
    assert found.action or found.severity is not None


def test_advice_does_not_contradict_the_patient() -> None:
    # After ACE-inhibitor angioedema, no ACE inhibitor is suggested for the albuminuria.
    actions = [f.action for f in _findings("pt-0013")]
    assert not any("Start an ACE inhibitor" in a for a in actions)
    assert any(a.startswith("Consider an ARB, with caution") for a in actions)
    # Apixaban 5 mg without the criteria for 2.5 mg is not to be reduced.
    assert not any("Reduce apixaban" in f.action for f in _findings("pt-0019"))
    # Potassium 6.1 on lisinopril 40 mg: no titration upwards.
    assert not any("Titrate" in f.action for f in _findings("pt-0014"))


def test_each_action_is_searched_for_and_its_drugs_are_not_searched_again() -> None:
    record, facts, _ = patient("pt-0006")
    findings = record_findings(record, facts)
    queries = [s.query for s in plan_searches(record, facts, findings)]
    assert queries[0].startswith("apixaban dose reduction")  # the action's evidence first
    assert not any(q.startswith("apixaban dose reduction age") for q in queries)  # no topic


def _outcome(query: str, *sources: str) -> dict[str, SearchOutcome]:
    documents = {
        "apixaban": passage("ehra-2021-doac-dosing-kidney.md", "Apixaban dosing in AF", "S1"),
        "finerenone": passage(
            "kdigo-2022-diabetes-in-ckd.md", "Finerenone potassium-based algorithm", "S2"
        ),
    }
    call = SearchCall("t1-1", query, 5)
    return {query: SearchOutcome(call, tuple(documents[name] for name in sources))}


def test_an_action_cites_the_passage_that_states_it() -> None:
    _, facts, fits = patient("pt-0006")  # 84, 58 kg, creatinine 1.61, apixaban 5 mg
    [apixaban] = [f for f in _findings("pt-0006") if "apixaban" in f.action]
    assert apixaban.evidence is not None
    outcomes = _outcome(apixaban.evidence.query, "finerenone", "apixaban")
    [recommendation] = action_recommendations([apixaban], outcomes, facts.values, fits)
    assert recommendation.text.startswith("Reduce apixaban to 2.5 mg twice daily")
    assert recommendation.source_ids == ("S1",)
    assert recommendation.rationale.startswith("From the record: Apixaban 5.0 mg with 3 of 3")


def test_an_action_no_passage_states_is_given_without_a_citation_and_says_so() -> None:
    _, facts, fits = patient("pt-0006")
    [apixaban] = [f for f in _findings("pt-0006") if "apixaban" in f.action]
    assert apixaban.evidence is not None
    outcomes = _outcome(apixaban.evidence.query, "finerenone")
    [recommendation] = action_recommendations([apixaban], outcomes, facts.values, fits)
    assert recommendation.source_ids == ()
    assert recommendation.rationale.endswith(UNBACKED)


def test_titration_reads_the_daily_dose() -> None:
    record, _, _ = patient("pt-0001")  # lisinopril 20 mg once daily, UACR 310 mg/g
    enalapril = MedicationStatement(
        coding=Coding(display="enalapril 20 MG Oral Tablet"), dosage_text="20 mg twice daily"
    )
    others = [m for m in record.medications if "lisinopril" not in m.coding.display]
    at_maximum = record.model_copy(update={"medications": [*others, enalapril]})
    findings = record_findings(at_maximum, read_facts(at_maximum, TODAY))
    assert not any(f.action.startswith("Titrate") for f in findings)  # 40 mg/day is the most
