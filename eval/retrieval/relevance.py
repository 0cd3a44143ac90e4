"""When a hit counts as relevant to a MedQuAD question: it shares a run of text with the answer.

Each MedQuAD question's relevant passage is its own answer. A chunk is relevant when its text and
the answer share a run of at least ``RUN_CHARS`` (60) characters once both are normalised
(Unicode NFKC, case-folded, every run of non-alphanumeric characters made one space). A chunk of
the answer itself always qualifies, and so does a chunk of another page that repeats the same
text, as MedQuAD's pages often do. An answer shorter than the run is relevant to a chunk that
contains all of it.

Finding every relevant chunk of every answer (for nDCG's ideal ranking) goes through an index of
the chunks' ``RUN_CHARS // 2``-character pieces at fixed strides: a shared run of ``RUN_CHARS``
characters always covers one whole piece, so only the chunks that have a piece inside the answer
are compared in full.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping
from typing import Generic, TypeVar

RUN_CHARS = 60
Key = TypeVar("Key", bound=Hashable)
_NOT_ALPHANUMERIC = re.compile(r"[\W_]+")


def normalise(text: str) -> str:
    """NFKC, case-folded, non-alphanumeric runs as single spaces, trimmed."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return _NOT_ALPHANUMERIC.sub(" ", folded).strip()


def _windows(text: str, size: int) -> set[str]:
    return {text[start : start + size] for start in range(len(text) - size + 1)}


def shares_run(passage: str, answer: str, run: int = RUN_CHARS) -> bool:
    """Whether the normalised ``passage`` and ``answer`` share ``run`` consecutive characters
    (all of ``answer`` when it is shorter than that). Both must already be normalised."""
    size = min(run, len(answer))
    if size == 0:
        return False
    if size == len(answer):
        return answer in passage
    return _holds_one_of(passage, _windows(answer, size), size)


def _holds_one_of(passage: str, pieces: set[str], size: int) -> bool:
    return any(passage[start : start + size] in pieces for start in range(len(passage) - size + 1))


class RunIndex(Generic[Key]):
    """Finds, for an answer, every chunk that shares a run of ``run`` characters with it."""

    def __init__(self, chunks: Mapping[Key, str], run: int = RUN_CHARS) -> None:
        if run < 2:
            raise ValueError("run must be at least 2 characters")
        self._run = run
        self._piece = run // 2
        self._texts = {key: normalise(text) for key, text in chunks.items()}
        self._pieces: defaultdict[str, set[Key]] = defaultdict(set)
        for key, text in self._texts.items():
            for start in range(0, len(text) - self._piece + 1, self._piece):
                self._pieces[text[start : start + self._piece]].add(key)

    def relevant(self, answer: str) -> set[Key]:
        """Keys of the chunks relevant to ``answer`` (raw text; normalised here)."""
        normalised = normalise(answer)
        if len(normalised) < self._run:
            return {key for key, text in self._texts.items() if normalised and normalised in text}
        candidates: set[Key] = set()
        for piece in _windows(normalised, self._piece):
            candidates |= self._pieces.get(piece, set())
        runs = _windows(normalised, self._run)
        return {key for key in candidates if _holds_one_of(self._texts[key], runs, self._run)}


def relevant_sets(
    answers: Iterable[str], chunks: Mapping[Key, str], run: int = RUN_CHARS
) -> list[set[Key]]:
    """For each answer, the keys of its relevant chunks."""
    index = RunIndex(chunks, run)
    return [index.relevant(answer) for answer in answers]
