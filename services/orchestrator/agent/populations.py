"""Who a guideline sentence is addressed to, and whether the patient is among them.

The offline agent quotes a sentence only for a patient it addresses: "All people with diabetes
and established ASCVD should receive a high-intensity statin" is not advice for a patient
without ASCVD, "In people without ASCVD, aspirin may be considered" is not advice for one with
it, and "for NYHA class II–III HFrEF" is not advice for HFpEF.

A sentence names a population three ways: people "with" (or "who have") conditions, people
"without" them, and a scope ("in HFrEF", "for type 2 diabetes with CKD", "primary prevention",
"after PCI", "before cardioversion"). Procedures count as conditions here: advice "for
procedures" or "before cardioversion" is for a patient about to have one, not for a routine
briefing, and "after PCI" for a patient who had one.
The conditions are those of :data:`CONDITION_WORDS` found in the clause up to its verb or its
punctuation; a condition negated there ("not on dialysis") is left out, and one of several
alternatives ("ASCVD, high cardiovascular risk, heart failure or CKD") is enough. The patient's
conditions come from the problem list and from the values that define them (CKD from eGFR
below 60 or albuminuria, HFrEF from an ejection fraction of 40% or less); a procedure from any
condition of the record (a past one too) or a medication's dosage note ("since stent").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache

from services.orchestrator.agent.clinical import OLDER_ADULT_AGE, Facts
from services.orchestrator.patients.models import PatientRecord

# Condition -> words naming it in guideline text (whole words, case-insensitive).
CONDITION_WORDS: dict[str, tuple[str, ...]] = {
    "diabetes": ("diabetes", "diabetic", "T2D", "T2DM"),
    "type1_diabetes": ("type 1 diabetes",),
    "ckd": ("CKD", "chronic kidney disease", "kidney disease", "diabetic kidney disease"),
    "albuminuria": ("albuminuria", "albuminuric", "proteinuria"),
    "dialysis": (
        "dialysis",
        "kidney failure",
        "kidney replacement therapy",
        "end-stage kidney disease",
        "ESKD",
    ),
    "transplant": ("kidney transplant", "transplant recipient", "transplant recipients"),
    "hypertension": ("hypertension", "high blood pressure", "high BP"),
    "heart_failure": ("heart failure", "HF"),
    "hfref": ("HFrEF", "reduced ejection fraction"),
    "hfpef": ("HFpEF", "preserved ejection fraction"),
    "hfmref": ("HFmrEF", "mildly reduced ejection fraction"),
    "atrial_fibrillation": ("atrial fibrillation", "AF"),
    "ascvd": (
        "ASCVD",
        "atherosclerotic cardiovascular disease",
        "established cardiovascular disease",
        "coronary artery disease",
        "coronary heart disease",
        "coronary disease",
        "chronic coronary disease",
        "CCD",
        "acute coronary syndrome",
        "myocardial infarction",
        "ischemic stroke",
        "prior stroke",
    ),
    "older_adult": ("older adults", "older adult", "older people", "elderly"),
    "obesity": ("obesity", "obese"),
    "hyperkalemia": ("hyperkalemia", "hyperkalaemia"),
    "gout": ("gout",),
    "pregnancy": ("pregnancy", "pregnant", "childbearing potential"),
    "children": ("children", "child"),
    "dementia": ("dementia",),
    "osteoporosis": ("osteoporosis",),
    "cirrhosis": ("cirrhosis", "liver disease", "hepatic impairment"),
    "mechanical_valve": ("mechanical heart valve", "mechanical valve", "mechanical mitral valve"),
    "mitral_stenosis": ("mitral stenosis",),
    "hypoglycemia": ("hypoglycemia", "hypoglycaemia"),
    "falls": ("falls", "history of falls"),
    # Procedures: who has had one, or is about to.
    "pci": (
        "PCI",
        "percutaneous coronary intervention",
        "coronary stent",
        "stent",
        "stenting",
        "coronary angioplasty",
    ),
    "cardioversion": ("cardioversion",),
    "ablation": ("ablation", "catheter ablation"),
    "surgery": ("surgery", "perioperative", "periprocedural", "procedure"),
    "contrast": ("iodinated contrast", "contrast media", "contrast medium"),
}
PROCEDURES = frozenset({"pci", "cardioversion", "ablation", "surgery", "contrast"})
_ASCVD_PROBLEMS = (
    "coronary",
    "myocardial infarction",
    "angina",
    "ischemic attack",
    "ischaemic attack",
    "stroke",
    "peripheral arterial",
    "peripheral artery",
)
HEAD_CHARS = 160  # a sentence's head before ":" is at most this long
REDUCED_EF_MAX = 40.0  # LVEF (%) at or below which heart failure has a reduced ejection fraction
PRESERVED_EF_MIN = 50.0


def patient_conditions(record: PatientRecord, facts: Facts) -> frozenset[str]:
    """The conditions of :data:`CONDITION_WORDS` the patient has."""
    found: set[str] = _procedures(record)
    for condition in record.active_conditions:
        display = condition.coding.display.lower()
        for key, words in CONDITION_WORDS.items():
            if _pattern(words).search(display):
                found.add(key)
        if any(word in display for word in _ASCVD_PROBLEMS):
            found.add("ascvd")
        if "normal ejection" in display or "preserved ejection" in display:
            found.add("hfpef")
        if "type 1" in display:
            found.discard("diabetes")
    if "heart_failure" in found and not found & {"hfref", "hfpef", "hfmref"}:
        lvef = record.latest("lvef")
        if lvef is not None:
            found.add(
                "hfref"
                if lvef.value <= REDUCED_EF_MAX
                else "hfpef"
                if lvef.value >= PRESERVED_EF_MIN
                else "hfmref"
            )
    if found & {"hfref", "hfpef", "hfmref"}:
        found.add("heart_failure")
    if facts.uacr is not None and facts.uacr >= 30:
        found |= {"albuminuria", "ckd"}
    if facts.egfr is not None and facts.egfr < 60:
        found.add("ckd")
    if facts.potassium is not None and facts.potassium > 5.0:
        found.add("hyperkalemia")
    if facts.age is not None and facts.age >= OLDER_ADULT_AGE:
        found.add("older_adult")
    if facts.bmi is not None and facts.bmi >= 30:
        found.add("obesity")
    if any(g.value < 70 for g in record.series("glucose")):
        found.add("hypoglycemia")
    return frozenset(found)


def _procedures(record: PatientRecord) -> set[str]:
    """Procedures the record shows: in any condition, whatever its status (a PCI is history),
    or in an active medication's dosage note ("81 mg daily (since stent, March 2026)")."""
    texts = [c.coding.display for c in record.conditions]
    texts += [f"{m.coding.display} {m.dosage_text}" for m in record.active_medications]
    return {
        key for key in PROCEDURES for text in texts if _pattern(CONDITION_WORDS[key]).search(text)
    }


@cache
def _pattern(words: tuple[str, ...]) -> re.Pattern[str]:
    body = "|".join(re.escape(w).replace(r"\ ", r"[\s-]") for w in words)
    return re.compile(rf"(?<![\w-])(?:{body})s?(?![\w-])", re.IGNORECASE)


def conditions_named(clause: str) -> set[str]:
    """Conditions a clause names, leaving out negated ones ("not on dialysis", "non-diabetic"),
    a name inside a longer one ("reduced ejection fraction" in "mildly reduced ejection
    fraction") and a general one beside a specific one ("heart failure" with "HFrEF")."""
    matches = sorted(
        (
            (match.start(), match.end(), key)
            for key, words in CONDITION_WORDS.items()
            for match in _pattern(words).finditer(clause)
        ),
        key=lambda m: (m[0] - m[1], m[0]),
    )
    chosen: list[tuple[int, int, str]] = []
    for start, end, key in matches:
        if not any(start < other_end and other_start < end for other_start, other_end, _ in chosen):
            chosen.append((start, end, key))
    found = {key for start, _, key in chosen if not _NEGATED_BEFORE.search(clause[:start])}
    if found & {"hfref", "hfpef", "hfmref"}:
        found.discard("heart_failure")
    if "type1_diabetes" in found:
        found.discard("diabetes")
    return found


_WHO = r"\b(?:adults?|patients?|people|persons|individuals|those|anyone|men|women)\b"
_WITH = re.compile(
    _WHO + r"(?:\s+aged\s+[\d–-]+(?:\s+(?:years|or older|and older))*)?"
    r"\s+(?:who\s+(?:have|had)|with(?!\s+or\s+without)|having)\s+",
    re.IGNORECASE,
)
_WITHOUT = re.compile(_WHO + r"\s+(?:without|who\s+do\s+not\s+have|with\s+no)\s+", re.IGNORECASE)
# Each pattern matches up to where its clause starts (the clause is the rest of the sentence, up
# to its end: see _clause), so that a later population of the same sentence is read too.
_SCOPE = re.compile(
    r"(?:^|[\s(])(?:in|for|among|before|after|around|during|undergoing|following)\s+",
    re.IGNORECASE,
)
_WHEN = re.compile(r"\W*(?:before|after|around|during|undergoing|following)\b", re.IGNORECASE)
# Words just before a population that widen the advice instead of addressing it: "also present
# in people without diabetes", "regardless of diabetes", "and in HFrEF".
_OPEN_SCOPE = re.compile(
    r"\b(?:regardless\s+of|irrespective\s+of|whether\s+or\s+not|with\s+or\s+without|"
    r"independent\s+of|also|and|or|even|including)\b(?:\s+\w+){0,2}\s*$",
    re.IGNORECASE,
)
_CLAUSE_END = re.compile(
    r"\b(?:should|must|is|are|was|were|can|could|may|might|will|need|needs|benefit|benefits|"
    r"receive|receives|require|requires|who|whose|if|when|unless|because|than|do|does|have|"
    r"has|reduce|reduces|lowers|showed|the\s+ADA|KDIGO|the\s+guideline)\b"
    r"|[,;:.()]|\s[–—-]\s",
    re.IGNORECASE,
)
_NEGATED_BEFORE = re.compile(r"\b(?:not|no|non|without)\b[\s-]*(?:\w+\s+){0,2}$", re.IGNORECASE)
_LEADING = re.compile(
    r"^(?:(?:established|known|confirmed|chronic|symptomatic|stable|clinical|a|an|the|"
    r"nonpregnant|adults?|people|patients?|NYHA|class|[IV]+(?:[–-][IV]+)?|type\s+2|moderate|"
    r"severe|advanced|mild|significant|very|high-risk|low-risk|high|low|risk|elective|planned|"
    r"successful|recent|cardiac|major|minor|any)\s+)*",
    re.IGNORECASE,
)
# Prevention of cardiovascular events: primary without ASCVD, secondary with it.
_PREVENTION = re.compile(
    r"\b(primary|secondary)\s+prevention\b(?!\s+of\s+(?:CKD|chronic\s+kidney|kidney))",
    re.IGNORECASE,
)


def _clause(text: str) -> str:
    end = _CLAUSE_END.search(text)
    return (text[: end.start()] if end else text).strip()


def _alternatives(clause: str) -> list[set[str]]:
    """The conditions of each alternative of a clause ("A and B or C" is [{A, B}, {C}])."""
    parts = re.split(r"\bor\b|\band/or\b|,", clause, flags=re.IGNORECASE)
    return [conditions_named(part) for part in parts]


def _fits(alternatives: list[set[str]], conditions: frozenset[str]) -> bool:
    named = [alt for alt in alternatives if alt]
    if not named:
        return True
    if len(named) < len(alternatives):
        return True  # an alternative the agent cannot read ("high cardiovascular risk")
    return any(alt <= conditions for alt in named)


def addressed_elsewhere(sentence: str, conditions: frozenset[str]) -> str:
    """Why a sentence is addressed to people the patient is not among (the condition the patient
    lacks, or has although the sentence excludes it), or "" when it may be addressed to them."""
    for match in _WITH.finditer(sentence):
        if _OPEN_SCOPE.search(sentence[: match.start()]):
            continue
        alternatives = _alternatives(_clause(sentence[match.end() :]))
        if not _fits(alternatives, conditions):
            return _missing(alternatives, conditions)
    for match in _WITHOUT.finditer(sentence):
        if _OPEN_SCOPE.search(sentence[: match.start()]):
            continue
        excluded = conditions_named(_clause(sentence[match.end() :]))
        if excluded & conditions:
            return "has " + ", ".join(sorted(excluded & conditions))
    for match in _SCOPE.finditer(sentence):
        before = sentence[: match.start() + 1]
        if _OPEN_SCOPE.search(before):
            continue
        when = bool(_WHEN.match(match.group()))
        if when and before.rstrip().endswith(","):
            continue  # one item of a list: "in older adults, ..., after recent surgery"
        rest = sentence[match.end() :]
        rest = rest[_LEADING.match(rest).end() :]  # type: ignore[union-attr]
        clause = _clause(rest)
        first = min(
            (
                m.start()
                for words in CONDITION_WORDS.values()
                for m in _pattern(words).finditer(clause)
            ),
            default=None,
        )
        if first != 0:
            continue  # a scope opens with its condition: "in HFrEF", not "in their place"
        alternatives = _alternatives(clause)
        if when:
            # "before cardioversion or perform TEE": what follows "or" may be another action.
            alternatives = [alt for alt in alternatives if alt]
        if not _fits(alternatives, conditions):
            return _missing(alternatives, conditions)
    head = sentence.split(":", 1)[0] if ":" in sentence[:HEAD_CHARS] else ""
    if head and not head.lower().startswith("in "):
        # A head naming its population before the advice: "Very high-risk CCD (...): add ...".
        reason = addressed_elsewhere(f"In {head}", conditions)
        if reason:
            return reason
    for match in _PREVENTION.finditer(sentence):
        secondary = match.group(1).lower() == "secondary"
        if secondary != ("ascvd" in conditions):
            return "lacks ascvd" if secondary else "has ascvd"
    return ""


def _missing(alternatives: list[set[str]], conditions: frozenset[str]) -> str:
    lacking = sorted({c for alt in alternatives for c in alt - conditions})
    return "lacks " + ", ".join(lacking)


def section_addressed_elsewhere(headings: Sequence[str], conditions: frozenset[str]) -> str:
    """Like :func:`addressed_elsewhere` for the headings of a passage's own section: "Drugs to
    avoid in HFrEF", and a heading that opens with its population ("Heart failure with chronic
    kidney disease")."""
    for heading in headings:
        reason = addressed_elsewhere(heading, conditions) or addressed_elsewhere(
            f"In {heading}", conditions
        )
        if reason:
            return reason
    return ""
