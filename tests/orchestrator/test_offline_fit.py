"""How the offline agent picks a passage's sentences and their subject for one patient, on real
guideline sections and the synthetic patients (issue 18, point 3: each test fails on the agent
as it was before the fix it names)."""

from __future__ import annotations

import pytest

from services.orchestrator.agent.drugs import mentions, recognise
from services.orchestrator.agent.extract import advises, best_sentences, fit, sentences
from services.orchestrator.agent.planning import plan_searches
from services.orchestrator.agent.populations import addressed_elsewhere
from services.orchestrator.patients.models import Coding, MedicationStatement
from tests.orchestrator.offline_support import passage, patient

MRA_SAFETY = "aha-acc-hfsa-2022-hf-mra-raas-safety.md"
ACTING = "Acting on the results"
FINERENONE = ("kdigo-2022-diabetes-in-ckd.md", "Finerenone potassium-based algorithm")
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def _quote(source_heading: tuple[str, str], query: str, patient_id: str, **kwargs: object) -> str:
    source = passage(*source_heading)
    _, facts, fits = patient(patient_id)
    return best_sentences(
        source.text,
        query,
        section=source.section_path,
        values=facts.values,
        accept=fits,
        **kwargs,  # type: ignore[arg-type]
    ).text


# Cause 1: the MRA advice given to patients on an ACE inhibitor without an MRA.


def test_the_document_title_does_not_license_a_section_for_a_search() -> None:
    # pt-0001 takes lisinopril, no MRA. The title "MRA and RAAS Inhibitor Safety Monitoring in
    # Heart Failure" names RAAS, a term of the lisinopril search; the section does not.
    source = passage(MRA_SAFETY, ACTING)
    quote = best_sentences(
        source.text,
        "lisinopril potassium 5.0 creatinine monitoring eGFR 34",
        section=source.section_path,
        terms=("lisinopril", "ace inhibitor", "arb", "ras inhibitor", "raas"),
    )
    assert quote.text == ""


def test_a_sentence_advising_about_a_drug_the_patient_does_not_take_is_not_quoted() -> None:
    _, _, fits = patient("pt-0001")  # lisinopril, metformin, atorvastatin
    halve = (
        "Potassium 5.0–5.5 mEq/L: review diet, supplements and interacting drugs; consider "
        "halving the MRA dose."
    )
    assert fits.reason(halve) == "about mra, not taken"
    assert _quote((MRA_SAFETY, ACTING), "potassium 5.0 eGFR 34", "pt-0001") == ""
    # Saying to start a drug, or not to use one, is advice the patient can act on.
    assert fits("For people with type 2 diabetes and CKD, an SGLT2 inhibitor is recommended.")
    assert fits("Do not use sacubitril/valsartan with an ACE inhibitor such as lisinopril.")


def test_a_drug_listed_with_one_of_its_class_the_patient_takes_is_not_another_subject() -> None:
    _, _, fits = patient("pt-0004")  # spironolactone
    assert fits("Spironolactone or eplerenone is recommended for NYHA class II–IV HFrEF.")
    assert not fits("Finerenone: hold the drug when potassium is >5.5 and restart at 10 mg.")


@pytest.mark.parametrize(
    ("patient_id", "expected"),
    [
        ("pt-0005", "Potassium above 5.5 mEq/L: hold or stop the MRA"),  # potassium 5.6
        ("pt-0004", "Potassium 5.0–5.5 mEq/L: review diet"),  # potassium 5.4
    ],
)
def test_worded_bounds_pick_the_band_the_potassium_falls_in(patient_id: str, expected: str) -> None:
    quote = _quote(
        (MRA_SAFETY, ACTING), "spironolactone hyperkalemia potassium", patient_id, limit=1
    )
    assert quote.startswith(expected)
    # The finerenone algorithm is about a drug neither takes: at most its "do not start".
    finerenone = _quote(FINERENONE, "spironolactone hyperkalemia potassium", patient_id)
    assert "continue the current dose" not in finerenone
    assert "hold finerenone" not in finerenone


def test_bounds_are_read_in_words_and_symbols() -> None:
    at = {"potassium": 5.6}
    assert fit("Potassium above 5.5 mEq/L: hold or stop the MRA.", at).holds == 1
    assert fit("Potassium 6.0 mEq/L or higher: stop the MRA.", at).band_excludes
    assert fit("Potassium above 5.0 to 5.5 mmol/L", at).excludes == 1
    assert fit("age 80 years or older, weight 60 kg or less", {"age": 84, "weight": 58}).holds == 2
    assert fit("eGFR 30 to <45: 50 mg once daily.", {"egfr": 45}).band_excludes


# Cause 2: who a sentence is addressed to.


def test_advice_for_people_with_ascvd_is_not_quoted_for_a_patient_without_it() -> None:
    _, _, fits = patient("pt-0001")  # diabetes, CKD, no ASCVD
    statin = (
        "All people with diabetes and established ASCVD should receive a high-intensity statin, "
        "with a target of at least a 50% reduction in LDL cholesterol."
    )
    assert fits.reason(statin) == "addressed to other patients (lacks ascvd)"


def test_primary_prevention_is_not_quoted_for_a_patient_with_ascvd() -> None:
    _, _, fits = patient("pt-0010")  # coronary disease, old MI, on aspirin
    assert not fits("In people without ASCVD, aspirin 75–162 mg/day may be considered.")
    assert not fits("Aspirin is generally not recommended for primary prevention.")
    assert fits("Aspirin 75–100 mg daily is recommended for secondary prevention in ASCVD.")


def test_the_lipid_search_names_the_risk_category() -> None:
    queries = {}
    for patient_id in ("pt-0010", "pt-0022"):
        record, facts, _ = patient(patient_id)
        queries[patient_id] = [s.query for s in plan_searches(record, facts) if "LDL" in s.query]
    assert any("secondary prevention ASCVD" in q for q in queries["pt-0010"])
    assert not any("secondary prevention" in q for q in queries["pt-0022"])


def test_a_population_later_in_a_heading_is_read() -> None:
    heading = "Loop diuretics for congestion in chronic heart failure"
    assert addressed_elsewhere(heading, frozenset({"ckd"})) == "lacks heart_failure"


AF_STROKE = "acc-aha-2023-af-stroke-prevention.md"
CARDIOVERSION = (
    "For AF lasting 48 hours or longer, or of unknown duration, give therapeutic anticoagulation "
    "for at least 3 weeks before cardioversion or perform transesophageal echocardiography to "
    "exclude left atrial thrombus."
)
COMBINATION = "acc-2020-antithrombotic-combination-bleeding.md"


def test_advice_around_a_procedure_is_only_for_a_patient_who_has_it() -> None:
    # Chronic AF on rivaroxaban, no cardioversion planned: the cardioversion section is not hers.
    _, _, fits = patient("pt-0007")
    assert fits.reason(CARDIOVERSION) == "addressed to other patients (lacks cardioversion)"
    cardioversion = passage(AF_STROKE, "Anticoagulation around cardioversion")
    assert not fits.section_fits(cardioversion.section_path)
    assert not fits.section_fits(
        passage(COMBINATION, "Interrupting warfarin for procedures").section_path
    )
    # The PCI of pt-0024 is in his aspirin's dosage note ("since stent, March 2026"); pt-0010,
    # with coronary disease and no PCI on record, is not addressed by "after PCI".
    after_pci = (
        "After PCI for CCD: dual antiplatelet therapy (aspirin plus clopidogrel) for 6 months."
    )
    _, _, stented = patient("pt-0024")
    _, _, not_stented = patient("pt-0010")
    assert "pci" in stented.conditions and "pci" not in not_stented.conditions
    assert stented.section_fits(passage(COMBINATION, "Default strategy").section_path)
    assert stented(after_pci)
    assert not_stented.reason(after_pci) == "addressed to other patients (lacks pci)"
    # One item of a list of who needs a lower dose is not a procedure's scope.
    listed = (
        "Use a lower starting dose (5 mg or less) in older adults, frail or malnourished "
        "patients, liver disease, heart failure, after recent surgery, with interacting drugs."
    )
    assert addressed_elsewhere(listed, frozenset({"older_adult"})) == ""


def test_a_population_named_by_a_drug_is_read() -> None:
    aspirin = (
        "Aspirin 75–100 mg daily is recommended for patients with CCD who do not need an oral "
        "anticoagulant."
    )
    _, _, on_apixaban = patient("pt-0024")  # CCD, AF on apixaban, aspirin and clopidogrel
    assert on_apixaban.reason(aspirin) == "addressed to other patients (not on anticoagulant)"
    on_anticoagulant = (
        "Patients who need anticoagulation: beyond 12 months after PCI, stop aspirin."
    )
    assert on_apixaban(on_anticoagulant)
    _, _, on_aspirin = patient("pt-0010")  # CCD on aspirin, no anticoagulant
    assert on_aspirin(
        "A proton pump inhibitor is reasonable for patients on antiplatelet therapy at high risk "
        "of gastrointestinal bleeding."
    )
    assert on_aspirin.on_other_drugs("In patients taking warfarin, check the INR weekly.") == (
        "on warfarin"
    )


# Cause 3: definitions, HFrEF and HFpEF, the drug a medication is.


def test_a_definition_is_not_advice() -> None:
    scope = (
        "This summary covers guideline-directed medical therapy (GDMT) for heart failure with "
        "reduced ejection fraction (HFrEF), defined in the 2022 AHA/ACC/HFSA guideline as "
        "symptomatic heart failure with a left ventricular ejection fraction (LVEF) of 40% or less."
    )
    assert not advises(scope)
    source = passage("aha-acc-hfsa-2022-hf-gdmt.md", "Scope and definitions")
    quote = best_sentences(source.text, "heart failure HFrEF therapy", section=source.section_path)
    assert "This summary covers" not in quote.text


def test_hfpef_is_searched_as_hfpef_and_not_given_hfref_advice() -> None:
    record, facts, fits = patient("pt-0012")  # heart failure with normal ejection fraction
    queries = [s.query for s in plan_searches(record, facts)]
    assert any("HFpEF" in q for q in queries)
    assert not any("HFrEF" in q for q in queries)
    hfref = passage("aha-acc-hfsa-2022-hf-gdmt.md", "SGLT2 inhibitors in HFrEF")
    assert not fits.section_fits(hfref.section_path)
    hfpef = passage("aha-acc-hfsa-2022-hf-diuretics-hfpef-ckd.md", "Drug therapy for HFpEF")
    assert fits.section_fits(hfpef.section_path)


@pytest.mark.parametrize(
    ("code", "display", "name", "drug_class"),
    [
        ("1656328", "sacubitril / valsartan", "sacubitril/valsartan", "arni"),
        ("", "sacubitril 97 MG / valsartan 103 MG Oral Tablet", "sacubitril/valsartan", "arni"),
        ("", "Sacubitril / Valsartan 49 MG / 51 MG Oral Tablet", "sacubitril/valsartan", "arni"),
        ("36676", "sodium bicarbonate", "sodium bicarbonate", "alkali"),
        ("", "sodium bicarbonate 650 MG Oral Tablet", "sodium bicarbonate", "alkali"),
        ("", "hydroxychloroquine sulfate 200 MG Oral Tablet", "hydroxychloroquine sulfate", ""),
        ("274783", "insulin glargine", "insulin glargine", "insulin"),
    ],
)
def test_a_drug_is_recognised_by_its_code_or_whole_display(
    code: str, display: str, name: str, drug_class: str
) -> None:
    statement = MedicationStatement(coding=Coding(system=RXNORM, code=code, display=display))
    drug = recognise(statement)
    assert (drug.name, drug.drug_class) == (name, drug_class)


def test_the_why_line_names_the_whole_drug() -> None:
    record, facts, _ = patient("pt-0004")
    reasons = [s.reason for s in plan_searches(record, facts)]
    assert "active medication: sacubitril/valsartan" in reasons


def test_overlapping_drug_names_resolve_to_the_longest() -> None:
    keys = [
        m.key for m in mentions("Insulin secretagogues and sacubitril/valsartan, not valsartan")
    ]
    assert keys == ["sulfonylurea", "sacubitril/valsartan", "valsartan"]


# Cause 4 (extraction): a list item keeps its lead-in, so a table row keeps its drug and verb.


def test_a_list_item_keeps_the_lead_in_that_names_its_subject() -> None:
    source = passage("ada-2025-ckd-in-diabetes.md", "Referral to nephrology")
    items = sentences(source.text, " > ".join(source.section_path))
    assert items[0].full == (
        "People with diabetes and CKD should be referred to a nephrologist when: eGFR is "
        "<30 mL/min/1.73 m²."
    )


# Cause 5 (issue 18, under DBSF): the drug a sentence advises about is its subject, not every
# drug it names.

ASPIRIN_NOT_OAC = (
    "The 2023 guideline states that aspirin alone, or aspirin plus clopidogrel, should not be "
    "used as an alternative to oral anticoagulation for stroke prevention in AF (Class 3: harm)."
)


@pytest.mark.parametrize("patient_id", ["pt-0006", "pt-0007", "pt-0008", "pt-0019", "pt-0021"])
def test_advice_against_drugs_the_patient_does_not_take_is_not_quoted(patient_id: str) -> None:
    # AF on an anticoagulant, neither aspirin nor clopidogrel: "oral anticoagulation" names the
    # patient's drug, but the sentence advises about aspirin and clopidogrel.
    _, _, fits = patient(patient_id)
    assert fits.reason(ASPIRIN_NOT_OAC) == "about aspirin, clopidogrel, not taken"
    quote = _quote(
        (AF_STROKE, "Aspirin is not a substitute for anticoagulation"),
        "atrial fibrillation anticoagulation stroke prevention",
        patient_id,
    )
    assert "aspirin" not in quote.lower()


def test_advice_against_a_drug_stays_for_a_patient_who_takes_it_or_its_partner() -> None:
    _, _, on_both = patient("pt-0024")  # apixaban, aspirin and clopidogrel
    assert on_both.not_taken_advice(ASPIRIN_NOT_OAC) == []
    _, _, on_lisinopril = patient("pt-0001")
    # Not combining a drug with one the patient takes is advice about the patient's drug.
    assert on_lisinopril("Do not use sacubitril/valsartan with an ACE inhibitor.")
    assert on_lisinopril.not_taken_advice("Avoid sacubitril/valsartan in CKD.") == [
        "sacubitril/valsartan"
    ]


def test_a_negated_description_is_not_advice() -> None:
    # What the AF search quoted once the aspirin sentence no longer fitted.
    stages = (
        "Stroke prevention decisions apply from Stage 3 onward and do not depend on whether AF "
        "is paroxysmal, persistent or permanent."
    )
    assert not advises(stages)
    assert advises("If potassium rises above 6.0 mmol/L, do not restart the MRA.")
    assert advises("Do not combine an ACE inhibitor with an ARB.")


def test_a_drug_to_choose_beside_the_patients_own_is_advice_for_them() -> None:
    # pt-0010 takes ezetimibe; the PCSK9 antibody is offered as a start, beside it.
    _, _, fits = patient("pt-0010")
    assert (
        fits.not_taken_advice("Ezetimibe or a PCSK9 monoclonal antibody may be chosen first.") == []
    )
