"""Lexical vectors: words, stems and stop words, BM25 term weights, the heading's weight."""

from __future__ import annotations

import zlib

import pytest

from services.retriever.lexical import (
    AVERAGE_TERMS,
    HEADING_WEIGHT,
    K1,
    Analyzer,
    B,
    term_index,
    words,
)
from services.retriever.store.base import StoredChunk

ANALYZER = Analyzer()


def chunk(context: str, text: str) -> StoredChunk:
    return StoredChunk(
        document_id="d",
        chunk_index=0,
        title="T",
        text=text,
        content_hash="h",
        chunk_count=1,
        context=context,
    )


def weights(context: str, text: str) -> dict[str, float]:
    vector = ANALYZER.chunk_vector(chunk(context, text))
    by_index = dict(zip(vector.indices, vector.values, strict=True))
    terms = set(ANALYZER.text_terms(f"{context} {text}"))
    return {term: by_index[term_index(term)] for term in terms}


def test_words_are_folded_stemmed_and_stop_words_dropped() -> None:
    assert ANALYZER.text_terms("The Doses of Apixaban, and K+ at 6.2 mmol/L") == [
        "dose",
        "apixaban",
        "k",
        "6.2",
        "mmol",
        "l",
    ]
    assert ANALYZER.text_terms("dosing doses dose") == ["dose", "dose", "dose"]
    # Positions are kept in the normalised text, for synonyms to quote the query.
    [word] = words("Ｅliquis")  # a full-width letter, NFKC-normalised
    assert (word.folded, word.start, word.end) == ("eliquis", 0, 7)


def test_term_indexes_are_the_crc32_of_the_term() -> None:
    assert term_index("apixaban") == zlib.crc32(b"apixaban")
    vector = ANALYZER.query_vector(["dose", "apixaban", "dose"])
    assert list(vector.indices) == sorted(vector.indices)
    assert dict(zip(vector.indices, vector.values, strict=True)) == {
        term_index("dose"): 2.0,
        term_index("apixaban"): 1.0,
    }


def test_chunk_weights_are_bm25_term_frequencies_with_the_heading_counted_twice() -> None:
    found = weights("Apixaban", "apixaban dose dose review")
    # Terms: apixaban (heading twice, text once) 3, dose 2, review 1: length 6.
    norm = K1 * (1 - B + B * 6 / AVERAGE_TERMS)
    assert HEADING_WEIGHT == 2
    assert found["apixaban"] == pytest.approx(3 * (K1 + 1) / (3 + norm))
    assert found["dose"] == pytest.approx(2 * (K1 + 1) / (2 + norm))
    assert found["review"] == pytest.approx(1 * (K1 + 1) / (1 + norm))
    # A longer passage weighs the same count less (length normalisation).
    longer = weights("Apixaban", "apixaban dose dose review " + "other words here " * 10)
    assert longer["review"] < found["review"]


def test_a_chunk_without_a_heading_is_its_passage() -> None:
    assert weights("", "apixaban dose") == weights("", "dose apixaban")
    assert set(weights("", "apixaban dose")) == {"apixaban", "dose"}
