"""The chunk store through its interface, for every engine (:mod:`.store_engines`: edge, Qdrant
local mode, and the Qdrant server code path over local mode).

Each engine is opened on an empty temporary folder. A new engine joins by adding its opener to
``ENGINES``; every test here then runs against it too, including a crash (SIGKILL) in the middle
of writing, followed by a re-run.
"""

from __future__ import annotations

import asyncio
import math
import signal
import statistics
import sys
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
    Fusion,
    SearchFilter,
    SearchMode,
    SearchQuery,
    StoredChunk,
    chunk_id,
)
from services.retriever.store.layout import RRF_K
from tests.retriever import store_writer
from tests.retriever.conftest import ROOT
from tests.retriever.store_engines import ENGINES

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
    assert hit.chunk_id == full.id == chunk_id("kdigo-2022", 3, "h1")
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
    await store.upsert([record(chunk("a", 0), unit(1, 0, 0, 0))])
    again = replace(chunk("a", 0), title="Retitled")
    await store.upsert([record(again, unit(0, 1, 0, 0))])
    assert await store.count("a") == 1
    [hit] = await store.search(search(unit(0, 1, 0, 0)))
    assert hit.chunk == again


async def documents_found(store: ChunkStore) -> list[tuple[str, str, int]]:
    """(document, version, chunk index) of every chunk a search can find, sorted."""
    hits = await store.search(search(unit(1, 0, 0, 0), 50))
    return sorted((h.chunk.document_id, h.chunk.content_hash, h.chunk.chunk_index) for h in hits)


async def test_a_staged_version_is_hidden_until_committed(store: ChunkStore) -> None:
    vector = unit(1, 0, 0, 0)
    await store.upsert([record(chunk("a", i, 3, "old"), vector) for i in range(3)])
    await store.upsert([record(chunk("b", 0, 1, "old"), vector)])
    await store.upsert([record(chunk("a", i, 2, "new"), vector) for i in range(2)], staged=True)
    old = [("a", "old", 0), ("a", "old", 1), ("a", "old", 2), ("b", "old", 0)]
    assert await documents_found(store) == old
    assert (await store.count("a"), await store.count("a", staged=True)) == (3, 2)
    assert await store.count("a", "new") == 0
    info = await store.info()
    assert (info.points_count, info.documents_count) == (4, 2)
    assert sum(len(batch) for batch in [b async for b in store.records(10)]) == 4

    assert await store.commit("a", "new") == 3  # the whole old version goes
    assert await documents_found(store) == [("a", "new", 0), ("a", "new", 1), ("b", "old", 0)]
    assert await store.count("a") == await store.count("a", "new") == 2
    assert await store.count("a", staged=True) == 0
    assert (await store.info()).points_count == 3


async def test_searches_during_a_commit_see_only_the_new_version(store: ChunkStore) -> None:
    vector = unit(1, 0, 0, 0)
    await store.upsert([record(chunk("a", i, 2, "old"), vector) for i in range(2)])
    await store.upsert([record(chunk("a", i, 2, "new"), vector) for i in range(2)], staged=True)
    seen: list[list[tuple[str, str, int]]] = []
    publish = store._publish

    async def publish_then_search(document_id: str, content_hash: str) -> None:
        seen.append(await documents_found(store))  # before the engine changed anything
        await publish(document_id, content_hash)
        seen.append(await documents_found(store))  # published, old version not yet deleted

    store._publish = publish_then_search  # type: ignore[method-assign]
    await store.commit("a", "new")
    new = [("a", "new", 0), ("a", "new", 1)]
    assert seen == [new, new]
    assert await documents_found(store) == new


async def test_discarding_staged_chunks_leaves_the_published_version(store: ChunkStore) -> None:
    vector = unit(1, 0, 0, 0)
    await store.upsert([record(chunk("a", 0, 1, "old"), vector)])
    await store.upsert([record(chunk("a", i, 3, "new"), vector) for i in range(2)], staged=True)
    await store.upsert([record(chunk("a", 0, 1, "other"), vector)], staged=True)
    assert await store.discard_staged("a", content_hash="other") == 1
    assert await store.discard_staged("a") == 2
    assert await store.discard_staged("a") == 0
    assert await documents_found(store) == [("a", "old", 0)]


async def test_recovery_undoes_unpublished_versions_and_finishes_started_commits(
    store: ChunkStore,
) -> None:
    vector = unit(1, 0, 0, 0)
    # a: a version whose stream died while it was written (nothing published).
    await store.upsert([record(chunk("a", 0, 1, "v1"), vector)])
    await store.upsert([record(chunk("a", 0, 2, "v2"), vector)], staged=True)
    # b: a process killed in the middle of its commit (one chunk of v2 already published).
    await store.upsert([record(chunk("b", i, 2, "v1"), vector) for i in range(2)])
    await store.upsert([record(chunk("b", 0, 2, "v2"), vector)])
    await store.upsert([record(chunk("b", 1, 2, "v2"), vector)], staged=True)
    recovered = await store.recover_staged()
    assert (recovered.published, recovered.discarded) == (1, 1)
    assert await documents_found(store) == [("a", "v1", 0), ("b", "v2", 0), ("b", "v2", 1)]
    assert await store.count("a", staged=True) == await store.count("b", staged=True) == 0


async def test_deleting_a_document_removes_all_its_chunks(store: ChunkStore) -> None:
    vector = unit(1, 0, 0, 0)
    await store.upsert([record(chunk(d, i, 2), vector) for d in ("a", "b") for i in range(2)])
    assert await store.delete_document("a") == 2
    assert await store.delete_document("a") == 0
    assert await store.count("a") == 0
    assert {hit.chunk.document_id for hit in await store.search(search(vector))} == {"b"}


async def test_every_record_comes_back_once_with_its_vectors(store: ChunkStore) -> None:
    written = {
        chunk("a", i, 120).id: record(chunk("a", i, 120), unit(1, i, 0, 1)) for i in range(120)
    } | {chunk("b", 0).id: record(replace(chunk("b", 0), topics=("t",)), unit(0, 0, 1, 0))}
    await store.upsert(list(written.values()))
    batches = [batch async for batch in store.records(50)]
    assert max(len(batch) for batch in batches) == 50
    read = [stored for batch in batches for stored in batch]
    assert sorted(stored.chunk.id for stored in read) == sorted(written)
    for stored in read:
        expected = written[stored.chunk.id]
        assert stored.chunk == expected.chunk
        assert list(stored.vector) == pytest.approx(expected.vector, abs=1e-6)
        assert stored.lexical.indices == expected.lexical.indices
        assert stored.lexical.values == pytest.approx(expected.lexical.values, rel=1e-5)


async def test_no_collection_has_no_records(open_engine: Callable[[], ChunkStore]) -> None:
    store = open_engine()
    try:
        assert [batch async for batch in store.records(10)] == []
        assert await store.is_healthy()
    finally:
        await store.close()


async def test_chunks_outlive_the_store_that_wrote_them(
    open_engine: Callable[[], ChunkStore],
) -> None:
    first = open_engine()
    await first.ensure_collection(DIMENSION, MODEL, ANALYZER_NAME)
    await first.upsert(
        [
            record(replace(chunk("a", 0), text="Apixaban dosing."), unit(1, 0, 0, 0)),
            record(chunk("b", 0), unit(0, 1, 0, 0)),
        ]
    )
    await first.delete_document("b")
    await first.close()
    again = open_engine()
    try:
        await again.ensure_collection(DIMENSION, MODEL, "another-analyzer")
        assert (await again.count("a"), await again.count("b")) == (1, 0)
        info = await again.info()
        assert (info.points_count, info.dimension, info.documents_count) == (1, DIMENSION, 1)
        assert info.lexical_analyzer == await again.lexical_analyzer() == ANALYZER_NAME
        [hit] = await again.search(search(unit(1, 0, 0, 0)))
        assert hit.chunk.document_id == "a"
        assert [h.chunk.document_id for h in await again.search(words("apixaban"))] == ["a"]
        with pytest.raises(FailedPrecondition, match="4-dimensional"):
            await again.ensure_collection(8, "an 8-dimensional model", ANALYZER_NAME)
    finally:
        await again.close()


@pytest.mark.parametrize("engine", sorted(ENGINES))
async def test_a_crash_mid_ingestion_then_a_rerun_leaves_every_chunk_once(
    engine: str, tmp_path: Path
) -> None:
    writer = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.retriever.store_writer",
        engine,
        str(tmp_path),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    assert writer.stdout is not None
    line = await asyncio.wait_for(writer.stdout.readline(), 60)
    assert line.decode().strip() == store_writer.HALFWAY, "the writer never got halfway"
    writer.send_signal(signal.SIGKILL)
    assert await writer.wait() == -signal.SIGKILL

    store = ENGINES[engine](tmp_path)
    try:
        crashed = (await store.info()).points_count
        assert store_writer.HALFWAY_CHUNKS <= crashed < store_writer.TOTAL_CHUNKS
        assert crashed % store_writer.CHUNKS_PER_DOCUMENT == 0  # no document half visible
        await store_writer.write_everything(store)  # the re-run, as after a crash
        info = await store.info()
        assert info.points_count == store_writer.TOTAL_CHUNKS
        assert info.documents_count == store_writer.DOCUMENTS
        ids = [stored.chunk.id async for batch in store.records(100) for stored in batch]
        assert len(ids) == len(set(ids)) == store_writer.TOTAL_CHUNKS
        assert set(ids) == store_writer.expected_ids()
    finally:
        await store.close()


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
            # Last by meaning, below "neither": no tie for an engine to break either way.
            record(replace(chunk("by-words", 0), text="Apixaban dosing."), unit(-0.1, 0, 1, 0)),
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


def reciprocal_rank(*sides: dict[str, float]) -> dict[str, float]:
    """Reciprocal-rank fusion of rankings given as scores by document: 1 / (k + rank) each, the
    first rank being 0 (as every engine here counts)."""
    fused: dict[str, float] = {}
    for side in sides:
        for rank, document in enumerate(sorted(side, key=side.__getitem__, reverse=True)):
            fused[document] = fused.get(document, 0.0) + 1.0 / (RRF_K + rank)
    return fused


def score_distributions(*sides: dict[str, float]) -> dict[str, float]:
    """Distribution-based score fusion: each side's scores mapped from mean -/+ three (sample)
    standard deviations to 0..1, then added."""
    fused: dict[str, float] = {}
    for side in sides:
        mean, spread = statistics.mean(side.values()), 3 * statistics.stdev(side.values())
        for document, value in side.items():
            normalised = (value - mean + spread) / (2 * spread)
            fused[document] = fused.get(document, 0.0) + normalised
    return fused


FUSED = {Fusion.RRF: reciprocal_rank, Fusion.DBSF: score_distributions}


@pytest.mark.parametrize("fusion", sorted(Fusion))
async def test_hybrid_search_fuses_as_asked(store: ChunkStore, fusion: Fusion) -> None:
    query = unit(1, 0, 0, 0)
    await store.upsert(
        [
            # First by meaning, with no word of the query.
            record(replace(chunk("meaning", 0), text="Blood thinners."), query),
            # Second by meaning and second by words (a longer passage).
            record(
                replace(chunk("long", 0), text="Apixaban in chronic kidney disease on dialysis."),
                unit(1, 8, 0, 0),
            ),
            # Last by meaning, first by words.
            record(replace(chunk("short", 0), text="Apixaban."), unit(-1, 2, 0, 0)),
            record(replace(chunk("neither", 0), text="Statins."), unit(-1, 8, 0, 0)),
        ]
    )
    dense = {h.chunk.document_id: h.score for h in await store.search(search(query))}
    lexical = {h.chunk.document_id: h.score for h in await store.search(words("apixaban"))}
    assert list(dense) == ["meaning", "long", "neither", "short"]
    assert list(lexical) == ["short", "long"]
    hits = await store.search(replace(words("apixaban", query), fusion=fusion))
    expected = FUSED[fusion](dense, lexical)
    assert {hit.chunk.document_id: hit.score for hit in hits} == pytest.approx(expected)
    order = sorted(expected, key=expected.__getitem__, reverse=True)
    assert [hit.chunk.document_id for hit in hits] == order
    # By rank, second on both sides wins; by score, how far "short" leads by words outweighs
    # how far it trails by meaning.
    assert order[0] == {Fusion.RRF: "long", Fusion.DBSF: "short"}[fusion]


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
