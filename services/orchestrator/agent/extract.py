"""Picks the sentences of a passage that best answer a query (extractive, no model).

A passage is split into sentences (list items that are sentences count; headings, table rows,
fragments and lead-ins ending in ":" are skipped). Each is scored by the query words it shares,
with a bonus when a number of the query falls in a range the sentence states ("eGFR 30–44" for
"eGFR 34") and a small one for wording that states what to do. The best sentences are returned
verbatim (markdown emphasis removed), in their original order.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\"'])")
_WORD = re.compile(r"[a-z][a-z0-9-]+")
_MARKUP = re.compile(r"\*\*|__|`")
_BULLET = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
_STOPWORDS_TEXT = """a an and are as at be by for from in into is it of on or the to with without
use using dose dosing management therapy treatment"""
_DIRECTIVE_TEXT = """recommend recommended recommends should stop avoid reduce reduced halve start
continue consider contraindicated monitor check target not"""
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())
DIRECTIVE = frozenset(_DIRECTIVE_TEXT.split())  # wording that states what to do
MAX_CHARS = 420
_NUMBER = r"(\d+(?:\.\d+)?)"
_RANGE = re.compile(_NUMBER + r"\s*(?:–|-|to)\s*" + _NUMBER)
_BOUND = re.compile(r"(≥|>=|>|≤|<=|<)\s*" + _NUMBER)
_QUERY_NUMBER = re.compile(r"(?<![\d.])" + _NUMBER + r"(?![\d.])")
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "≥": operator.ge,
    ">=": operator.ge,
    ">": operator.gt,
    "≤": operator.le,
    "<=": operator.le,
    "<": operator.lt,
}
RANGE_BONUS = 2.0
_COMPLETE = re.compile(r"[.!?][)\"'”’]?$")  # a sentence, not a fragment or a lead-in (":")
_BOILERPLATE = ("Source:", "Demonstration summary")  # provenance notes, not guidance


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def sentences(passage: str, heading: str = "") -> list[str]:
    """Sentences of a passage; a first line equal to ``heading`` (the retriever's breadcrumb of
    the chunk's section), headings, table rows, fragments that do not end a sentence (list
    entries such as "Atorvastatin 40–80 mg daily", lead-ins ending in ":") and provenance notes
    ("Source: ...") are skipped."""
    lines = passage.splitlines()
    if heading and lines and lines[0].strip() == heading.strip():
        lines = lines[1:]
    lines = [part for line in lines for part in line.split("•")]  # inline bullets
    found: list[str] = []
    for raw_line in lines:
        line = raw_line.strip()
        if not line or line.startswith(("#", "|", ">")):
            continue
        line = _MARKUP.sub("", _BULLET.sub("", line))
        parts = (part.strip() for part in _SENTENCE_END.split(line))
        found.extend(part for part in parts if _COMPLETE.search(part))
    return [s for s in found if not s.startswith(_BOILERPLATE)]


def _in_stated_range(sentence: str, numbers: list[float]) -> bool:
    """Whether a query number lies in a range ("30–44") or bound ("<30") the sentence states."""
    for low, high in _RANGE.findall(sentence):
        if any(float(low) <= n <= float(high) for n in numbers):
            return True
    return any(
        _COMPARE[op](n, float(bound)) for op, bound in _BOUND.findall(sentence) for n in numbers
    )


def _score(sentence: str, query_words: set[str], numbers: list[float]) -> float:
    words = _words(sentence)
    overlap = len(words & query_words)
    if overlap == 0:
        return 0.0
    bonus = RANGE_BONUS if numbers and _in_stated_range(sentence, numbers) else 0.0
    return overlap + bonus + 0.5 * min(len(words & DIRECTIVE), 2)


def _mentions(sentence: str, terms: Sequence[str]) -> bool:
    """Whether a term starts a word of the sentence ("hyperkal" matches "hyperkalemia")."""
    return any(re.search(r"\b" + re.escape(term), sentence, re.IGNORECASE) for term in terms)


@dataclass(frozen=True)
class Quote:
    """Sentences chosen from a passage and how well the best of them matched."""

    text: str
    score: float


def best_sentences(
    passage: str, query: str, limit: int = 2, heading: str = "", terms: Sequence[str] = ()
) -> Quote:
    """Up to ``limit`` best-matching sentences in passage order, within :data:`MAX_CHARS`
    (the best one always). With ``terms``, a sentence qualifies only if it or the passage's
    heading mentions one of them. The text is empty when no sentence qualifies."""
    query_words = _words(query) - STOPWORDS
    numbers = [float(n) for n in _QUERY_NUMBER.findall(query)]
    on_topic = not terms or _mentions(heading, terms)
    candidates = [s for s in sentences(passage, heading) if on_topic or _mentions(s, terms)]
    scores = [_score(sentence, query_words, numbers) for sentence in candidates]
    ranked = sorted(
        (index for index, score in enumerate(scores) if score > 0),
        key=lambda index: (-scores[index], index),
    )
    chosen: list[int] = []
    length = 0
    for index in ranked[:limit]:
        if chosen and length + len(candidates[index]) + 1 > MAX_CHARS:
            break
        chosen.append(index)
        length += len(candidates[index]) + 1
    text = " ".join(candidates[index] for index in sorted(chosen))
    return Quote(text, scores[ranked[0]] if ranked else 0.0)
