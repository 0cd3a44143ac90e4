"""Lexical vectors: BM25 term weights as sparse vectors, computed here for every engine alike.

A text is cut into words (letters and digits; a decimal such as "6.2" stays one word), folded
to lower case, stripped of English stop words and stemmed with the Snowball English stemmer
(PyStemmer), so "dosing", "doses" and "dose" are one term. Each term's index in the sparse
vector is the CRC-32 of its UTF-8 bytes: stable across processes and engines, with no
vocabulary to store.

A chunk is its heading line (title and section path) and its passage; the heading's terms
count ``HEADING_WEIGHT`` times, as a title field is weighted in BM25F, since the heading says what
the passage is about in words a question uses ("Apixaban dosing in AF"). A chunk's vector holds,
for each term, the term-frequency half of BM25:
``tf * (k1 + 1) / (tf + k1 * (1 - b + b * length / AVERAGE_TERMS))``. The engine multiplies it
by the term's inverse document frequency over the whole collection (Qdrant's IDF modifier), so
a sparse search scores exactly BM25, and document frequencies stay current as chunks come and
go. The average length is a constant rather than the collection's (which would change every
stored weight on each write): ``AVERAGE_TERMS`` is the mean over the chunks of data/guidelines
(MedQuAD's chunks average 92 terms). A query's vector is each of its terms with its count.

k1 is 0.9 and b 0.4, Anserini's defaults (BEIR's BM25 baseline), rather than Lucene's 1.2 and 0.75
for whole documents: a chunk is a passage whose length the chunker bounds, so its length says
less about how much of it is about a term. Re-indexed from 1.2 and 0.75 on the same stores, the
sets of ``make eval`` rose in hybrid MRR@10 (guidelines 0.862 to 0.866, MedQuAD 0.723 to 0.738,
MedQuAD question-headed 0.820 to 0.824); sparse search alone rose on MedQuAD and fell on the
guidelines (0.831 to 0.819).

``ANALYZER`` names all of this. It is recorded in the collection; a collection made by another
analyzer serves dense search until it is re-indexed (``python -m services.retriever.reindex``),
since its terms would not match the query's.
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import Stemmer

from services.retriever.store.base import SparseVector, StoredChunk

#: Names the tokenizer, stop words, stemmer and weighting; change it when any of them changes.
ANALYZER = "bm25-snowball-english-v3"
K1 = 0.9
B = 0.4
#: How many times a term of a chunk's heading line counts.
HEADING_WEIGHT = 2
#: Mean terms per chunk (heading line included) over data/guidelines.
AVERAGE_TERMS = 60.0
#: Lucene's English stop words (its EnglishAnalyzer's default set).
_STOP_WORDS_TEXT = """a an and are as at be but by for if in into is it no not of on or such that
the their then there these they this to was will with"""
STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())
_WORD = re.compile(r"[^\W_]+(?:\.\d+)?")


@dataclass(frozen=True, slots=True)
class Word:
    """A word of a text, folded to lower case, and where the normalised text has it."""

    folded: str
    start: int
    end: int


def normalise(text: str) -> str:
    """The text as words are read from it (NFKC)."""
    return unicodedata.normalize("NFKC", text)


def words(text: str) -> list[Word]:
    """The words of ``normalise(text)`` in order, case-folded, stop words still in."""
    return [Word(m.group().casefold(), m.start(), m.end()) for m in _WORD.finditer(normalise(text))]


class Analyzer:
    """Turns texts into terms and sparse vectors. Not thread-safe (the stemmer is not)."""

    def __init__(self) -> None:
        self._stemmer = Stemmer.Stemmer("english")

    def stems(self, folded_words: Sequence[str]) -> list[str]:
        """Each case-folded word stemmed, stop words included."""
        stems: list[str] = self._stemmer.stemWords(folded_words)
        return stems

    def terms(self, folded_words: Iterable[str]) -> list[str]:
        """Stemmed terms of case-folded words, stop words left out."""
        kept = [word for word in folded_words if word not in STOP_WORDS]
        stems: list[str] = self._stemmer.stemWords(kept)
        return stems

    def text_terms(self, text: str) -> list[str]:
        """The terms of a text."""
        return self.terms(word.folded for word in words(text))

    def chunk_vector(self, chunk: StoredChunk) -> SparseVector:
        """BM25's term-frequency weights of a stored chunk, its heading line weighted."""
        heading = self.text_terms(chunk.context) * HEADING_WEIGHT
        counts = Counter([*heading, *self.text_terms(chunk.text)])
        length = sum(counts.values())
        norm = K1 * (1.0 - B + B * length / AVERAGE_TERMS)
        return sparse_vector((term, tf * (K1 + 1.0) / (tf + norm)) for term, tf in counts.items())

    def query_vector(self, terms: Sequence[str]) -> SparseVector:
        """Each of a query's terms, weighted by how often the query has it."""
        return sparse_vector((term, float(count)) for term, count in Counter(terms).items())


def term_index(term: str) -> int:
    """The term's index in sparse vectors (CRC-32 of its UTF-8 bytes)."""
    return zlib.crc32(term.encode("utf-8"))


def sparse_vector(weights: Iterable[tuple[str, float]]) -> SparseVector:
    """Terms with their weights as a sparse vector. Two terms with the same CRC-32 (rare) share
    an index: their weights add up."""
    by_index: dict[int, float] = {}
    for term, weight in weights:
        index = term_index(term)
        by_index[index] = by_index.get(index, 0.0) + weight
    ordered = sorted(by_index.items())
    return SparseVector(
        indices=tuple(index for index, _ in ordered), values=tuple(value for _, value in ordered)
    )
