"""The BM25 baseline: lexical matching with stemming, over chunk keys."""

from __future__ import annotations

import pytest

from eval.retrieval.bm25 import Bm25Baseline
from eval.retrieval.chunks import Chunk

CHUNKS = [
    Chunk(("af", 0), ("AF", "Drugs"), "Dofetilide is started in hospital and dosed by clearance."),
    Chunk(
        ("af", 1), ("AF", "Rate"), "Beta-blockers control the heart rate in atrial fibrillation."
    ),
    Chunk(
        ("ckd", 0), ("CKD", "Diet"), "Protein intake of 0.8 g/kg per day in chronic kidney disease."
    ),
    Chunk(
        ("ckd", 1),
        ("CKD", "Binders"),
        "Patiromer lowers potassium; separate other drugs by 3 hours.",
    ),
]


@pytest.fixture(scope="module")
def bm25() -> Bm25Baseline:
    return Bm25Baseline(CHUNKS)


def test_a_rare_drug_name_ranks_its_chunk_first(bm25: Bm25Baseline) -> None:
    keys, milliseconds = bm25.search("how is dofetilide dosed?", depth=10)
    assert keys[0] == ("af", 0)
    assert milliseconds >= 0.0


def test_stemming_matches_other_forms_of_a_word(bm25: Bm25Baseline) -> None:
    keys, _ = bm25.search("binder lowering potassium levels", depth=10)
    assert keys[0] == ("ckd", 1)


def test_only_chunks_sharing_a_term_are_returned(bm25: Bm25Baseline) -> None:
    keys, _ = bm25.search("protein", depth=10)
    assert keys == (("ckd", 0),)
    assert bm25.search("Eliquis", depth=10)[0] == ()
    assert bm25.search("the and of", depth=10)[0] == ()


def test_depth_limits_the_hits(bm25: Bm25Baseline) -> None:
    keys, _ = bm25.search("dofetilide heart rate protein potassium", depth=2)
    assert len(keys) == 2


def test_an_empty_corpus_is_refused() -> None:
    with pytest.raises(ValueError, match="no chunks"):
        Bm25Baseline([])
