"""The chunk store through its interface, for every engine (Qdrant local mode for now).

Each engine is opened on an empty temporary folder. A new engine joins by adding its opener to
``ENGINES``; every test here then runs against it too.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from functools import partial
from pathlib import Path

import pytest

from services.common.errors import FailedPrecondition
from services.retriever.lexical import Analyzer
from services.retriever.store.base import (
    ChunkRecord,
    ChunkStore,
    SearchFilter,
    SearchMode,
    SearchQuery,
    StoredChunk,
    chunk_id,
)
from tests.retriever.conftest import open_local_store

ENGINES: dict[str, Callable[[Path], ChunkStore]] = {"qdrant-local": open_local_store}
DIMENSION = 4
MODEL = "a 4-dimensional test model"
ANALYZER_NAME = "test-analyzer-v1"
UNFILTERED = SearchFilter()
ANALYZER = Analyzer()


def unit(*values: float) -> list[float]:
    """``values`` scaled to unit length, as the Embedder's vectors are."""
    norm = math.sqrt(sum(v * v for v in values))
    return [v / norm for v in values]


def chunk(document_id: str, index: int, count: int = 1, content_hash: str = "h1") -> StoredChunk:
    """A chunk of ``document_id`` with the required fields only."""
    return StoredChunk(
        document_id=document_id,
        chunk_index=index,
        title=f"Title of {document_id}",
        text=f"text {index} of {document_id} ({content_hash})",
        content_hash=content_hash,
        chunk_count=count,
    )


def record(stored: StoredChunk, vector: list[float]) -> ChunkRecord:
    """What ingestion writes for a chunk: its vector and the lexical vector of its text."""
    return ChunkRecord(stored, vector, ANALYZER.chunk_vector(stored))


def search(
    vector: list[float],
    limit: int = 10,
    score_threshold: float | None = None,
    where: SearchFilter = UNFILTERED,
) -> SearchQuery:
    return SearchQuery(
        SearchMode.DENSE, limit, vector=vector, score_threshold=score_threshold, where=where
    )


def words(
    text: str,
    vector: list[float] | None = None,
    limit: int = 10,
    where: SearchFilter = UNFILTERED,
) -> SearchQuery:
    """A sparse search for ``text``; hybrid when a dense ``vector`` is given too."""
    mode = SearchMode.SPARSE if vector is None else SearchMode.HYBRID
    lexical = ANALYZER.query_vector(ANALYZER.text_terms(text))
    return SearchQuery(mode, limit, vector=vector, lexical=lexical, where=where)


@pytest.fixture(params=sorted(ENGINES))
def open_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], ChunkStore]:
    """Opens the engine under test on this test's folder (again after a close)."""
    return partial(ENGINES[request.param], tmp_path)


@pytest.fixture
async def store(open_engine: Callable[[], ChunkStore]) -> AsyncIterator[ChunkStore]:
    """An open store whose collection exists with ``DIMENSION``-sized vectors."""
    opened = open_engine()
    await opened.ensure_collection(DIMENSION, MODEL, ANALYZER_NAME)
    yield opened
    await opened.close()


async def test_a_new_store_has_no_collection(open_engine: Callable[[], ChunkStore]) -> None:
    store = open_engine()
    try:
        info = await store.info()
        assert (info.points_count, info.dimension, info.distance, info.documents_count) == (
            0,
            0,
            "",
            0,
        )
        assert await store.delete_document("anything") == 0
    finally:
        await store.close()


async def test_the_collection_keeps_its_dimension(store: ChunkStore) -> None:
    await store.ensure_collection(DIMENSION, MODEL, "another-analyzer")  # the same size is fine
    info = await store.info()
    assert (info.dimension, info.distance) == (DIMENSION, "Dot")
    # The analyzer recorded when the collection was made stays until a re-index.
    assert info.lexical_analyzer == await store.lexical_analyzer() == ANALYZER_NAME
    with pytest.raises(FailedPrecondition) as raised:
        await store.ensure_collection(8, "an 8-dimensional model", ANALYZER_NAME)
    message = str(raised.value)
    assert f"{store.collection} has 4-dimensional vectors" in message
    assert "(an 8-dimensional model) makes 8" in message


async def test_a_chunk_comes_back_with_every_field(store: ChunkStore) -> None:
    full = replace(
        chunk("kdigo-2022", 3, count=7),
        section_path=("Diabetes in CKD", "Metformin"),
        issuer="KDIGO",
        year=2022,
        url="https://kdigo.org/guidelines/diabetes-ckd/",
        topics=("diabetes", "ckd"),
        guideline="KDIGO 2022 Diabetes in CKD",
        context="Diabetes in CKD > Metformin",
    )
    vector = unit(1, 2, 3, 4)
    await store.upsert([record(full, vector)])
    [hit] = await store.search(search(vector))
    assert hit.chunk == full
    assert hit.chunk_id == full.id == chunk_id("kdigo-2022", 3)
    assert hit.score == pytest.approx(1.0)


async def test_hits_are_best_first_and_cut_by_limit_and_threshold(store: ChunkStore) -> None:
    near, middle, far = unit(1, 0.1, 0, 0), unit(1, 1, 0, 0), unit(0, 1, 0, 0)
    await store.upsert(
        [
            record(chunk("far", 0), far),
            record(chunk("near", 0), near),
            record(chunk("middle", 0), middle),
        ]
    )
    query = unit(1, 0, 0, 0)
    hits = await store.search(search(query))
    assert [hit.chunk.document_id for hit in hits] == ["near", "middle", "far"]
    assert [hit.score for hit in hits] == pytest.approx([near[0], middle[0], far[0]])
    assert [h.chunk.document_id for h in await store.search(search(query, 2))] == ["near", "middle"]
    strong = await store.search(search(query, score_threshold=0.5))
    assert [hit.chunk.document_id for hit in strong] == ["near", "middle"]


async def test_a_filter_needs_every_field_and_any_value_within_one(store: ChunkStore) -> None:
    vector = unit(1, 1, 1, 1)
    await store.upsert(
        [
            record(replace(chunk("a", 0), issuer="KDIGO", topics=("ckd",)), vector),
            record(replace(chunk("b", 0), issuer="KDIGO", topics=("hf", "lipids")), vector),
            record(replace(chunk("c", 0), issuer="ADA", topics=("diabetes",)), vector),
        ]
    )

    async def found(where: SearchFilter) -> set[str]:
        return {hit.chunk.document_id for hit in await store.search(search(vector, where=where))}

    assert await found(SearchFilter()) == {"a", "b", "c"}
    assert await found(SearchFilter(document_ids=("a", "c"))) == {"a", "c"}
    assert await found(SearchFilter(issuers=("KDIGO",))) == {"a", "b"}
    assert await found(SearchFilter(topics=("lipids", "diabetes"))) == {"b", "c"}
    assert await found(SearchFilter(issuers=("KDIGO",), topics=("diabetes",))) == set()


async def test_counts_are_per_document_and_per_version(store: ChunkStore) -> None:
    vector = unit(1, 0, 0, 0)
    await store.upsert(
        [record(chunk("a", i, count=3), vector) for i in range(3)] + [record(chunk("b", 0), vector)]
    )
    assert await store.count("a") == 3
    assert await store.count("a", "h1") == 3
    assert await store.count("a", "h2") == 0
    assert await store.count("missing") == 0
    info = await store.info()
    assert (info.points_count, info.documents_count) == (4, 2)


async def test_a_chunk_written_again_is_overwritten(store: ChunkStore) -> None:
    await store.upsert([record(chunk("a", 0, content_hash="h1"), unit(1, 0, 0, 0))])
    newer = chunk("a", 0, content_hash="h2")
    await store.upsert([record(newer, unit(0, 1, 0, 0))])
    assert await store.count("a") == 1
    [hit] = await store.search(search(unit(0, 1, 0, 0)))
    assert hit.chunk == newer


async def test_deleting_stale_chunks_keeps_the_current_version(store: ChunkStore) -> None:
    vector = unit(1, 0, 0, 0)
    await store.upsert([record(chunk("a", i, 3, "old"), vector) for i in range(3)])
    await store.upsert([record(chunk("b", 0, 1, "old"), vector)])
    await store.upsert([record(chunk("a", i, 2, "new"), vector) for i in range(2)])
    assert await store.delete_stale("a", "new") == 1  # position 2 is gone from the new version
    assert await store.count("a") == await store.count("a", "new") == 2
    assert await store.count("b") == 1
    assert await store.delete_stale("a", "new") == 0


async def test_deleting_a_document_removes_all_its_chunks(store: ChunkStore) -> None:
    vector = unit(1, 0, 0, 0)
    await store.upsert([record(chunk(d, i, 2), vector) for d in ("a", "b") for i in range(2)])
    assert await store.delete_document("a") == 2
    assert await store.delete_document("a") == 0
    assert await store.count("a") == 0
    assert {hit.chunk.document_id for hit in await store.search(search(vector))} == {"b"}


async def test_chunks_outlive_the_store_that_wrote_them(
    open_engine: Callable[[], ChunkStore],
) -> None:
    first = open_engine()
    await first.ensure_collection(DIMENSION, MODEL, ANALYZER_NAME)
    await first.upsert([record(chunk("a", 0), unit(1, 0, 0, 0))])
    await first.close()
    again = open_engine()
    try:
        assert await again.count("a") == 1
        assert (await again.info()).dimension == DIMENSION
    finally:
        await again.close()


def texts(*passages: str) -> list[ChunkRecord]:
    """One single-chunk document per passage (ids d0, d1, ...), all with the same dense vector."""
    return [
        record(replace(chunk(f"d{i}", 0), text=passage), unit(1, 1, 1, 1))
        for i, passage in enumerate(passages)
    ]


async def test_sparse_search_weighs_rare_terms_by_the_collection(store: ChunkStore) -> None:
    await store.upsert(
        texts(
            "Warfarin needs INR checks; it interacts with many foods and drugs, and its "
            "effect varies between patients over weeks of treatment.",
            "The dose is reviewed, and the dose is written down.",
            "Dose of metformin.",
            "Dose of insulin.",
        )
    )
    hits = await store.search(words("warfarin dose"))
    # Without the collection's inverse document frequency the short chunk saying "dose" twice
    # would win; "warfarin" is in one chunk of four, "dose" in three.
    assert [hit.chunk.document_id for hit in hits][:2] == ["d0", "d1"]
    assert {hit.chunk.document_id for hit in hits} == {"d0", "d1", "d2", "d3"}
    assert all(hit.score > 0 for hit in hits)
    assert [h.chunk.document_id for h in await store.search(words("insulins"))] == ["d3"]
    assert await store.search(words("apixaban")) == []


async def test_hybrid_search_fuses_both_rankings(store: ChunkStore) -> None:
    query = unit(1, 0, 0, 0)
    await store.upsert(
        [
            record(replace(chunk("by-meaning", 0), text="Blood thinners."), unit(1, 0.05, 0, 0)),
            record(replace(chunk("by-words", 0), text="Apixaban dosing."), unit(0, 0, 1, 0)),
            record(replace(chunk("both", 0), text="Apixaban in CKD."), unit(1, 0.1, 0, 0)),
            record(replace(chunk("neither", 0), text="Statins."), unit(0, 1, 0, 0)),
        ]
    )
    dense = [h.chunk.document_id for h in await store.search(search(query, limit=2))]
    sparse = [h.chunk.document_id for h in await store.search(words("apixaban"))]
    assert dense == ["by-meaning", "both"]
    assert sparse[0] in {"by-words", "both"}
    hits = await store.search(words("apixaban", query, limit=3))
    found = [hit.chunk.document_id for hit in hits]
    # Second in the dense ranking and first or second in the lexical one: first when fused.
    assert found[0] == "both"
    assert set(found) == {"both", "by-meaning", "by-words"}
    scores = [hit.score for hit in hits]
    assert scores == sorted(scores, reverse=True)
    only_kdigo = SearchFilter(document_ids=("by-words", "neither"))
    assert [
        h.chunk.document_id for h in await store.search(words("apixaban", query, where=only_kdigo))
    ] == ["by-words", "neither"]
    assert [
        h.chunk.document_id for h in await store.search(words("apixaban", where=only_kdigo))
    ] == ["by-words"]


async def test_add_lexical_redoes_every_chunk_in_place(store: ChunkStore) -> None:
    vector = unit(1, 0, 0, 0)
    stale = [
        ChunkRecord(replace(chunk(f"d{i}", 0), text=f"Passage {i} on edoxaban."), vector, lexical)
        for i, lexical in enumerate([ANALYZER.query_vector(["unrelated", "words"])] * 3)
    ]
    await store.upsert(stale)
    assert await store.search(words("edoxaban")) == []
    seen: list[int] = []

    done = await store.add_lexical(
        ANALYZER.chunk_vector, "test-analyzer-v2", batch_size=2, progress=seen.append
    )
    assert done == 3
    assert seen == [2, 3]
    assert await store.lexical_analyzer() == (await store.info()).lexical_analyzer
    assert (await store.info()).lexical_analyzer == "test-analyzer-v2"
    hits = await store.search(words("edoxaban"))
    assert {hit.chunk.document_id for hit in hits} == {"d0", "d1", "d2"}
    # Dense vectors and payloads are untouched.
    [dense] = await store.search(search(vector, limit=1, where=SearchFilter(document_ids=("d1",))))
    assert dense.chunk == stale[1].chunk
    assert dense.score == pytest.approx(1.0)


def test_a_query_carries_what_its_mode_needs() -> None:
    lexical = ANALYZER.query_vector(["dose"])
    with pytest.raises(ValueError, match="vector"):
        SearchQuery(SearchMode.HYBRID, 5, lexical=lexical)
    with pytest.raises(ValueError, match="lexical"):
        SearchQuery(SearchMode.SPARSE, 5, vector=unit(1, 0, 0, 0))
    with pytest.raises(ValueError, match="dense search only"):
        SearchQuery(SearchMode.SPARSE, 5, lexical=lexical, score_threshold=0.5)
