"""The offline agent's drug vocabulary: ingredients and their classes, how a record's medication
is recognised, and the words that name a drug or a class in guideline text.

A medication is recognised from its RxNorm ingredient code when the record carries one listed
here, else from its whole display: "sacubitril / valsartan 97 MG / 103 MG Oral Tablet" is one
drug (not sacubitril alone), and "sodium bicarbonate 650 MG Oral Tablet" is sodium bicarbonate
(not "sodium"). An unknown drug keeps the ingredient part of its display and no class.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from services.orchestrator.patients.models import MedicationStatement

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def _each(names: Iterable[str], drug_class: str) -> dict[str, str]:
    return dict.fromkeys(names, drug_class)


# Generic name -> class. A name is matched as whole words in the lower-cased display, the
# longest first ("sacubitril/valsartan" before "valsartan").
DRUG_CLASSES: dict[str, str] = {
    "metformin": "metformin",
    **_each(["apixaban", "rivaroxaban", "edoxaban", "dabigatran"], "doac"),
    "warfarin": "warfarin",
    **_each(
        [
            "ibuprofen",
            "naproxen",
            "diclofenac",
            "celecoxib",
            "meloxicam",
            "ketorolac",
            "indomethacin",
            "etodolac",
        ],
        "nsaid",
    ),
    **_each(
        [
            "lisinopril",
            "enalapril",
            "ramipril",
            "benazepril",
            "captopril",
            "perindopril",
            "quinapril",
        ],
        "acei",
    ),
    **_each(
        ["losartan", "valsartan", "irbesartan", "candesartan", "olmesartan", "telmisartan"], "arb"
    ),
    **_each(["sacubitril/valsartan", "sacubitril"], "arni"),
    **_each(["spironolactone", "eplerenone", "finerenone"], "mra"),
    **_each(["empagliflozin", "dapagliflozin", "canagliflozin", "ertugliflozin"], "sglt2i"),
    **_each(["semaglutide", "liraglutide", "dulaglutide", "tirzepatide"], "glp1ra"),
    **_each(["glipizide", "glimepiride", "glyburide", "gliclazide"], "sulfonylurea"),
    **_each(
        ["insulin", "insulin glargine", "insulin detemir", "insulin degludec", "insulin lispro"],
        "insulin",
    ),
    **_each(
        [
            "atorvastatin",
            "rosuvastatin",
            "simvastatin",
            "pravastatin",
            "lovastatin",
            "pitavastatin",
            "fluvastatin",
        ],
        "statin",
    ),
    **_each(["ezetimibe", "evolocumab", "alirocumab", "inclisiran", "bempedoic acid"], "nonstatin"),
    **_each(["furosemide", "torsemide", "bumetanide"], "loop_diuretic"),
    **_each(["hydrochlorothiazide", "chlorthalidone", "indapamide"], "thiazide"),
    "digoxin": "digoxin",
    **_each(["gabapentin", "pregabalin"], "gabapentinoid"),
    **_each(["sitagliptin", "saxagliptin", "alogliptin", "linagliptin"], "dpp4i"),
    **_each(["aspirin", "clopidogrel", "prasugrel", "ticagrelor"], "antiplatelet"),
    **_each(["metoprolol", "carvedilol", "bisoprolol", "atenolol"], "beta_blocker"),
    **_each(["amlodipine", "nifedipine", "diltiazem", "verapamil"], "ccb"),
    **_each(["patiromer", "sodium zirconium cyclosilicate"], "potassium_binder"),
    **_each(["omeprazole", "pantoprazole", "esomeprazole", "lansoprazole"], "ppi"),
    "sodium bicarbonate": "alkali",
    **_each(["acetaminophen", "paracetamol"], "analgesic"),
}
RAAS_INHIBITORS = frozenset({"acei", "arb", "arni"})
ANTICOAGULANTS = frozenset({"doac", "warfarin"})
SULFONAMIDE_NONANTIBIOTICS = frozenset({"loop_diuretic", "thiazide"})

# RxNorm ingredient codes (RXCUI) -> generic name.
RXNORM_INGREDIENTS: dict[str, str] = {
    "6809": "metformin",
    "4821": "glipizide",
    "4815": "glyburide",
    "593411": "sitagliptin",
    "1545653": "empagliflozin",
    "1488564": "dapagliflozin",
    "1991302": "semaglutide",
    "274783": "insulin glargine",
    "29046": "lisinopril",
    "52175": "losartan",
    "1656328": "sacubitril/valsartan",
    "20352": "carvedilol",
    "6918": "metoprolol",
    "9997": "spironolactone",
    "4603": "furosemide",
    "5487": "hydrochlorothiazide",
    "17767": "amlodipine",
    "3443": "diltiazem",
    "1364430": "apixaban",
    "1114195": "rivaroxaban",
    "11289": "warfarin",
    "83367": "atorvastatin",
    "341248": "ezetimibe",
    "5640": "ibuprofen",
    "25480": "gabapentin",
    "3407": "digoxin",
    "1191": "aspirin",
    "32968": "clopidogrel",
    "36676": "sodium bicarbonate",
    "161": "acetaminophen",
}

# Where the ingredient part of a display ends: a strength, or a dose form.
_DISPLAY_TAIL = re.compile(
    r"\s+(?:\d|extended|delayed|oral|tablet|capsule|injection|solution|suspension|pen|"
    r"prefilled|topical|transdermal|inhal)",
)


@dataclass(frozen=True)
class Drug:
    """An active medication with its recognised generic name and class (empty if unknown)."""

    statement: MedicationStatement
    name: str
    drug_class: str


_STRENGTH = re.compile(r"\b\d+(?:\.\d+)?\s*(?:mg|mcg|g|ml|unt|units?|%)\b", re.IGNORECASE)


def _normalised(display: str) -> str:
    """Lower case without strengths, one space between words, "a / b" written "a/b"
    ("Sacubitril 97 MG / Valsartan 103 MG" is "sacubitril/valsartan")."""
    return re.sub(r"\s*/\s*", "/", " ".join(_STRENGTH.sub(" ", display.lower()).split()))


@cache
def _name_pattern() -> re.Pattern[str]:
    names = sorted(DRUG_CLASSES, key=len, reverse=True)
    return re.compile(r"(?<![a-z])(" + "|".join(map(re.escape, names)) + r")(?![a-z])")


def name_in(display: str) -> str:
    """The generic name a display holds: a known one (the longest), else its ingredient part."""
    text = _normalised(display)
    known = _name_pattern().search(text)
    if known:
        return known.group(1)
    return _DISPLAY_TAIL.split(text, maxsplit=1)[0].strip()


def recognise(statement: MedicationStatement) -> Drug:
    """The drug of a medication: by its RxNorm ingredient code, else by its display."""
    coding = statement.coding
    name = RXNORM_INGREDIENTS.get(coding.code, "") if coding.system == RXNORM else ""
    name = name or name_in(coding.display)
    return Drug(statement, name, DRUG_CLASSES.get(name, ""))


# Words naming a class (or a group of classes) in guideline text; a generic name names its
# ingredient. Matched as whole words, case-insensitive, with an optional plural.
CLASS_WORDS: dict[str, tuple[frozenset[str], tuple[str, ...]]] = {
    "acei": (
        frozenset({"acei"}),
        ("ACE inhibitor", "ACE-inhibitor", "ACEi", "angiotensin-converting enzyme inhibitor"),
    ),
    "arb": (
        frozenset({"arb"}),
        ("ARB", "angiotensin receptor blocker", "angiotensin II receptor blocker"),
    ),
    "ras": (
        RAAS_INHIBITORS,
        (
            "RAS inhibitor",
            "RAS inhibition",
            "RAS blockade",
            "RAS blocker",
            "RASi",
            "renin–angiotensin system inhibitor",
            "renin-angiotensin system inhibitor",
            "renin–angiotensin blockade",
        ),
    ),
    "raas": (
        RAAS_INHIBITORS | {"mra"},
        ("RAAS inhibitor", "RAAS inhibition", "RAAS blockade", "RAASi"),
    ),
    "arni": (
        frozenset({"arni"}),
        ("ARNI", "angiotensin receptor–neprilysin inhibitor", "sacubitril"),
    ),
    "mra": (
        frozenset({"mra"}),
        ("MRA", "nsMRA", "mineralocorticoid receptor antagonist", "aldosterone antagonist"),
    ),
    "sglt2i": (
        frozenset({"sglt2i"}),
        (
            "SGLT2 inhibitor",
            "SGLT-2 inhibitor",
            "SGLT2i",
            "sodium–glucose cotransporter 2 inhibitor",
        ),
    ),
    "glp1ra": (
        frozenset({"glp1ra"}),
        ("GLP-1 receptor agonist", "GLP-1 RA", "GLP-1RA", "GIP/GLP-1 receptor agonist"),
    ),
    "dpp4i": (frozenset({"dpp4i"}), ("DPP-4 inhibitor", "DPP4 inhibitor")),
    "sulfonylurea": (
        frozenset({"sulfonylurea"}),
        ("sulfonylurea", "sulphonylurea", "insulin secretagogue"),
    ),
    "statin": (frozenset({"statin"}), ("statin",)),
    "nonstatin": (
        frozenset({"nonstatin"}),
        ("PCSK9 inhibitor", "PCSK9 monoclonal antibody", "PCSK9 monoclonal antibodies"),
    ),
    "doac": (
        frozenset({"doac"}),
        ("DOAC", "NOAC", "direct oral anticoagulant", "factor Xa inhibitor"),
    ),
    "anticoagulant": (
        ANTICOAGULANTS,
        ("anticoagulant", "anticoagulation", "OAC", "vitamin K antagonist"),
    ),
    "antiplatelet": (
        frozenset({"antiplatelet"}),
        ("antiplatelet", "P2Y12 inhibitor", "dual antiplatelet therapy", "DAPT"),
    ),
    "nsaid": (
        frozenset({"nsaid"}),
        ("NSAID", "nonsteroidal anti-inflammatory drug", "COX-2 selective agent"),
    ),
    "loop_diuretic": (frozenset({"loop_diuretic"}), ("loop diuretic",)),
    "thiazide": (frozenset({"thiazide"}), ("thiazide", "thiazide-like agent", "thiazide diuretic")),
    "diuretic": (frozenset({"loop_diuretic", "thiazide", "mra"}), ("diuretic",)),
    "beta_blocker": (frozenset({"beta_blocker"}), ("beta-blocker", "beta blocker")),
    "ccb": (frozenset({"ccb"}), ("calcium channel blocker",)),
    "gabapentinoid": (frozenset({"gabapentinoid"}), ("gabapentinoid",)),
    "potassium_binder": (
        frozenset({"potassium_binder"}),
        ("potassium binder", "SZC", "sodium polystyrene sulfonate"),
    ),
    "ppi": (frozenset({"ppi"}), ("proton pump inhibitor", "PPI")),
}
# Drugs the guidelines name that no entry above covers: each names itself, without a class.
OTHER_DRUGS = (
    "pioglitazone",
    "rosiglitazone",
    "dronedarone",
    "amiodarone",
    "ivabradine",
    "hydralazine",
    "vericiguat",
    "trimethoprim",
    "amiloride",
    "triamterene",
    "lithium",
    "nitrofurantoin",
    "cilostazol",
    "sodium citrate",
)


@dataclass(frozen=True)
class Mention:
    """A drug or class named in a text: its key (a generic name, or a key of
    :data:`CLASS_WORDS` when ``is_class``), the classes it belongs to or stands for, and where
    it stands."""

    key: str
    classes: frozenset[str]
    is_class: bool
    start: int
    end: int

    def names_one_of(self, drugs: Iterable[Drug]) -> bool:
        """Whether it names one of the drugs: the same generic name, or a class of one."""
        if self.is_class:
            return any(drug.drug_class in self.classes for drug in drugs)
        return any(drug.name == self.key for drug in drugs)


def _word_regex(word: str) -> str:
    body = re.escape(word).replace(r"\ ", r"[\s-]").replace(r"\-", r"[\s-]?")
    return rf"(?<![\w-]){body}(?:s|es)?(?![\w-])"


@cache
def _mention_patterns() -> tuple[tuple[str, frozenset[str], bool, re.Pattern[str]], ...]:
    named = {**DRUG_CLASSES, **dict.fromkeys(OTHER_DRUGS, "")}
    found: list[tuple[str, frozenset[str], bool, re.Pattern[str]]] = []
    for name, drug_class in sorted(named.items(), key=lambda item: -len(item[0])):
        words = [name, name.replace("/", " / ")] if "/" in name else [name]
        pattern = re.compile("|".join(_word_regex(w) for w in words), re.IGNORECASE)
        found.append((name, frozenset({drug_class} - {""}), False, pattern))
    for key, (classes, class_words) in CLASS_WORDS.items():
        pattern = re.compile("|".join(_word_regex(w) for w in class_words), re.IGNORECASE)
        found.append((key, classes, True, pattern))
    return tuple(found)


def mentions(text: str) -> list[Mention]:
    """Every drug or class a text names, in text order; overlapping names resolve to the longest
    ("sacubitril/valsartan" is not also valsartan, "insulin secretagogue" is not insulin)."""
    candidates = [
        Mention(key, classes, is_class, *match.span())
        for key, classes, is_class, pattern in _mention_patterns()
        for match in pattern.finditer(text)
    ]
    chosen: list[Mention] = []
    for candidate in sorted(candidates, key=lambda m: (m.start - m.end, m.start)):
        if not any(candidate.start < m.end and m.start < candidate.end for m in chosen):
            chosen.append(candidate)
    return sorted(chosen, key=lambda m: m.start)
