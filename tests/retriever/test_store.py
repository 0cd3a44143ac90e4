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
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from functools import partial
from pathlib import Path

import pytest

from services.common.errors import FailedPrecondition
from services.retriever.store.base import (
    ChunkRecord,
    ChunkStore,
    SearchFilter,
    SearchQuery,
    StoredChunk,
    chunk_id,
)
from tests.retriever import store_writer
from tests.retriever.conftest import ROOT
from tests.retriever.store_engines import ENGINES

DIMENSION = 4
MODEL = "a 4-dimensional test model"
UNFILTERED = SearchFilter()


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


def search(
    vector: list[float],
    limit: int = 10,
    score_threshold: float | None = None,
    where: SearchFilter = UNFILTERED,
) -> SearchQuery:
    return SearchQuery("a query", vector, limit, score_threshold, where)


@pytest.fixture(params=sorted(ENGINES))
def open_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], ChunkStore]:
    """Opens the engine under test on this test's folder (again after a close)."""
    return partial(ENGINES[request.param], tmp_path)


@pytest.fixture
async def store(open_engine: Callable[[], ChunkStore]) -> AsyncIterator[ChunkStore]:
    """An open store whose collection exists with ``DIMENSION``-sized vectors."""
    opened = open_engine()
    await opened.ensure_collection(DIMENSION, MODEL)
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
    await store.ensure_collection(DIMENSION, MODEL)  # the same size again is fine
    info = await store.info()
    assert (info.dimension, info.distance) == (DIMENSION, "Dot")
    with pytest.raises(FailedPrecondition) as raised:
        await store.ensure_collection(8, "an 8-dimensional model")
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
    )
    vector = unit(1, 2, 3, 4)
    await store.upsert([ChunkRecord(full, vector)])
    [hit] = await store.search(search(vector))
    assert hit.chunk == full
    assert hit.chunk_id == full.id == chunk_id("kdigo-2022", 3)
    assert hit.score == pytest.approx(1.0)


async def test_hits_are_best_first_and_cut_by_limit_and_threshold(store: ChunkStore) -> None:
    near, middle, far = unit(1, 0.1, 0, 0), unit(1, 1, 0, 0), unit(0, 1, 0, 0)
    await store.upsert(
        [
            ChunkRecord(chunk("far", 0), far),
            ChunkRecord(chunk("near", 0), near),
            ChunkRecord(chunk("middle", 0), middle),
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
            ChunkRecord(replace(chunk("a", 0), issuer="KDIGO", topics=("ckd",)), vector),
            ChunkRecord(replace(chunk("b", 0), issuer="KDIGO", topics=("hf", "lipids")), vector),
            ChunkRecord(replace(chunk("c", 0), issuer="ADA", topics=("diabetes",)), vector),
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
        [ChunkRecord(chunk("a", i, count=3), vector) for i in range(3)]
        + [ChunkRecord(chunk("b", 0), vector)]
    )
    assert await store.count("a") == 3
    assert await store.count("a", "h1") == 3
    assert await store.count("a", "h2") == 0
    assert await store.count("missing") == 0
    info = await store.info()
    assert (info.points_count, info.documents_count) == (4, 2)


async def test_a_chunk_written_again_is_overwritten(store: ChunkStore) -> None:
    await store.upsert([ChunkRecord(chunk("a", 0, content_hash="h1"), unit(1, 0, 0, 0))])
    newer = chunk("a", 0, content_hash="h2")
    await store.upsert([ChunkRecord(newer, unit(0, 1, 0, 0))])
    assert await store.count("a") == 1
    [hit] = await store.search(search(unit(0, 1, 0, 0)))
    assert hit.chunk == newer


async def test_deleting_stale_chunks_keeps_the_current_version(store: ChunkStore) -> None:
    vector = unit(1, 0, 0, 0)
    await store.upsert([ChunkRecord(chunk("a", i, 3, "old"), vector) for i in range(3)])
    await store.upsert([ChunkRecord(chunk("b", 0, 1, "old"), vector)])
    await store.upsert([ChunkRecord(chunk("a", i, 2, "new"), vector) for i in range(2)])
    assert await store.delete_stale("a", "new") == 1  # position 2 is gone from the new version
    assert await store.count("a") == await store.count("a", "new") == 2
    assert await store.count("b") == 1
    assert await store.delete_stale("a", "new") == 0


async def test_deleting_a_document_removes_all_its_chunks(store: ChunkStore) -> None:
    vector = unit(1, 0, 0, 0)
    await store.upsert([ChunkRecord(chunk(d, i, 2), vector) for d in ("a", "b") for i in range(2)])
    assert await store.delete_document("a") == 2
    assert await store.delete_document("a") == 0
    assert await store.count("a") == 0
    assert {hit.chunk.document_id for hit in await store.search(search(vector))} == {"b"}


async def test_every_record_comes_back_once_with_its_vector(store: ChunkStore) -> None:
    written = {
        chunk("a", i, 120).id: ChunkRecord(chunk("a", i, 120), unit(1, i, 0, 1)) for i in range(120)
    } | {chunk("b", 0).id: ChunkRecord(replace(chunk("b", 0), topics=("t",)), unit(0, 0, 1, 0))}
    await store.upsert(list(written.values()))
    batches = [batch async for batch in store.records(50)]
    assert max(len(batch) for batch in batches) == 50
    read = [record for batch in batches for record in batch]
    assert sorted(record.chunk.id for record in read) == sorted(written)
    for record in read:
        assert record.chunk == written[record.chunk.id].chunk
        assert list(record.vector) == pytest.approx(written[record.chunk.id].vector, abs=1e-6)


async def test_no_collection_has_no_records(open_engine: Callable[[], ChunkStore]) -> None:
    store = open_engine()
    try:
        assert [batch async for batch in store.records(10)] == []
    finally:
        await store.close()


async def test_chunks_outlive_the_store_that_wrote_them(
    open_engine: Callable[[], ChunkStore],
) -> None:
    first = open_engine()
    await first.ensure_collection(DIMENSION, MODEL)
    await first.upsert(
        [ChunkRecord(chunk("a", 0), unit(1, 0, 0, 0)), ChunkRecord(chunk("b", 0), unit(0, 1, 0, 0))]
    )
    await first.delete_document("b")
    await first.close()
    again = open_engine()
    try:
        await again.ensure_collection(DIMENSION, MODEL)
        assert (await again.count("a"), await again.count("b")) == (1, 0)
        info = await again.info()
        assert (info.points_count, info.dimension, info.documents_count) == (1, DIMENSION, 1)
        [hit] = await again.search(search(unit(1, 0, 0, 0)))
        assert hit.chunk == chunk("a", 0)
        with pytest.raises(FailedPrecondition, match="4-dimensional"):
            await again.ensure_collection(8, "an 8-dimensional model")
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
        await store_writer.write_everything(store)  # the re-run, as after a crash
        info = await store.info()
        assert info.points_count == store_writer.TOTAL_CHUNKS
        assert info.documents_count == store_writer.DOCUMENTS
        ids = [record.chunk.id async for batch in store.records(100) for record in batch]
        assert len(ids) == len(set(ids)) == store_writer.TOTAL_CHUNKS
        assert set(ids) == store_writer.expected_ids()
    finally:
        await store.close()
