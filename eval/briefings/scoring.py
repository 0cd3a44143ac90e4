"""Scores one briefing against its patient's expected findings, by rules you can read.

- **Recall**: an expected finding is found when one sentence of a statement names one of its
  subjects, states one of its actions and one of its thresholds (those it has). An expected
  alert must be an alert; an expected recommendation may be stated by either. A recommendation
  whose sentence leaves the drug implicit ("halve the dose") names it through its rationale.
- **Precision**: a recommendation fits the patient when it names one of the patient's drugs,
  conditions or labs, advises about no drug the patient does not take (starting one, or
  advising against one, is allowed; so is "an ACE inhibitor or an ARB" beside the one taken;
  and a drug the patient is allergic to), and is addressed to no population the patient is not
  in ("people with diabetes and established ASCVD" for a patient without ASCVD).
- **Forbidden statements**: the patient's explicit ones (data/patients/expected/findings.json),
  in any statement, plus every recommendation about a drug the patient does not take.
- **Grounding** (a hook for the grounding check to come): the drugs and the numbers with a unit
  or a lab name of a recommendation appear in a passage it cites or in the record.
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
    drug_mentions,
    subject_pattern,
)
from eval.briefings.patient import PatientFacts
from eval.briefings.statements import Briefing, Statement
from eval.briefings.text import split_sentences, states_threshold

_POPULATION = re.compile(
    r"\b(?:adults?|patients?|people|persons|individuals|those|anyone|men|women)\s+"
    r"(?:who\s+(?:have|had)|with|having)\s+(?P<clause>.*)",
    re.IGNORECASE,
)
_OPENING = re.compile(r"^\s*(?:in|for|among)\s+(?P<clause>[^,:;]+)[,:;]", re.IGNORECASE)
_CLAUSE_END = re.compile(
    r"\b(?:should|must|is|are|was|were|can|could|may|might|will|need|needs|benefit|benefits|"
    r"receive|receives|require|requires|who|whose|if|when|because|than|do|does|have|has)\b"
    r"|[,;:.()]",
    re.IGNORECASE,
)


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

    @property
    def grounded(self) -> bool:
        return not self.ungrounded


@dataclass
class PatientScore:
    patient_id: str
    found: dict[str, str]  # expected key -> the statement that states it
    missed: list[str]
    recommendations: list[RecommendationVerdict]
    forbidden: list[Hit]  # explicit forbidden statements found
    not_taken: list[Hit]  # recommendations about a drug the patient does not take

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


def _names(sentence: str, subjects: Sequence[str]) -> bool:
    return any(subject_pattern(s).search(sentence) for s in subjects)


def _states_action(sentence: str, action: Action, subjects: Sequence[str]) -> bool:
    """Starting is read as the subject's own verb when the sentence names the subject."""
    if action is Action.START and _names(sentence, subjects):
        return any(starts(sentence, subject_pattern(s)) for s in subjects)
    return states(sentence, action)


def states_finding(statement: Statement, expected: Expected) -> bool:
    """Whether one sentence of the statement states the expected finding."""
    if expected.kind == "alert" and statement.kind != "alert":
        return False
    in_rationale = _names(statement.rationale, expected.subjects)
    for sentence in split_sentences(statement.text):
        if not (in_rationale or _names(sentence, expected.subjects)):
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


def premises(sentence: str) -> list[str]:
    """The populations a sentence addresses ("people with <clause>", "In <clause>, ...")."""
    clauses = []
    for pattern in (_POPULATION, _OPENING):
        for match in pattern.finditer(sentence):
            clause = match.group("clause")
            end = _CLAUSE_END.search(clause)
            clause = clause[: end.start()] if end else clause
            if clause.strip() and not clause.lower().lstrip().startswith("or without"):
                clauses.append(clause.strip())
    return clauses


def unmet_premise(sentence: str, facts: PatientFacts) -> list[str]:
    """Conditions of an addressed population the patient lacks (empty when every population
    fits, or when an alternative of it names no condition: "ASCVD or multiple risk factors")."""
    for clause in premises(sentence):
        missing_per_alternative = []
        for alternative in re.split(r"\bor\b", clause, flags=re.IGNORECASE):
            named = [key for key, entry in CONDITIONS.items() if entry.pattern.search(alternative)]
            missing_per_alternative.append([key for key in named if not facts.has(key)])
        if all(missing_per_alternative):
            return sorted({key for missing in missing_per_alternative for key in missing})
    return []


def _allergic_to(entry: Entry, facts: PatientFacts) -> bool:
    """Whether a drug is one the patient has a recorded allergy or intolerance to."""
    return any(
        entry.members & DRUGS[drug].members
        for key in facts.allergies
        for drug in ALLERGIES[key].members
    )


def _beside_taken(sentence: str, entry: Entry, taken: list[Entry]) -> bool:
    """ "an ACE inhibitor or an ARB", "ACEi/ARB": offered as one of a choice that is taken."""
    mine = subject_pattern(entry.key).pattern
    for other in taken:
        theirs = subject_pattern(other.key).pattern
        for a, b in ((mine, theirs), (theirs, mine)):
            if re.search(
                rf"(?:{a})[\s,]+(?:or|and/or)\s+(?:\w+\s+){{0,2}}(?:{b})|(?:{a})\s*/\s*(?:{b})",
                sentence,
                re.IGNORECASE,
            ):
                return True
    return False


def not_taken_advice(sentence: str, facts: PatientFacts) -> list[str]:
    """Drugs the sentence advises about that the patient does not take (see the module doc)."""
    mentions = drug_mentions(sentence)
    taken = [m for m in mentions if facts.takes(m.key)]
    decided = [  # drugs the sentence says to start, or not to use
        m
        for m in mentions
        if starts(sentence, subject_pattern(m.key))
        or advises_against(sentence, subject_pattern(m.key))
    ]
    advised = []
    for entry in mentions:
        if entry in taken or entry in decided or _allergic_to(entry, facts):
            continue
        if any(entry.members <= other.members for other in decided):
            continue  # an example of a class it says to start: "an SGLT2i such as empagliflozin"
        if _beside_taken(sentence, entry, taken):
            continue
        advised.append(entry.key)
    return advised


def _about_patient(text: str, facts: PatientFacts) -> bool:
    if any(facts.takes(m.key) for m in drug_mentions(text)):
        return True
    for entries, kind in ((CONDITIONS, Kind.CONDITION), (LABS, Kind.LAB)):
        for key, entry in entries.items():
            if entry.kind is kind and facts.has(key) and entry.pattern.search(text):
                return True
    return False


def judge(statement: Statement, briefing: Briefing, facts: PatientFacts) -> RecommendationVerdict:
    """Whether a recommendation fits the patient, and what of it is ungrounded."""
    reasons = []
    if not _about_patient(statement.text, facts):
        reasons.append("names none of the patient's drugs, conditions or labs")
    for sentence in split_sentences(statement.text):
        reasons += [
            f"about {drug}, which the patient does not take"
            for drug in not_taken_advice(sentence, facts)
        ]
        missing = unmet_premise(sentence, facts)
        if missing:
            reasons.append(
                f"addressed to people with {' and '.join(missing)}, which the patient lacks"
            )
    return RecommendationVerdict(
        number=statement.number,
        text=statement.text,
        fits_patient=not reasons,
        reasons=list(dict.fromkeys(reasons)),
        ungrounded=ungrounded(statement, briefing, facts),
    )


def _breaks(sentence: str, forbidden: Forbidden, facts: PatientFacts) -> bool:
    if all(SUBJECTS[s].kind is Kind.CONDITION for s in forbidden.subjects):
        return any(_names(clause, forbidden.subjects) for clause in premises(sentence)) and bool(
            unmet_premise(sentence, facts)
        )
    if not _names(sentence, forbidden.subjects):
        return False
    return any(_states_action(sentence, a, forbidden.subjects) for a in forbidden.actions)


def score(briefing: Briefing, findings: PatientFindings, facts: PatientFacts) -> PatientScore:
    found: dict[str, str] = {}
    for expected in findings.expected:
        match = next((s for s in briefing.statements if states_finding(s, expected)), None)
        if match is not None:
            found[expected.key] = match.label
    forbidden = [
        Hit(f.key, s.label, sentence)
        for s in briefing.statements
        for sentence in split_sentences(s.text)
        for f in findings.forbidden
        if _breaks(sentence, f, facts)
    ]
    not_taken = [
        Hit(f"not-taken:{drug}", s.label, sentence)
        for s in briefing.recommendations
        for sentence in split_sentences(s.text)
        for drug in not_taken_advice(sentence, facts)
    ]
    return PatientScore(
        patient_id=briefing.patient_id,
        found=found,
        missed=[e.key for e in findings.expected if e.key not in found],
        recommendations=[judge(s, briefing, facts) for s in briefing.recommendations],
        forbidden=forbidden,
        not_taken=not_taken,
    )
