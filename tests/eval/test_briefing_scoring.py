"""The briefing scorer on hand-made briefings of the synthetic patients: a matching
recommendation, a wrong threshold, advice about a drug the patient does not take, a "start X"
that is allowed, negations, populations the patient is not in, and grounding."""

from __future__ import annotations

from datetime import date

import pytest

from eval.briefings.findings import PatientFindings, load_findings
from eval.briefings.patient import PatientFacts, load_facts
from eval.briefings.scoring import PatientScore, score
from eval.briefings.statements import make_briefing
from eval.briefings.text import parse_threshold, states_threshold
from tests.eval.briefing_support import PATIENTS

FINDINGS = load_findings()
TODAY = date(2026, 12, 1)


def facts(patient_id: str) -> PatientFacts:
    return load_facts(PATIENTS / f"{patient_id}.json", TODAY)


def findings(patient_id: str) -> PatientFindings:
    return FINDINGS[patient_id]


def scored(
    patient_id: str,
    alerts: tuple[str, ...] = (),
    recommendations: tuple[str | tuple[str, str, tuple[str, ...]], ...] = (),
    sources: dict[str, str] | None = None,
) -> PatientScore:
    briefing = make_briefing(patient_id, alerts, recommendations, sources)
    return score(briefing, findings(patient_id), facts(patient_id))


METFORMIN_PASSAGE = (
    "Metformin and kidney function. eGFR 30–44: halve the dose (maximum about 1,000 mg/day) "
    "and monitor eGFR every 3–6 months. eGFR below 30: stop metformin."
)


def test_a_recommendation_with_drug_action_and_threshold_is_found() -> None:
    result = scored(
        "pt-0001",
        recommendations=(
            (
                "eGFR 30–44: halve the dose (maximum about 1,000 mg/day) and monitor eGFR every "
                "3–6 months.",
                "Applies to the active medication: metformin.",
                ("S1",),
            ),
        ),
        sources={"S1": METFORMIN_PASSAGE},
    )
    assert result.found == {"metformin-reduce": "recommendation 1"}
    assert result.recommendations[0].fits_patient
    assert result.recommendations[0].grounded
    assert "metformin-stop-below-30" in result.missed
    assert result.recall == pytest.approx(1 / len(findings("pt-0001").expected))


@pytest.mark.parametrize(
    "text",
    [
        "Reduce metformin when eGFR falls below 60.",  # the wrong eGFR
        "Reduce metformin to 1,500 mg/day.",  # the wrong dose
        "Metformin 1,000 mg/day is the usual dose at eGFR 45.",  # the right numbers, no action
        "Reduce lisinopril to 1,000 mg at eGFR 45.",  # another drug
    ],
)
def test_a_wrong_threshold_action_or_drug_does_not_find_the_finding(text: str) -> None:
    assert "metformin-reduce" in scored("pt-0001", recommendations=(text,)).missed


def test_numbers_are_compared_as_numbers_with_their_unit() -> None:
    assert states_threshold("at most 1,000 mg/day", parse_threshold("1000 mg"))
    assert states_threshold("apixaban 5.0 mg twice daily", parse_threshold("5 mg"))
    assert states_threshold("eGFR 30–44 mL/min", parse_threshold("30-44"))
    assert not states_threshold("1000 mL of fluid", parse_threshold("1000 mg"))
    assert not states_threshold("eGFR 30–45", parse_threshold("30-44"))


def test_advice_about_a_drug_the_patient_does_not_take_is_forbidden_and_imprecise() -> None:
    # pt-0001 takes lisinopril, no MRA (the first example).
    result = scored(
        "pt-0001",
        recommendations=(
            "Potassium 5.0–5.5 mEq/L: review diet, supplements and interacting drugs; "
            "consider halving the MRA dose.",
        ),
    )
    assert [hit.key for hit in result.not_taken] == ["not-taken:mra"]
    assert [hit.key for hit in result.forbidden] == ["no-mra-advice"]
    verdict = result.recommendations[0]
    assert not verdict.fits_patient
    assert verdict.reasons == ["about mra, which the patient does not take"]
    assert result.precision == 0.0


def test_the_same_advice_fits_a_patient_on_the_drug() -> None:
    # pt-0004 takes spironolactone with potassium 5.4.
    result = scored(
        "pt-0004",
        recommendations=("Potassium 5.0–5.5 mEq/L: consider halving the MRA dose.",),
    )
    assert result.not_taken == []
    assert result.recommendations[0].fits_patient
    assert "mra-potassium" in result.found


@pytest.mark.parametrize(
    "text",
    [
        "Start an SGLT2 inhibitor such as empagliflozin for kidney protection in CKD.",
        "We recommend treating patients with T2D, CKD and eGFR ≥20 with an SGLT2i.",
        "Add dapagliflozin 10 mg daily to slow CKD progression.",
    ],
)
def test_saying_to_start_a_drug_not_taken_is_allowed(text: str) -> None:
    result = scored("pt-0001", recommendations=(text,))
    assert result.not_taken == []
    assert result.recommendations[0].fits_patient, result.recommendations[0].reasons
    assert "sglt2i-start" in result.found


def test_a_drug_that_may_be_chosen_is_started() -> None:
    # pt-0010 takes ezetimibe, not a PCSK9 inhibitor (the 2022 ACC pathway, quoted under DBSF).
    text = "Ezetimibe or a PCSK9 monoclonal antibody may be chosen first."
    assert scored("pt-0010", recommendations=(text,)).not_taken == []


def test_a_verb_about_another_drug_is_not_a_start() -> None:
    # "consider" is about halving the dose, not about starting an MRA.
    result = scored("pt-0009", recommendations=("Consider halving the MRA dose.",))
    assert "spironolactone-add" in result.missed
    assert [hit.key for hit in result.not_taken] == ["not-taken:mra"]


def test_one_of_a_choice_beside_the_drug_taken_is_not_advice_about_another_drug() -> None:
    # pt-0009 takes losartan: "an ACE inhibitor or an ARB" is about her ARB.
    result = scored(
        "pt-0009",
        recommendations=("Keep an ACE inhibitor or an ARB at the highest tolerated dose in CKD.",),
    )
    assert result.not_taken == []
    assert result.recommendations[0].fits_patient


def test_advising_against_a_drug_not_taken_is_allowed() -> None:
    # pt-0013: ACE-inhibitor angioedema; she takes neither an ACE inhibitor nor an ARNI.
    result = scored(
        "pt-0013",
        alerts=("History of ACE-inhibitor angioedema (lisinopril).",),
        recommendations=(
            "Sacubitril/valsartan is contraindicated after ACE-inhibitor angioedema.",
            "Avoid ACE inhibitors; an ARB may be used with caution to treat albuminuria.",
        ),
    )
    assert result.not_taken == []
    assert result.forbidden == []
    assert {"acei-angioedema", "arni-avoid", "acei-avoid", "arb-caution"} <= set(result.found)


def test_starting_a_forbidden_drug_is_caught_even_though_starting_is_allowed() -> None:
    result = scored(
        "pt-0013",
        recommendations=("Start an ACE inhibitor such as ramipril for albuminuria.",),
    )
    assert result.not_taken == []  # a start is not advice about a drug not taken...
    assert [hit.key for hit in result.forbidden] == ["no-acei"]  # ...but here it is wrong


def test_a_negated_action_is_not_stated() -> None:
    # pt-0019: apixaban 5 mg twice daily is right; reducing it is forbidden.
    right = scored(
        "pt-0019",
        recommendations=(
            "No dose reduction is needed: apixaban 5 mg twice daily is the correct dose.",
            "Reassess the apixaban dose when she turns 80.",
        ),
    )
    assert right.forbidden == []
    assert set(right.found) == {"apixaban-correct", "apixaban-reassess-at-80"}
    wrong = scored("pt-0019", recommendations=("Reduce apixaban to 2.5 mg twice daily.",))
    assert [hit.key for hit in wrong.forbidden] == ["no-apixaban-reduction"]


def test_advice_for_a_population_the_patient_is_not_in_does_not_fit() -> None:
    statin = (
        "All people with diabetes and established ASCVD should receive a high-intensity statin."
    )
    without = scored("pt-0001", recommendations=(statin,))  # diabetes, no ASCVD
    assert not without.recommendations[0].fits_patient
    assert without.recommendations[0].reasons == ["addressed to people with ascvd"]
    assert [hit.key for hit in without.forbidden] == ["no-ascvd-premise"]
    # pt-0024 has ASCVD (NSTEMI with a stent) but no diabetes.
    assert not scored("pt-0024", recommendations=(statin,)).recommendations[0].fits_patient
    alternative = "In people with diabetes and ASCVD or multiple risk factors, add an SGLT2i."
    assert scored("pt-0001", recommendations=(alternative,)).recommendations[0].fits_patient


def test_an_expected_alert_must_be_an_alert() -> None:
    as_recommendation = scored(
        "pt-0011", recommendations=("Penicillin anaphylaxis: avoid penicillins.",)
    )
    assert as_recommendation.missed == ["penicillin-anaphylaxis"]
    as_alert = scored("pt-0011", alerts=("Penicillin allergy with anaphylaxis (high).",))
    assert as_alert.found == {"penicillin-anaphylaxis": "alert 1"}
    assert as_alert.recall == 1.0


def test_a_recommendation_about_nothing_of_the_patient_does_not_fit() -> None:
    result = scored(
        "pt-0011",
        recommendations=("Zebra-pox vaccination: give two doses four weeks apart.",),
    )
    assert "names none of the patient's drugs, conditions, labs or allergies" in (
        result.recommendations[0].reasons
    )


def test_grounding_finds_an_invented_dose_and_a_drug_no_passage_names() -> None:
    result = scored(
        "pt-0023",
        recommendations=(
            ("Reduce metformin to 750 mg/day at eGFR 32.", "", ("S1",)),
            ("eGFR 30–44: halve the dose (maximum about 1,000 mg/day).", "", ("S1",)),
            ("Switch to linagliptin 5 mg daily.", "", ("S1",)),
        ),
        sources={"S1": METFORMIN_PASSAGE},
    )
    invented, quoted, other_drug = result.recommendations
    assert invented.ungrounded == ["750 mg"]  # eGFR 32 is in her record
    assert quoted.grounded
    assert other_drug.ungrounded == ["linagliptin", "5 mg"]
    assert result.grounded == 1


def test_a_drug_listed_with_one_the_patient_takes_is_not_advice_about_another() -> None:
    # pt-0004 takes spironolactone (not eplerenone) and dapagliflozin (not empagliflozin).
    result = scored(
        "pt-0004",
        recommendations=(
            "Spironolactone or eplerenone is recommended for NYHA class II–IV HFrEF.",
            "SGLT2 inhibitors (empagliflozin or dapagliflozin) are recommended in HFrEF.",
            "Eplerenone 50 mg once daily is the target dose.",
        ),
    )
    assert [hit.key for hit in result.not_taken] == ["not-taken:eplerenone"]
    assert result.not_taken[0].statement == "recommendation 3"


def test_a_definition_advises_nothing() -> None:
    # The third example: a "Scope and definitions" passage quoted as a recommendation.
    scope = (
        "This summary covers guideline-directed medical therapy (GDMT) for heart failure with "
        "reduced ejection fraction (HFrEF), defined in the 2022 AHA/ACC/HFSA guideline as "
        "symptomatic heart failure with a left ventricular ejection fraction (LVEF) of 40% or less."
    )
    verdict = scored("pt-0004", recommendations=(scope,)).recommendations[0]
    assert verdict.reasons == ["advises nothing (a definition or a description)"]


def test_a_referral_is_advice_not_a_definition() -> None:
    # "refers to" defines; the imperative "Refer to nephrology" advises.
    referral = "Refer to nephrology: specialist kidney care is recommended when eGFR is below 30."
    result = scored("pt-0014", recommendations=(referral,))
    assert result.recommendations[0].fits_patient
    assert "nephrology" in result.found
    definition = "CKD G4 refers to an eGFR of 15–29 mL/min/1.73 m²."
    verdict = scored("pt-0014", recommendations=(definition,)).recommendations[0]
    assert verdict.reasons == ["advises nothing (a definition or a description)"]


@pytest.mark.parametrize(
    ("patient_id", "text", "reason"),
    [
        # pt-0010 has coronary disease: primary prevention is not for him.
        (
            "pt-0010",
            "In people without ASCVD, aspirin may be considered for primary prevention.",
            "addressed to people with no ascvd",
        ),
        # pt-0010 has no heart failure.
        (
            "pt-0010",
            "Only three beta-blockers have shown mortality benefit in HFrEF; use metoprolol "
            "succinate.",
            "addressed to people with hfref",
        ),
    ],
)
def test_populations_without_a_condition_and_scopes_are_read(
    patient_id: str, text: str, reason: str
) -> None:
    assert reason in scored(patient_id, recommendations=(text,)).recommendations[0].reasons


def test_a_condition_negated_in_the_population_is_not_required() -> None:
    # pt-0001: diabetes and CKD, not on dialysis.
    text = (
        "KDIGO recommends an individualised HbA1c target in people with diabetes and CKD not on "
        "dialysis."
    )
    assert scored("pt-0001", recommendations=(text,)).recommendations[0].fits_patient


def test_a_rule_quoted_with_its_condition_is_not_a_forbidden_instruction() -> None:
    quoted = "Apixaban: 5 mg twice daily, reduced to 2.5 mg twice daily if two of: age ≥80 years."
    assert scored("pt-0019", recommendations=(quoted,)).forbidden == []
    # ...and for pt-0006, who meets the criteria, it states the expected reduction.
    assert "apixaban-reduce" in scored("pt-0006", recommendations=(quoted,)).found


def test_advice_for_another_population_states_no_finding() -> None:
    # pt-0010 (statin intolerance, no diabetes): "start a statin" for people with diabetes is
    # not his rechallenge.
    text = "All people with diabetes and established ASCVD should receive a high-intensity statin."
    assert "statin-rechallenge" in scored("pt-0010", recommendations=(text,)).missed
    rechallenge = "Rechallenge with a different statin at a low dose."
    assert "statin-rechallenge" in scored("pt-0010", recommendations=(rechallenge,)).found


def test_a_switch_names_its_targets_to_the_end_of_its_clause() -> None:
    # pt-0016 takes glyburide and metformin, no SGLT2 inhibitor or GLP-1 receptor agonist.
    text = (
        "When hypoglycemia occurs, sulfonylurea doses should be reduced, or treatment changed to "
        "agents with low hypoglycemia risk (SGLT2 inhibitors, GLP-1 receptor agonists)."
    )
    assert scored("pt-0016", recommendations=(text,)).not_taken == []
