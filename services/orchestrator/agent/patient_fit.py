"""Whether a guideline sentence fits the patient, so that the offline agent quotes it.

A sentence fits when it is about the patient (it names one of their drugs, conditions, results
or allergies), unless
- it is addressed to people the patient is not among (:mod:`.populations`), in its own words or
  in the headings of its section ("Drugs to avoid in HFrEF"), or to people defined by a drug the
  patient does or does not take ("patients who do not need an oral anticoagulant"), or
- it advises about a drug the patient does not take: "consider halving the MRA dose" is not
  advice for a patient on lisinopril alone, and "aspirin alone, or aspirin plus clopidogrel,
  should not be used as an alternative to oral anticoagulation" is advice about aspirin and
  clopidogrel, not about the anticoagulant it also names. Naming such a drug is fine when the
  sentence says to start it ("an SGLT2 inhibitor is recommended", "switch to a DOAC"), lists it
  with a drug the patient takes ("spironolactone or eplerenone", "an ACE inhibitor or ARB"),
  says not to combine it with one ("do not use sacubitril/valsartan with an ACE inhibitor"), or
  is about a drug the patient has a recorded allergy to. Saying not to use a drug the patient
  does not take, alone, is not advice for them (issue 18: advice about a drug the patient does
  not take only when it says to start it).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache

from services.orchestrator.agent.clinical import Facts
from services.orchestrator.agent.drugs import Mention, mentions
from services.orchestrator.agent.populations import (
    CONDITION_WORDS,
    addressed_elsewhere,
    patient_conditions,
    section_addressed_elsewhere,
)
from services.orchestrator.patients.models import PatientRecord

# Result kinds of a record -> the words naming them (or what they show) in guideline text.
RESULT_WORDS: dict[str, tuple[str, ...]] = {
    "egfr": ("eGFR", "GFR", "kidney function", "glomerular filtration"),
    "creatinine": ("creatinine", "CrCl", "creatinine clearance"),
    "potassium": ("potassium", "hyperkalemia", "hyperkalaemia", "hypokalemia"),
    "uacr": ("UACR", "ACR", "albuminuria", "albumin-to-creatinine"),
    "hba1c": ("HbA1c", "A1c", "A1C", "glycemic", "glycaemic"),
    "glucose": ("glucose", "hypoglycemia", "hypoglycaemia"),
    "ldl": ("LDL", "LDL-C", "cholesterol"),
    "inr": ("INR", "time in therapeutic range"),
    "hemoglobin": ("hemoglobin", "haemoglobin", "Hb", "anemia", "anaemia"),
    "bicarbonate": ("bicarbonate", "acidosis"),
    "digoxin_level": ("digoxin level", "serum level"),
    "systolic_bp": ("blood pressure", "BP", "systolic"),
    "weight": ("weight",),
    "bmi": ("BMI", "body mass index"),
    "lvef": ("LVEF", "ejection fraction"),
    "nt_probnp": ("NT-proBNP", "natriuretic peptide"),
    "ck": ("CK", "creatine kinase"),
    "heart_rate": ("heart rate",),
}

# Words that may stand between a verb and the drug it is about ("add a low-dose statin").
_FILLER = (
    r"(?:a|an|the|another|other|alternative|different|second|low|lower|low-dose|moderate|high|"
    r"moderate-intensity|high-intensity|long-acting|oral|evidence-based|nonsteroidal|steroidal|"
    r"single|either|one|of|to|with|dose|reduced|proven)"
)
_START_VERB = (
    r"(?:start\w*|add|adding|initiat\w*|begin|consider\w*|use|using|try|trial\s+of|prescrib\w*|"
    r"give|choose|prefer\w*|recommends?|switch\w*\s+to|chang\w*\s+to|offer|restart\w*|"
    r"receive|treat\w*\s+with)"
)
_START_BEFORE = re.compile(rf"\b{_START_VERB}(?:\s+{_FILLER}){{0,3}}\s*$", re.IGNORECASE)
_NEGATED_START = re.compile(
    rf"\b(?:do\s+not|don't|never|not|no)\s+(?:\w+\s+)?{_START_VERB}(?:\s+{_FILLER}){{0,3}}\s*$",
    re.IGNORECASE,
)
_START_AFTER = re.compile(
    r"^[)\]]?(?:\s+(?!(?:not|never|no)\b)[\w/()–-]+){0,7}?\s+"
    r"(?:(?:is|are|remains?)\s+(?:\w+\s+)?(?:recommended|preferred|suggested|indicated|"
    r"reasonable|beneficial|first-line|an\s+option|the\s+preferred|appropriate|options?)"
    r"|(?:may|can|should)\s+(?:also\s+)?be\s+(?:used|considered|started|added|given|tried|"
    r"combined|continued|chosen))",
    re.IGNORECASE,
)
_AVOID_BEFORE = re.compile(
    r"\b(?:avoid\w*|do\s+not\s+(?:use|start|give|prescribe|combine|co-prescribe)|"
    r"never\s+(?:use|start|give|co-prescribe))\b[^.;:]*$",
    re.IGNORECASE,
)
_AVOID_AFTER = re.compile(
    r"^[^.;:]{0,80}?\b(?:(?:is|are|be)\s+(?:not\s+recommended|contraindicated|avoided|"
    r"(?:potentially\s+)?harmful)|should\s+not\s+be\s+(?:used|started|given|combined|prescribed)|"
    r"must\s+not\s+be)\b",
    re.IGNORECASE,
)
_CLAUSE_START = re.compile(r".*[.;:]\s*", re.DOTALL)
# What may stand between two drugs of one list: punctuation, "and", "or", a dose; with at least
# one separator ("the MRA finerenone" names one drug, not a list).
_LIST_GLUE = re.compile(
    r"^(?:[\s()]|\d[\d.,–-]*|\b(?:mg|g|daily|once|twice)\b)*"
    r"(?:,|/|\band\b|\bor\b|\band/or\b|\bplus\b)"
    r"(?:[\s,/()]|\band\b|\bor\b|\d[\d.,–-]*|\b(?:mg|g|daily|once|twice)\b)*$",
    re.IGNORECASE,
)


# A population named by a drug: "patients who do not need an oral anticoagulant", "patients on
# antiplatelet therapy". Matched on the text just before the drug's name.
_ON_DRUG = re.compile(
    r"(?:\b(?:who|that)\s+(?:(?P<negated>do\s+not|does\s+not|don't|doesn't)\s+)?"
    r"(?:need|needs|require|requires|take|takes|receive|receives|(?:are|is)\s+(?:on|taking|"
    r"receiving))|\b(?:patients?|people|adults?|those)\s+(?:on|taking|receiving))"
    r"\s+(?:(?:an?|the|oral|long-term|chronic)\s+)*$",
    re.IGNORECASE,
)


# What joins a drug to another it is used together with: "sacubitril/valsartan with an ACE
# inhibitor", "finerenone combined with spironolactone".
_WITH_GLUE = re.compile(
    r"^\s+(?:(?:together|combined|in\s+combination|concomitantly)\s+)?with\s+(?:(?:an?|the)\s+)?$",
    re.IGNORECASE,
)


def _listed_together(sentence: str, one: Mention, other: Mention) -> bool:
    """Whether two drugs stand in one list of the sentence ("an ACE inhibitor or ARB")."""
    first, second = sorted((one, other), key=lambda m: m.start)
    return bool(_LIST_GLUE.match(sentence[first.end : second.start]))


def _used_with(sentence: str, one: Mention, other: Mention) -> bool:
    """Whether the sentence names the two drugs as used together ("X with Y")."""
    first, second = sorted((one, other), key=lambda m: m.start)
    return bool(_WITH_GLUE.match(sentence[first.end : second.start]))


# Words of a recorded allergen -> the family guideline text names it by.
ALLERGY_FAMILIES: dict[str, tuple[str, ...]] = {
    "sulfa": ("sulfonamide",),
    "sulfamethoxazole": ("sulfonamide", "trimethoprim–sulfamethoxazole"),
    "penicillin": ("penicillin", "beta-lactam"),
    "amoxicillin": ("penicillin", "beta-lactam"),
    "statin": ("statin",),
    "codeine": ("opioid",),
}


def _allergy_words(substance: str, reaction: str) -> list[str]:
    """The words naming a recorded allergy: the allergen, its reaction, its family, and for an
    ACE inhibitor its class."""
    words = [w for w in (substance, reaction) if w]
    lowered = substance.lower()
    words += [w for key, family in ALLERGY_FAMILIES.items() if key in lowered for w in family]
    if any(m.is_class is False and "acei" in m.classes for m in mentions(substance)):
        words += ["ACE inhibitor", "ACE-inhibitor"]
    return words


@cache
def _words_pattern(words: tuple[str, ...]) -> re.Pattern[str] | None:
    if not words:
        return None
    body = "|".join(
        re.escape(w).replace(r"\ ", r"[\s-]") for w in sorted(set(words), key=len, reverse=True)
    )
    return re.compile(rf"(?<![\w-])(?:{body})s?(?![\w-])", re.IGNORECASE)


def _clause_before(sentence: str, start: int) -> str:
    before = sentence[:start]
    cut = _CLAUSE_START.match(before)
    return before[cut.end() :] if cut else before


def _starts(sentence: str, mention: Mention) -> bool:
    before = _clause_before(sentence, mention.start)
    if _NEGATED_START.search(before):
        return False
    return bool(_START_BEFORE.search(before) or _START_AFTER.match(sentence[mention.end :]))


def _advises_against(sentence: str, mention: Mention) -> bool:
    before = _clause_before(sentence, mention.start)
    return bool(_AVOID_BEFORE.search(before) or _AVOID_AFTER.match(sentence[mention.end :]))


class PatientFit:
    """Judges guideline sentences for one patient."""

    def __init__(self, record: PatientRecord, facts: Facts) -> None:
        self.conditions = patient_conditions(record, facts)
        self._drugs = facts.drugs
        self._allergies = " ".join(
            f"{a.substance.display} {a.reaction}" for a in record.allergies
        ).lower()
        words = [w for c in self.conditions for w in CONDITION_WORDS.get(c, ())]
        words += [
            w for kind in {o.kind for o in record.observations} for w in RESULT_WORDS.get(kind, ())
        ]
        words += [
            w for a in record.allergies for w in _allergy_words(a.substance.display, a.reaction)
        ]
        self._about = _words_pattern(tuple(words))

    def about_patient(self, sentence: str) -> bool:
        """Whether the sentence names one of the patient's drugs, conditions, results or
        allergies."""
        if any(self.takes(m) for m in mentions(sentence)):
            return True
        return self._about is not None and bool(self._about.search(sentence))

    def section_fits(self, section_path: Sequence[str]) -> bool:
        """Whether a passage's own section headings (its document title aside) leave the
        patient among those they address."""
        return not section_addressed_elsewhere(section_path[1:], self.conditions)

    def takes(self, mention: Mention) -> bool:
        return mention.names_one_of(self._drugs)

    def _allergic_to(self, mention: Mention) -> bool:
        return bool(mentions(self._allergies)) and any(
            m.key == mention.key or m.classes & mention.classes for m in mentions(self._allergies)
        )

    def not_taken_advice(self, sentence: str) -> list[str]:
        """Drugs the sentence advises about that the patient does not take."""
        named = mentions(sentence)
        taken = [m for m in named if self.takes(m)]
        about: list[str] = []
        for mention in named:
            if mention in taken or self._allergic_to(mention):
                continue
            if any(_listed_together(sentence, mention, m) for m in taken):
                continue  # in a list with a drug the patient takes: "spironolactone or eplerenone"
            if _starts(sentence, mention):
                continue
            if _advises_against(sentence, mention) and any(
                _used_with(sentence, mention, m) for m in taken
            ):
                continue  # a combination to avoid with the patient's own drug
            about.append(mention.key)
        return list(dict.fromkeys(about))

    def on_other_drugs(self, sentence: str) -> str:
        """The drug whose use defines people the patient is not among ("patients who do not
        need an oral anticoagulant" for one on apixaban), or ""."""
        for mention in mentions(sentence):
            population = _ON_DRUG.search(_clause_before(sentence, mention.start))
            if population and (population.group("negated") is None) != self.takes(mention):
                return ("not on " if self.takes(mention) else "on ") + mention.key
        return ""

    def reason(self, sentence: str) -> str:
        """Why the sentence does not fit the patient ("" when it does)."""
        if not self.about_patient(sentence):
            return "names nothing of the patient's"
        elsewhere = addressed_elsewhere(sentence, self.conditions) or self.on_other_drugs(sentence)
        if elsewhere:
            return f"addressed to other patients ({elsewhere})"
        drugs = self.not_taken_advice(sentence)
        if drugs:
            return f"about {', '.join(drugs)}, not taken"
        return ""

    def __call__(self, sentence: str) -> bool:
        return not self.reason(sentence)

    def addressed_to(self, sentence: str, headings: Sequence[str] = ()) -> bool:
        """Whether the sentence is addressed to people like the patient and is about them (in
        its own words or its passage's headings), whatever drugs it names: what a passage
        backing an action must say."""
        if addressed_elsewhere(sentence, self.conditions) or self.on_other_drugs(sentence):
            return False
        return self.about_patient(" > ".join([*headings, sentence]))
