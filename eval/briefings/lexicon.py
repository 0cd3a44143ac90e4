# ruff: noqa: E501  (the word tables keep one entry per line)
"""The words the scorer reads a briefing with: drugs (with classes and brands), labs, conditions,
allergies, topics, and the actions a sentence can state.

Kept apart from the agent's own vocabulary (services/orchestrator/agent/clinical.py) on
purpose: a measuring instrument that shared the agent's word lists would share its blind spots.

A term matches as whole words, case-insensitive, with an optional plural ("statins"); a space or
hyphen inside a term matches a space, a hyphen or nothing ("SGLT2 inhibitor" matches
"SGLT-2 inhibitors"); a leading ``*`` makes it a suffix ("*gliflozin" matches "empagliflozin").
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property


class Kind(StrEnum):
    """What a subject of the lexicon is."""

    DRUG = "drug"  # an ingredient, or a class of them
    LAB = "lab"  # an observation kind of the record (services/orchestrator/patients/loinc.py)
    CONDITION = "condition"
    ALLERGY = "allergy"  # a recorded allergy or intolerance
    TOPIC = "topic"  # anything else a finding is about (referral, adherence, ...)


@dataclass(frozen=True)
class Entry:
    """A subject: its key, what it is, the words that name it, and for a drug class the
    ingredients it covers (an ingredient covers itself)."""

    key: str
    kind: Kind
    terms: tuple[str, ...]
    members: frozenset[str] = frozenset()

    @cached_property
    def pattern(self) -> re.Pattern[str]:
        return re.compile("|".join(_term_regex(t) for t in self.terms), re.IGNORECASE)


def _term_regex(term: str) -> str:
    suffix = term.startswith("*")
    body = re.escape(term.lstrip("*"))
    body = body.replace(r"\ ", r"[\s-]?").replace(r"\-", r"[\s-]?")
    start = r"(?<![A-Za-z0-9])[A-Za-z]*" if suffix else r"(?<![A-Za-z0-9])"
    return f"{start}{body}(?:s|es)?(?![A-Za-z0-9])"


def _drug(key: str, *terms: str) -> Entry:
    return Entry(key, Kind.DRUG, (key.replace("_", " "), *terms), frozenset({key}))


# Ingredients, with their brand names (US and UK).
INGREDIENTS: tuple[Entry, ...] = (
    _drug("metformin", "Glucophage", "biguanide"),
    _drug("glipizide", "Glucotrol"),
    _drug("glyburide", "glibenclamide", "Diabeta", "Glynase"),
    _drug("glimepiride", "Amaryl"),
    _drug("gliclazide"),
    _drug("sitagliptin", "Januvia"),
    _drug("linagliptin", "Tradjenta"),
    _drug("saxagliptin", "Onglyza"),
    _drug("alogliptin", "Nesina"),
    _drug("empagliflozin", "Jardiance"),
    _drug("dapagliflozin", "Farxiga", "Forxiga"),
    _drug("canagliflozin", "Invokana"),
    _drug("ertugliflozin", "Steglatro"),
    _drug("semaglutide", "Ozempic", "Rybelsus", "Wegovy"),
    _drug("liraglutide", "Victoza"),
    _drug("dulaglutide", "Trulicity"),
    _drug("tirzepatide", "Mounjaro"),
    _drug("insulin", "insulin glargine", "glargine", "Lantus", "basal insulin"),
    _drug("lisinopril", "Zestril", "Prinivil"),
    _drug("enalapril"),
    _drug("ramipril"),
    _drug("perindopril"),
    _drug("losartan", "Cozaar"),
    _drug("valsartan", "Diovan"),
    _drug("irbesartan"),
    _drug("candesartan"),
    _drug("telmisartan"),
    _drug("sacubitril_valsartan", "sacubitril/valsartan", "sacubitril", "Entresto"),
    _drug("spironolactone", "Aldactone"),
    _drug("eplerenone", "Inspra"),
    _drug("finerenone", "Kerendia"),
    _drug("furosemide", "frusemide", "Lasix"),
    _drug("torsemide", "torasemide"),
    _drug("bumetanide"),
    _drug("hydrochlorothiazide", "HCTZ"),
    _drug("chlorthalidone", "chlortalidone"),
    _drug("indapamide"),
    _drug("amlodipine", "Norvasc"),
    _drug("diltiazem", "Cardizem"),
    _drug("verapamil"),
    _drug("carvedilol", "Coreg"),
    _drug("metoprolol", "Toprol", "Lopressor"),
    _drug("bisoprolol"),
    _drug("apixaban", "Eliquis"),
    _drug("rivaroxaban", "Xarelto"),
    _drug("edoxaban", "Savaysa", "Lixiana"),
    _drug("dabigatran", "Pradaxa"),
    _drug("warfarin", "Coumadin", "vitamin K antagonist", "VKA"),
    _drug("aspirin", "acetylsalicylic acid"),
    _drug("clopidogrel", "Plavix"),
    _drug("prasugrel", "Effient"),
    _drug("ticagrelor", "Brilinta"),
    _drug("atorvastatin", "Lipitor"),
    _drug("rosuvastatin", "Crestor"),
    _drug("simvastatin", "Zocor"),
    _drug("pravastatin", "Pravachol"),
    _drug("pitavastatin", "Livalo"),
    _drug("fluvastatin"),
    _drug("lovastatin"),
    _drug("ezetimibe", "Zetia"),
    _drug("bempedoic_acid", "bempedoic acid", "Nexletol"),
    _drug("evolocumab", "Repatha"),
    _drug("alirocumab", "Praluent"),
    _drug("inclisiran", "Leqvio"),
    _drug("ibuprofen", "Advil", "Motrin"),
    _drug("naproxen", "Aleve"),
    _drug("diclofenac"),
    _drug("celecoxib", "Celebrex"),
    _drug("meloxicam"),
    _drug("gabapentin", "Neurontin"),
    _drug("pregabalin", "Lyrica"),
    _drug("digoxin", "Lanoxin"),
    _drug("levothyroxine", "Synthroid"),
    _drug("allopurinol"),
    _drug("sodium_bicarbonate", "sodium bicarbonate", "oral bicarbonate"),
    _drug("patiromer", "Veltassa"),
    _drug("sodium_zirconium_cyclosilicate", "sodium zirconium cyclosilicate", "SZC", "Lokelma"),
    _drug("acetaminophen", "paracetamol", "Tylenol"),
    _drug("omeprazole", "Prilosec"),
    _drug("pantoprazole", "Protonix"),
    _drug("codeine"),
    _drug("amoxicillin"),
    _drug("sulfamethoxazole", "trimethoprim-sulfamethoxazole", "co-trimoxazole", "Bactrim"),
)
_BY_NAME = {entry.key: entry for entry in INGREDIENTS}


def _class(key: str, terms: Iterable[str], members: Iterable[str]) -> Entry:
    ingredients = frozenset(members)
    unknown = ingredients - set(_BY_NAME)
    assert not unknown, f"{key}: unknown ingredients {sorted(unknown)}"
    return Entry(key, Kind.DRUG, tuple(terms), ingredients)


ACEI = ("lisinopril", "enalapril", "ramipril", "perindopril")
ARB = ("losartan", "valsartan", "irbesartan", "candesartan", "telmisartan")
MRA = ("spironolactone", "eplerenone", "finerenone")
SGLT2I = ("empagliflozin", "dapagliflozin", "canagliflozin", "ertugliflozin")
GLP1RA = ("semaglutide", "liraglutide", "dulaglutide", "tirzepatide")
SULFONYLUREA = ("glipizide", "glyburide", "glimepiride", "gliclazide")
DOAC = ("apixaban", "rivaroxaban", "edoxaban", "dabigatran")
P2Y12 = ("clopidogrel", "prasugrel", "ticagrelor")
STATIN = (
    "atorvastatin",
    "rosuvastatin",
    "simvastatin",
    "pravastatin",
    "pitavastatin",
    "fluvastatin",
    "lovastatin",
)
NSAID = ("ibuprofen", "naproxen", "diclofenac", "celecoxib", "meloxicam")
LOOP = ("furosemide", "torsemide", "bumetanide")
THIAZIDE = ("hydrochlorothiazide", "chlorthalidone", "indapamide")
DPP4I = ("sitagliptin", "linagliptin", "saxagliptin", "alogliptin")

# Classes: their own words only; a class is also named by any of its members' words.
CLASSES: tuple[Entry, ...] = (
    _class("acei", ["ACE inhibitor", "ACEi", "ACE-I", "angiotensin-converting enzyme inhibitor"], ACEI),
    _class("arb", ["ARB", "angiotensin receptor blocker", "angiotensin II receptor blocker"], ARB),
    _class(
        "ras_blocker",
        [
            "RAS blockade", "RAS blocker", "RAS inhibitor", "RAS inhibition", "RASi", "RAAS inhibitor",
            "RAAS blockade", "RAASi", "renin-angiotensin system inhibitor", "ACE inhibitor",
            "ACEi", "ARB", "angiotensin receptor blocker",
        ],
        (*ACEI, *ARB),
    ),
    _class("arni", ["ARNI", "angiotensin receptor-neprilysin inhibitor", "neprilysin inhibitor"], ["sacubitril_valsartan"]),
    _class("mra", ["MRA", "mineralocorticoid receptor antagonist", "aldosterone antagonist", "nsMRA"], MRA),
    _class("sglt2i", ["SGLT2 inhibitor", "SGLT2i", "SGLT2", "*gliflozin"], SGLT2I),
    _class("glp1ra", ["GLP-1 receptor agonist", "GLP-1 RA", "GLP-1RA", "GLP-1", "*glutide"], GLP1RA),
    _class("sulfonylurea", ["sulfonylurea", "sulphonylurea"], SULFONYLUREA),
    _class("dpp4i", ["DPP-4 inhibitor", "DPP4 inhibitor", "DPP-4i", "*gliptin"], DPP4I),
    _class("doac", ["DOAC", "NOAC", "direct oral anticoagulant", "factor Xa inhibitor"], DOAC),
    _class("anticoagulant", ["anticoagulant", "anticoagulation", "OAC"], (*DOAC, "warfarin")),
    _class("p2y12", ["P2Y12 inhibitor", "P2Y12"], P2Y12),
    _class("antiplatelet", ["antiplatelet", "DAPT", "dual antiplatelet therapy"], ("aspirin", *P2Y12)),
    _class("statin", ["statin", "HMG-CoA reductase inhibitor"], STATIN),
    _class("pcsk9i", ["PCSK9 inhibitor", "PCSK9 monoclonal antibody", "PCSK9 mAb", "PCSK9"], ("evolocumab", "alirocumab", "inclisiran")),
    _class("nsaid", ["NSAID", "nonsteroidal anti-inflammatory drug", "non-steroidal anti-inflammatory"], NSAID),
    _class("loop_diuretic", ["loop diuretic"], LOOP),
    _class("thiazide", ["thiazide", "thiazide-like diuretic", "thiazide diuretic"], THIAZIDE),
    _class("diuretic", ["diuretic"], (*LOOP, *THIAZIDE, *MRA)),
    _class("gabapentinoid", ["gabapentinoid"], ("gabapentin", "pregabalin")),
    _class("potassium_binder", ["potassium binder", "potassium-binding agent", "K binder"], ("patiromer", "sodium_zirconium_cyclosilicate")),
    _class("ppi", ["proton pump inhibitor", "PPI", "*prazole"], ("omeprazole", "pantoprazole")),
    _class("penicillin", ["penicillin", "beta-lactam"], ("amoxicillin",)),
)  # fmt: skip

DRUGS: dict[str, Entry] = {e.key: e for e in (*INGREDIENTS, *CLASSES)}


def _entry(kind: Kind, key: str, *terms: str) -> Entry:
    return Entry(key, kind, terms)


LABS: dict[str, Entry] = {
    e.key: e
    for e in (
        _entry(Kind.LAB, "egfr", "eGFR", "GFR", "glomerular filtration rate", "kidney function"),
        _entry(Kind.LAB, "creatinine", "creatinine", "CrCl", "creatinine clearance"),
        _entry(Kind.LAB, "potassium", "potassium", "K+", "serum K", "hyperkalemia", "hyperkalaemia", "hypokalemia"),
        _entry(Kind.LAB, "uacr", "UACR", "ACR", "albumin-to-creatinine ratio", "albumin/creatinine", "albuminuria"),
        _entry(Kind.LAB, "hba1c", "HbA1c", "A1c", "A1C", "glycated hemoglobin", "glycemic target"),
        _entry(Kind.LAB, "glucose", "glucose", "blood sugar", "hypoglycemia", "hypoglycaemia"),
        _entry(Kind.LAB, "ldl", "LDL", "LDL-C", "LDL cholesterol"),
        _entry(Kind.LAB, "inr", "INR", "international normalized ratio", "time in therapeutic range", "TTR"),
        _entry(Kind.LAB, "hemoglobin", "hemoglobin", "haemoglobin", "Hb", "anemia", "anaemia"),
        _entry(Kind.LAB, "bicarbonate", "bicarbonate", "metabolic acidosis", "acidosis"),
        _entry(Kind.LAB, "digoxin_level", "digoxin level", "digoxin concentration", "serum digoxin"),
        _entry(Kind.LAB, "systolic_bp", "blood pressure", "BP", "systolic"),
        _entry(Kind.LAB, "weight", "weight", "body weight"),
        _entry(Kind.LAB, "bmi", "BMI", "body mass index"),
        _entry(Kind.LAB, "lvef", "LVEF", "ejection fraction"),
        _entry(Kind.LAB, "nt_probnp", "NT-proBNP", "natriuretic peptide"),
        _entry(Kind.LAB, "ck", "CK", "creatine kinase"),
        _entry(Kind.LAB, "heart_rate", "heart rate"),
    )
}  # fmt: skip

CONDITIONS: dict[str, Entry] = {
    e.key: e
    for e in (
        _entry(Kind.CONDITION, "diabetes", "diabetes", "T2D", "T2DM", "type 2 diabetes", "diabetic"),
        _entry(Kind.CONDITION, "type1_diabetes", "type 1 diabetes", "T1D"),
        _entry(Kind.CONDITION, "ckd", "chronic kidney disease", "CKD", "kidney disease"),
        _entry(Kind.CONDITION, "kidney_failure", "kidney failure", "dialysis", "kidney replacement therapy", "ESKD", "end-stage kidney disease"),
        _entry(Kind.CONDITION, "albuminuria", "albuminuria", "proteinuria"),
        _entry(Kind.CONDITION, "hypertension", "hypertension", "high blood pressure"),
        _entry(Kind.CONDITION, "resistant_hypertension", "resistant hypertension"),
        _entry(Kind.CONDITION, "heart_failure", "heart failure", "HF"),
        _entry(Kind.CONDITION, "hfref", "HFrEF", "reduced ejection fraction"),
        _entry(Kind.CONDITION, "hfpef", "HFpEF", "preserved ejection fraction"),
        _entry(Kind.CONDITION, "atrial_fibrillation", "atrial fibrillation", "AF"),
        _entry(Kind.CONDITION, "ascvd", "ASCVD", "atherosclerotic cardiovascular disease", "established cardiovascular disease", "coronary artery disease", "coronary heart disease", "CAD", "acute coronary syndrome", "ACS", "myocardial infarction"),
        _entry(Kind.CONDITION, "pci", "PCI", "percutaneous coronary intervention", "stent"),
        _entry(Kind.CONDITION, "hyperkalemia", "hyperkalemia", "hyperkalaemia"),
        _entry(Kind.CONDITION, "hypokalemia", "hypokalemia", "hypokalaemia"),
        _entry(Kind.CONDITION, "dyslipidemia", "hyperlipidemia", "hypercholesterolemia", "dyslipidemia"),
        _entry(Kind.CONDITION, "obesity", "obesity", "obese"),
        _entry(Kind.CONDITION, "anemia", "anemia", "anaemia"),
        _entry(Kind.CONDITION, "hypoglycemia", "hypoglycemia", "hypoglycaemia"),
        _entry(Kind.CONDITION, "falls", "falls", "fall risk"),
        _entry(Kind.CONDITION, "gout", "gout"),
        _entry(Kind.CONDITION, "osteoarthritis", "osteoarthritis"),
        _entry(Kind.CONDITION, "neuropathic_pain", "neuropathy", "neuropathic pain", "postherpetic neuralgia"),
        _entry(Kind.CONDITION, "hypothyroidism", "hypothyroidism"),
        _entry(Kind.CONDITION, "older_adult", "older adult", "elderly", "aged 65", "aged 80"),
        _entry(Kind.CONDITION, "pregnancy", "pregnancy", "pregnant"),
        _entry(Kind.CONDITION, "liver_disease", "cirrhosis", "hepatic impairment", "liver disease"),
    )
}  # fmt: skip


# Allergy subjects: what the recorded substance is called (matched in its display and reaction),
# and the drugs the allergy is about.
def _allergy(key: str, drugs: Iterable[str], *terms: str) -> Entry:
    return Entry(key, Kind.ALLERGY, terms, frozenset(drugs))


ALLERGIES: dict[str, Entry] = {
    e.key: e
    for e in (
        _allergy("penicillin_allergy", ["penicillin"], "penicillin"),
        _allergy("sulfonamide_allergy", ["sulfamethoxazole"], "sulfonamide", "sulfa", "sulfamethoxazole"),
        _allergy("acei_angioedema", ["acei"], "angioedema"),
        _allergy("statin_intolerance", ["statin"], "statin intolerance", "statin", "atorvastatin", "rosuvastatin", "simvastatin"),
        _allergy("codeine_intolerance", ["codeine"], "codeine"),
    )
}  # fmt: skip

TOPICS: dict[str, Entry] = {
    e.key: e
    for e in (
        _entry(Kind.TOPIC, "nephrology", "nephrology", "nephrologist", "kidney specialist"),
        _entry(Kind.TOPIC, "adherence", "adherence", "nonadherence", "compliance", "pill count"),
        _entry(Kind.TOPIC, "triple_therapy", "triple therapy", "triple antithrombotic therapy", "triple antithrombotic"),
        _entry(Kind.TOPIC, "glucose_lowering", "glucose-lowering", "glucose lowering", "glycemic therapy", "diabetes medication", "antihyperglycemic"),
    )
}  # fmt: skip

SUBJECTS: dict[str, Entry] = {**DRUGS, **LABS, **CONDITIONS, **ALLERGIES, **TOPICS}


def subject_pattern(key: str) -> re.Pattern[str]:
    """Words naming a subject; a drug class is named by its members' words too."""
    entry = SUBJECTS[key]
    if entry.kind is not Kind.DRUG or entry.members == {key}:
        return entry.pattern
    terms = (*entry.terms, *(t for m in sorted(entry.members) for t in _BY_NAME[m].terms))
    return re.compile("|".join(_term_regex(t) for t in terms), re.IGNORECASE)


def ingredients_named(text: str) -> frozenset[str]:
    """Ingredients whose own words appear in ``text`` (a medication display)."""
    return frozenset(e.key for e in INGREDIENTS if e.pattern.search(text))


@dataclass(frozen=True)
class Mention:
    """A drug named in a text, where."""

    start: int
    end: int
    entry: Entry


def drug_spans(text: str) -> list[Mention]:
    """Ingredients and classes named in ``text``, in order; a class word inside a longer
    ingredient name (the "sartan" of "sacubitril/valsartan") counts as that ingredient only."""
    spans = [
        Mention(match.start(), match.end(), entry)
        for entry in (*INGREDIENTS, *CLASSES)
        for match in entry.pattern.finditer(text)
    ]
    # Longest first, so that a span inside a longer one is dropped; on the same span an
    # ingredient ("linagliptin") hides the class a suffix names ("*gliptin").
    spans.sort(key=lambda m: (m.start - m.end, m.start))
    ingredient_spans = {(m.start, m.end) for m in spans if m.entry.key in _BY_NAME}
    kept: list[Mention] = []
    for m in spans:
        inside = any(
            m.start >= k.start and m.end <= k.end and (k.start, k.end) != (m.start, m.end)
            for k in kept
        )
        hidden = m.entry.key not in _BY_NAME and (m.start, m.end) in ingredient_spans
        if not inside and not hidden:
            kept.append(m)
    return sorted(kept, key=lambda m: m.start)


def drug_mentions(text: str) -> list[Entry]:
    """The drugs of :func:`drug_spans`, each once."""
    seen: dict[str, Entry] = {}
    for mention in drug_spans(text):
        seen.setdefault(mention.entry.key, mention.entry)
    return list(seen.values())


# What may stand between the drugs of one list: punctuation, "and", "or", "such as", doses.
_LIST_GAP = re.compile(
    r"^(?:[\s,;/()]|\band\b|\bor\b|\band/or\b|\bvs\b\.?|\be\.g\.|\bsuch as\b|\bfor example\b|"
    r"\bincluding\b|\bplus\b|\bwith\b|\d[\d.,-]*|\b(?:mg|mcg|g|units?|daily|once|twice|BID)\b)*$",
    re.IGNORECASE,
)


def drug_lists(text: str) -> list[list[Entry]]:
    """The drugs of a text grouped into the lists they are named in ("spironolactone or
    eplerenone", "insulin and sulfonylureas", "(atorvastatin 40-80 mg or rosuvastatin 20-40 mg)")."""
    groups: list[list[Mention]] = []
    for mention in drug_spans(text):
        if groups and _LIST_GAP.match(text[groups[-1][-1].end : mention.start]):
            groups[-1].append(mention)
        else:
            groups.append([mention])
    return [[m.entry for m in group] for group in groups]
