"""Scores one briefing against its patient's expected findings, by rules you can read.

- **Recall**: an expected finding is found when one sentence of a statement names one of its
  subjects, states one of its actions and one of its thresholds (those it has), and is not
  addressed to people the patient is not among (rule 4 below). An expected
  alert must be an alert; an expected recommendation may be stated by either. A recommendation
  whose sentence leaves the drug implicit ("halve the dose") names it through its rationale.
- **Precision**: a recommendation fits the patient when it
  1. names one of the patient's drugs, conditions, labs or allergies;
  2. advises something: a sentence states an action or advice ("should", "target") and is not
     a definition ("This summary covers ... defined as ...");
  3. advises about no drug the patient does not take. Allowed: starting a drug, advising
     against one, a drug listed with one the patient takes ("spironolactone or eplerenone"),
     an example of a class it starts ("an SGLT2 inhibitor such as empagliflozin"), and a drug
     the patient is allergic to;
  4. is addressed to no population the patient is not in (populations.py): "people with
     diabetes and established ASCVD" for a patient without ASCVD, "in HFrEF" for one without
     heart failure, "people without ASCVD" for one with it.
- **Forbidden statements**: the patient's explicit ones (data/patients/expected/findings.json),
  in any statement; a rule quoted with its condition ("reduced to 2.5 mg if two of ...") is not
  an instruction and breaks none. Apart from them, every recommendation about a drug the patient
  does not take (rule 3) is counted: the target for the offline agent is none.
- **Grounding**, two ways: the scorer's own rule (grounding.py: the drugs and the numbers with a
  unit or a lab name of a recommendation appear in a passage it cites or in the record), and
  the orchestrator's grounding check (services/orchestrator/grounding.py), read from the flags
  the briefing carries: a recommendation passes it when it has none.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from eval.briefings.actions import Action, advises_against, starts, states
from eval.briefings.findings import Expected, Forbidden, PatientFindings
from eval.briefings.grounding import ungrounded
from eval.briefings.lexicon import (
    ALLERGIES,
    CONDITIONS,
    DRUGS,
    LABS,
    SUBJECTS,
    Entry,
    Kind,
    drug_lists,
    drug_mentions,
    subject_pattern,
)
from eval.briefings.patient import PatientFacts
from eval.briefings.populations import populations, unmet
from eval.briefings.statements import Briefing, Statement
from eval.briefings.text import split_sentences, states_threshold

_DEFINITION = re.compile(
    r"\b(?:is|are)\s+defined\b|\bdefined\s+(?:in|as|by)\b|\bdescribes?\b.*\bas\b|"
    r"\brefers\s+to\b|\bincludes?\b|\b(?:is|are)\s+classed\s+as\b|"
    r"\bthis\s+(?:summary|guideline|section|document)\s+covers\b",
    re.IGNORECASE,
)
# Wording of advice beside the actions: "should be treated to a target below 130/80".
_ADVICE = re.compile(
    r"\b(?:should|must|recommend\w*|suggest\w*|advis\w*|reasonable|target|aim|choose|"
    r"may\s+be|can\s+be)\b",
    re.IGNORECASE,
)
_CONDITIONAL = re.compile(r"\b(?:if|when|unless|only\s+if|provided)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Hit:
    """A statement that breaks a rule, with the sentence that does."""

    key: str
    statement: str  # "recommendation 3"
    sentence: str


@dataclass
class RecommendationVerdict:
    number: int
    text: str
    fits_patient: bool
    reasons: list[str] = field(default_factory=list)  # why it does not
    ungrounded: list[str] = field(default_factory=list)  # drugs and numbers found nowhere
    grounding_flags: list[str] = field(default_factory=list)  # the orchestrator's check
    support_similarity: float | None = None

    @property
    def grounded(self) -> bool:
        return not self.ungrounded

    @property
    def passes_check(self) -> bool:
        return not self.grounding_flags


@dataclass
class PatientScore:
    patient_id: str
    found: dict[str, str]  # expected key -> the statement that states it
    missed: list[str]
    recommendations: list[RecommendationVerdict]
    forbidden: list[Hit]  # explicit forbidden statements found
    not_taken: list[Hit]  # sentences of recommendations about drugs the patient does not take

    @property
    def expected(self) -> int:
        return len(self.found) + len(self.missed)

    @property
    def recall(self) -> float:
        return len(self.found) / self.expected if self.expected else 1.0

    @property
    def fitting(self) -> int:
        return sum(v.fits_patient for v in self.recommendations)

    @property
    def precision(self) -> float:
        return self.fitting / len(self.recommendations) if self.recommendations else 1.0

    @property
    def grounded(self) -> int:
        return sum(v.grounded for v in self.recommendations)

    @property
    def passing_check(self) -> int:
        """Recommendations with no grounding flag from the orchestrator."""
        return sum(v.passes_check for v in self.recommendations)

    @property
    def not_taken_recommendations(self) -> int:
        """Recommendations with advice about a drug the patient does not take."""
        return len({hit.statement for hit in self.not_taken})


def _names(sentence: str, subjects: Sequence[str]) -> bool:
    return any(subject_pattern(s).search(sentence) for s in subjects)


def _states_action(sentence: str, action: Action, subjects: Sequence[str]) -> bool:
    """Starting is read as the subject's own verb when the sentence names the subject."""
    if action is Action.START and _names(sentence, subjects):
        return any(starts(sentence, subject_pattern(s)) for s in subjects)
    return states(sentence, action)


def states_finding(statement: Statement, expected: Expected, facts: PatientFacts) -> bool:
    """Whether one sentence of the statement states the expected finding (a sentence addressed
    to people the patient is not among states nothing for them)."""
    if expected.kind == "alert" and statement.kind != "alert":
        return False
    in_rationale = _names(statement.rationale, expected.subjects)
    for sentence in split_sentences(statement.text):
        if not (in_rationale or _names(sentence, expected.subjects)):
            continue
        if unmet(sentence, facts):
            continue
        if expected.actions and not any(
            _states_action(sentence, a, expected.subjects) for a in expected.actions
        ):
            continue
        if expected.thresholds and not any(
            states_threshold(sentence, t) for t in expected.thresholds
        ):
            continue
        return True
    return False


def _allergic_to(entry: Entry, facts: PatientFacts) -> bool:
    """Whether a drug is one the patient has a recorded allergy or intolerance to."""
    return any(
        entry.members & DRUGS[drug].members
        for key in facts.allergies
        for drug in ALLERGIES[key].members
    )


def not_taken_advice(sentence: str, facts: PatientFacts) -> list[str]:
    """Drugs a sentence advises about that the patient does not take (rule 3 of the module)."""
    mentions = drug_mentions(sentence)
    decided = [
        m
        for m in mentions
        if starts(sentence, subject_pattern(m.key))
        or advises_against(sentence, subject_pattern(m.key))
    ]
    beside_taken = {
        entry.key
        for group in drug_lists(sentence)
        if any(facts.takes(m.key) for m in group)
        for entry in group
    }
    advised = []
    for entry in mentions:
        if facts.takes(entry.key) or entry in decided or entry.key in beside_taken:
            continue
        if _allergic_to(entry, facts):
            continue
        if any(entry.members <= other.members for other in decided):
            continue  # an example of a class it starts: "an SGLT2i such as empagliflozin"
        advised.append(entry.key)
    return advised


def _about_patient(text: str, facts: PatientFacts) -> bool:
    if any(facts.takes(m.key) for m in drug_mentions(text)):
        return True
    for entries in (CONDITIONS, LABS, ALLERGIES):
        for key, entry in entries.items():
            if facts.has(key) and entry.pattern.search(text):
                return True
    return False


def advises(sentence: str) -> bool:
    """Whether a sentence states an action or advice, and is not a definition."""
    if _DEFINITION.search(sentence):
        return False
    return bool(_ADVICE.search(sentence)) or any(states(sentence, a) for a in Action)


def judge(statement: Statement, briefing: Briefing, facts: PatientFacts) -> RecommendationVerdict:
    """Whether a recommendation fits the patient, and what of it is ungrounded."""
    sentences = split_sentences(statement.text)
    reasons = []
    if not _about_patient(statement.text, facts):
        reasons.append("names none of the patient's drugs, conditions, labs or allergies")
    if not any(advises(sentence) for sentence in sentences):
        reasons.append("advises nothing (a definition or a description)")
    for sentence in sentences:
        for drug in not_taken_advice(sentence, facts):
            reasons.append(f"about {drug}, which the patient does not take")
        missing = unmet(sentence, facts)
        if missing:
            reasons.append(f"addressed to people with {' and '.join(missing)}")
    return RecommendationVerdict(
        number=statement.number,
        text=statement.text,
        fits_patient=not reasons,
        reasons=list(dict.fromkeys(reasons)),
        ungrounded=ungrounded(statement, briefing, facts),
        grounding_flags=list(statement.grounding_flags),
        support_similarity=statement.support_similarity,
    )


def _breaks(sentence: str, forbidden: Forbidden, facts: PatientFacts) -> bool:
    if all(SUBJECTS[s].kind is Kind.CONDITION for s in forbidden.subjects):
        addressed = {
            c for p in populations(sentence) if not p.without for a in p.alternatives for c in a
        }
        return bool(addressed & set(forbidden.subjects)) and bool(unmet(sentence, facts))
    if _CONDITIONAL.search(sentence) or not _names(sentence, forbidden.subjects):
        return False
    return any(_states_action(sentence, a, forbidden.subjects) for a in forbidden.actions)


def score(briefing: Briefing, findings: PatientFindings, facts: PatientFacts) -> PatientScore:
    found: dict[str, str] = {}
    for expected in findings.expected:
        match = next((s for s in briefing.statements if states_finding(s, expected, facts)), None)
        if match is not None:
            found[expected.key] = match.label
    forbidden = [
        Hit(f.key, s.label, sentence)
        for s in briefing.statements
        for sentence in split_sentences(s.text)
        for f in findings.forbidden
        if _breaks(sentence, f, facts)
    ]
    not_taken = []
    for statement in briefing.recommendations:
        for sentence in split_sentences(statement.text):
            drugs = not_taken_advice(sentence, facts)
            if drugs:
                not_taken.append(Hit(f"not-taken:{','.join(drugs)}", statement.label, sentence))
    return PatientScore(
        patient_id=briefing.patient_id,
        found=found,
        missed=[e.key for e in findings.expected if e.key not in found],
        recommendations=[judge(s, briefing, facts) for s in briefing.recommendations],
        forbidden=forbidden,
        not_taken=not_taken,
    )
