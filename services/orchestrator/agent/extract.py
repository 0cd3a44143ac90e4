"""Picks the sentences of a passage that best answer a query (extractive, no model).

A passage is split into sentences; a list item keeps the lead-in it completes ("KDIGO gives a
dosing scheme for metformin: eGFR 30–44: halve the dose ..."), while headings, table rows,
fragments and provenance notes are skipped. A sentence qualifies when it advises something
(see :func:`advises`) and is not a definition. Each is scored by the query words it shares,
then by the bounds it states on a value the query or the patient has: "eGFR 30–44" or "potassium
above 5.5" that the value falls in earns a bonus, one it falls outside costs more, and a
sentence that opens with a band the value is outside of ("eGFR ≥60: usual full dose" at eGFR 34)
does not qualify. Wording that states what to do earns a small bonus. The best sentences are
returned verbatim (markdown emphasis removed), in their original order.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\"'])")
_WORD = re.compile(r"[a-z][a-z0-9-]+")
_MARKUP = re.compile(r"\*\*|__|`")
_BULLET = re.compile(r"^\s*(?:[-*+•]|\d+[.)])\s+")
_STOPWORDS_TEXT = """a an and are as at be by for from in into is it of on or the to with without
use using dose dosing management therapy treatment"""
_DIRECTIVE_TEXT = """recommend recommended recommends should stop avoid reduce reduced halve start
continue consider contraindicated monitor check target not"""
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())
DIRECTIVE = frozenset(_DIRECTIVE_TEXT.split())  # wording that states what to do
MAX_CHARS = 420
FIT_BONUS = 2.0  # per value a stated bound holds (at most two)
MISFIT_COST = 3.0  # per value every stated bound excludes
_COMPLETE = re.compile(r"[.!?][)\"'”’]?$")  # a sentence, not a fragment or a lead-in (":")
_BOILERPLATE = ("Source:", "Demonstration summary")  # provenance notes, not guidance

# Wording that advises: a modal, a recommendation, or a verb of what to do with a drug or test.
# "do not" is advice as an imperative ("Do not use", "if ..., do not restart"), not after a
# subject ("decisions ... do not depend on ...").
_ADVICE = re.compile(
    r"\b(?:should|must|recommend\w*|suggest\w*|advis\w*|consider\w*|reasonable|preferred|"
    r"prefer|avoid\w*|stop|stopped|start|started|initiat\w*|add|added|reduce|halve|"
    r"halving|hold|withh[oe]ld\w*|discontinu\w*|continue|continued|monitor\w*|check|checked|"
    r"measure|measured|repeat|recheck\w*|titrate|titrated|increase|switch|switched|replace|"
    r"refer|referred|use|target|limit|limited|contraindicated|caution|(?<![a-z]\s)do\s+not|needs?|"
    r"required|treat|give|choose|review|may\s+be|can\s+be|is\s+(?:appropriate|safe|"
    r"preferred)|safe\s+to|maximum|restart\w*|resume\w*|omit)\b",
    re.IGNORECASE,
)
# Definitions and descriptions of the document itself: not advice.
_DEFINITION = re.compile(
    r"\b(?:is|are)\s+defined\b|\bdefined\s+(?:in|as|by)\b|\brefers\s+to\b|\bincludes?\b|"
    r"\b(?:is|are)\s+classed\s+as\b|\bdescribes?\b[^.]*\bas\b|\bare\s+recogni[sz]ed\b|"
    r"\b(?:summary|guideline|section|document|statement)\s+(?:covers|describes|addresses)\b|"
    r"\bclassif(?:y|ies|ied)\b",
    re.IGNORECASE,
)

# Values a guideline states bounds on, and the words naming them (the longest first).
LABELS: dict[str, tuple[str, ...]] = {
    "crcl": ("creatinine clearance", "CrCl"),
    "egfr": ("eGFR", "GFR", "glomerular filtration rate"),
    "uacr": ("albumin-to-creatinine ratio", "UACR", "ACR"),
    "creatinine": ("serum creatinine", "creatinine"),
    "potassium": ("serum potassium", "potassium", "K+"),
    "hba1c": ("HbA1c", "A1C", "A1c"),
    "ldl": ("LDL-C", "LDL cholesterol", "LDL"),
    "age": ("aged", "age"),
    "weight": ("body weight", "weight"),
    "sbp": ("systolic BP", "systolic blood pressure", "systolic", "blood pressure", "BP"),
    "bmi": ("BMI", "body mass index"),
    "hemoglobin": ("hemoglobin", "haemoglobin", "Hb"),
    "bicarbonate": ("serum bicarbonate", "bicarbonate"),
}
_LABEL = re.compile(
    "|".join(
        rf"(?P<{key}>(?<![\w-])(?:{'|'.join(re.escape(w) for w in words)})(?![\w+-]))"
        for key, words in LABELS.items()
    ),
    re.IGNORECASE,
)
_NUMBER = r"(\d+(?:\.\d+)?)"
_OP = r"(≥|>=|>|≤|<=|<)"
_ABOVE = r"above|over|greater\s+than|more\s+than|higher\s+than|exceed(?:s|ing)?"
_BELOW = r"below|under|less\s+than|lower\s+than"
_AT_LEAST = r"at\s+least"
_AT_MOST = r"at\s+most|up\s+to|no\s+more\s+than"
_OR_MORE = r"higher|more|above|greater|older"
_OR_LESS = r"lower|less|below|fewer|younger"
_UNIT = r"(?:\s*(?:%|mL/min(?:/1\.73\s*m²)?|mg/dL|mg/g|mmol/L|mEq/L|g/dL|kg|years?|mm\s*Hg))?"
# A bound or a range on a number, in symbols or words.
_BOUNDS = re.compile(
    rf"(?P<range>(?:(?P<low_op>{_OP})|(?P<low_word>{_ABOVE}|from)\s+)?\s*(?P<low>{_NUMBER})"
    rf"\s*(?:–|-|to)\s*(?P<high_op>{_OP})?\s*(?P<high>{_NUMBER}))"
    rf"|(?P<symbol>(?P<op>{_OP})\s*(?P<bound>{_NUMBER}))"
    rf"|(?P<word>(?P<word_op>{_ABOVE}|{_BELOW}|{_AT_LEAST}|{_AT_MOST})\s+(?P<word_bound>{_NUMBER}))"
    rf"|(?P<trailing>(?P<trailing_bound>{_NUMBER}){_UNIT}\s+or\s+"
    rf"(?P<trailing_op>{_OR_MORE}|{_OR_LESS}))",
    re.IGNORECASE,
)
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "≥": operator.ge,
    ">=": operator.ge,
    ">": operator.gt,
    "≤": operator.le,
    "<=": operator.le,
    "<": operator.lt,
}
_LABEL_REACH = re.compile(r"^[^;:.()]{0,40}$")  # label to bound: same clause, a few words
_QUERY_VALUE = re.compile(rf"(?:{_LABEL.pattern})\s*{_NUMBER}", re.IGNORECASE)


@dataclass(frozen=True)
class Sentence:
    """A sentence of a passage, with the lead-in of the list it is an item of ("" if none)."""

    text: str
    lead_in: str = ""

    @property
    def full(self) -> str:
        return f"{self.lead_in} {self.text}" if self.lead_in else self.text


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def _clean(line: str) -> str:
    return _MARKUP.sub("", line.strip())


def _split(line: str) -> list[str]:
    return [part.strip() for part in _SENTENCE_END.split(line) if part.strip()]


def sentences(passage: str, context: str = "") -> list[Sentence]:
    """Sentences of a passage. A first line equal to ``context`` (the retriever's breadcrumb of
    the chunk's section) is skipped, as are headings, table rows, fragments that do not end a
    sentence ("Atorvastatin 40–80 mg daily") and provenance notes ("Source: ..."). A list item
    is one unit, however many sentences it has (its later ones depend on its opening: "eGFR
    30–44: halve the dose. Starting metformin in this range is not advised."), and keeps the
    lead-in ending in ":" that introduces its list (then it may end in ";" or ",")."""
    lines = passage.splitlines()
    if context and lines and lines[0].strip() == context.strip():
        lines = lines[1:]
    found: list[Sentence] = []
    lead_in = ""
    for raw_line in lines:
        line = raw_line.strip()
        if not line or line.startswith(("#", "|", ">")):
            lead_in = ""
            continue
        if _BULLET.match(line):
            item = _clean(_BULLET.sub("", line))
            complete = _COMPLETE.search(item) or (lead_in and item.endswith((";", ",")))
            if complete and not item.startswith(_BOILERPLATE):
                found.append(Sentence(item, lead_in))
            continue
        lead_in = ""
        for part in line.split("•"):  # inline bullets
            pieces = _split(_clean(part))
            found.extend(
                Sentence(piece)
                for piece in pieces
                if _COMPLETE.search(piece) and not piece.startswith(_BOILERPLATE)
            )
            if pieces and pieces[-1].endswith(":"):
                lead_in = pieces[-1]
    return found


def advises(sentence: str) -> bool:
    """Whether a sentence says what to do (or not to do), and is not a definition."""
    return bool(_ADVICE.search(sentence)) and not _DEFINITION.search(sentence)


def query_values(query: str) -> dict[str, float]:
    """The values a query names with their labels ("metformin dosing eGFR 34" -> egfr 34)."""
    found: dict[str, float] = {}
    for match in _QUERY_VALUE.finditer(query):
        label = next(key for key in LABELS if match.group(key))
        found[label] = float(match.groups()[-1])
    return found


def _holds(match: re.Match[str], value: float) -> bool:
    """Whether a value satisfies a bound or lies in a range matched by :data:`_BOUNDS`."""
    found = match.groupdict()
    if found["range"]:
        low, high = float(found["low"]), float(found["high"])
        strictly_above = found["low_op"] == ">" or (
            bool(found["low_word"]) and found["low_word"] != "from"
        )
        above = value > low if strictly_above else value >= low
        below = _COMPARE[found["high_op"]](value, high) if found["high_op"] else value <= high
        return above and below
    if found["symbol"]:
        return _COMPARE[found["op"]](value, float(found["bound"]))
    if found["word"]:
        word, bound = " ".join(found["word_op"].lower().split()), float(found["word_bound"])
        if re.fullmatch(_ABOVE, word):
            return value > bound
        if re.fullmatch(_BELOW, word):
            return value < bound
        return value >= bound if re.fullmatch(_AT_LEAST, word) else value <= bound
    bound = float(found["trailing_bound"])
    more = re.fullmatch(_OR_MORE, found["trailing_op"].lower())
    return value >= bound if more else value <= bound


def _label_before(text: str, start: int) -> tuple[str, int] | None:
    """The label nearest before ``start`` within reach, and where it starts."""
    labels = [
        m for m in _LABEL.finditer(text, 0, start) if _LABEL_REACH.match(text[m.end() : start])
    ]
    if not labels:
        return None
    last = labels[-1]
    return next(key for key in LABELS if last.group(key)), last.start()


@dataclass(frozen=True)
class Fit:
    """How a sentence's stated bounds meet the values: labels with a bound that holds, labels
    whose every bound excludes the value, and whether the band that opens the sentence (before
    its first ":") excludes it ("eGFR ≥60: usual full dose" at eGFR 34)."""

    holds: int = 0
    excludes: int = 0
    band_excludes: bool = False


def fit(sentence: str, values: Mapping[str, float]) -> Fit:
    per_label: dict[str, list[bool]] = {}
    in_band: dict[str, list[bool]] = {}
    band_end = sentence.find(":")
    for match in _BOUNDS.finditer(sentence):
        labelled = _label_before(sentence, match.start())
        if labelled is None or labelled[0] not in values:
            continue
        held = _holds(match, values[labelled[0]])
        per_label.setdefault(labelled[0], []).append(held)
        if match.end() <= band_end:
            in_band.setdefault(labelled[0], []).append(held)
    return Fit(
        holds=sum(any(results) for results in per_label.values()),
        excludes=sum(not any(results) for results in per_label.values()),
        band_excludes=any(not any(results) for results in in_band.values()),
    )


def _score(sentence: str, query_words: set[str], values: Mapping[str, float]) -> float:
    words = _words(sentence)
    overlap = len(words & query_words)
    if overlap == 0:
        return 0.0
    found = fit(sentence, values)
    bounds = FIT_BONUS * min(found.holds, 2) - MISFIT_COST * found.excludes
    return max(0.1, overlap + bounds + 0.5 * min(len(words & DIRECTIVE), 2))


def mentions_any(text: str, terms: Sequence[str]) -> bool:
    """Whether a term starts a word of the text ("hyperkal" matches "hyperkalemia")."""
    return any(re.search(r"\b" + re.escape(term), text, re.IGNORECASE) for term in terms)


@dataclass(frozen=True)
class Quote:
    """Sentences chosen from a passage and how well the best of them matched."""

    text: str
    score: float


def _compose(chosen: Sequence[Sentence]) -> str:
    """The sentences in passage order, a lead-in written once for its consecutive items."""
    parts: list[str] = []
    previous = ""
    for sentence in chosen:
        if sentence.lead_in and sentence.lead_in != previous:
            parts.append(sentence.lead_in)
        parts.append(sentence.text)
        previous = sentence.lead_in
    return " ".join(parts)


def best_sentences(
    passage: str,
    query: str,
    *,
    limit: int = 2,
    section: Sequence[str] = (),
    terms: Sequence[str] = (),
    values: Mapping[str, float] | None = None,
    accept: Callable[[str], bool] | None = None,
    advice_only: bool = True,
) -> Quote:
    """Up to ``limit`` best-matching advising sentences in passage order, within
    :data:`MAX_CHARS` (the best one always).

    ``section`` is the chunk's section path (document title first): its breadcrumb line is not a
    sentence, and with ``terms`` a sentence qualifies only if it, or the chunk's own section
    headings (never the document title), mentions one of them. ``values`` are the patient's
    values by label (those the query names count too); ``accept`` may turn a sentence down (one
    addressed to other patients, say); without ``advice_only``, a sentence need not advise
    (a dose table's row backs a dose). The text is empty when no sentence qualifies."""
    query_words = _words(query) - STOPWORDS
    known = {**(values or {}), **query_values(query)}
    licence = " > ".join(section[1:])
    on_topic = not terms or mentions_any(licence, terms)
    candidates = [
        s
        for s in sentences(passage, " > ".join(section))
        if (on_topic or mentions_any(s.full, terms))
        and (advises(s.full) or not advice_only)
        and not (fit(s.lead_in, known).band_excludes or fit(s.text, known).band_excludes)
        and (accept is None or accept(s.full))
    ]
    scores = [_score(s.full, query_words, known) for s in candidates]
    ranked = sorted(
        (index for index, score in enumerate(scores) if score > 0),
        key=lambda index: (-scores[index], index),
    )
    chosen: list[int] = []
    length = 0
    for index in ranked[:limit]:
        size = len(candidates[index].full) + 1
        if chosen and length + size > MAX_CHARS:
            break
        chosen.append(index)
        length += size
    text = _compose([candidates[index] for index in sorted(chosen)])
    return Quote(text, scores[ranked[0]] if ranked else 0.0)
