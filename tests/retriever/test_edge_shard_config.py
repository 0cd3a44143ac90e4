"""How the edge store lays out a shard: dense vectors also as int8 (scalar quantization), rescored
with the originals; payloads in RAM; the document and version keyword indexes memory-mapped. New
shards are made so, a shard made before is converted when it opens, keeping every point, and the
int8 vectors are found to read back into the page cache when a shard opens."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import qdrant_edge as edge

from services.retriever.store import edge_engine
from services.retriever.store.base import (
    ChunkRecord,
    SearchMode,
    SearchQuery,
    SparseVector,
    StoredChunk,
)
from services.retriever.store.edge_engine import EdgeEngine
from tests.retriever.store_engines import open_edge

COLLECTION = Path("edge") / "clinical_guidelines"
DIMENSION = 32
POINTS = 300


def records(points: int = POINTS, dimension: int = DIMENSION) -> list[ChunkRecord]:
    vectors = np.random.default_rng(7).standard_normal((points, dimension))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return [
        ChunkRecord(
            StoredChunk(
                document_id=f"doc-{index // 10}",
                chunk_index=index % 10,
                title="Title",
                text=f"passage {index}",
                content_hash="v1",
                chunk_count=10,
            ),
            vector.tolist(),
            SparseVector((index,), (1.0,)),
        )
        for index, vector in enumerate(vectors)
    ]


def persisted(folder: Path) -> dict[str, object]:
    config: dict[str, object] = json.loads(
        (folder / COLLECTION / edge_engine.CONFIG_FILE).read_text()
    )
    return config


def mapped_keywords(folder: Path) -> set[str]:
    """The keyword indexes the shard keeps memory-mapped (the store must be closed)."""
    shard = edge.EdgeShard.load(str(folder / COLLECTION))
    try:
        return {
            key
            for key, index in shard.info().payload_schema.items()
            if getattr(index.params, "memory", None) == edge.Memory.Cold
        }
    finally:
        shard.close()


async def test_a_new_shard_is_laid_out_so(tmp_path: Path) -> None:
    store = open_edge(tmp_path)
    try:
        await store.ensure_collection(DIMENSION, "a model", "an analyzer")
    finally:
        await store.close()
    config = persisted(tmp_path)
    assert config["quantization_config"] == {
        "scalar": {"type": "int8", "quantile": 0.99, "memory": "cold"}
    }
    assert config["payload_memory"] == "cached"
    assert mapped_keywords(tmp_path) == {"document_id", "content_hash"}


async def test_a_shard_made_before_is_converted_and_keeps_its_points(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    written = records()
    with monkeypatch.context() as before:  # the engine as it was: no quantization, payload on disk
        before.setattr(edge_engine, "QUANTIZATION", None)
        before.setattr(edge_engine, "PAYLOAD_MEMORY", None)
        before.setattr(edge_engine, "MAPPED_KEYWORDS", ())
        (tmp_path / COLLECTION).mkdir(parents=True)
        old = EdgeEngine(tmp_path / COLLECTION)
        old.create(DIMENSION)
        old.upsert(written, staged=False)
        old.close()
    assert "quantization_config" not in persisted(tmp_path)
    assert persisted(tmp_path).get("payload_memory") != "cached"
    assert mapped_keywords(tmp_path) == set()

    store = open_edge(tmp_path)
    try:
        assert (await store.info()).points_count == POINTS
        assert await store.count("doc-3") == 10  # found through the converted index
        assert await store.delete_document("doc-3") == 10
        written = [record for record in written if record.chunk.document_id != "doc-3"]
        for record in written[:: POINTS // 10]:
            [best, *_] = await store.search(
                SearchQuery(SearchMode.DENSE, 5, vector=list(record.vector))
            )
            assert best.chunk_id == record.chunk.id
            assert best.score == pytest.approx(1.0, abs=1e-4)  # rescored with the original
    finally:
        await store.close()
    assert "quantization_config" in persisted(tmp_path)
    assert persisted(tmp_path)["payload_memory"] == "cached"
    assert mapped_keywords(tmp_path) == {"document_id", "content_hash"}


def test_the_int8_vectors_of_an_indexed_shard_are_found_to_prefetch(tmp_path: Path) -> None:
    # Enough 384-dimensional points for qdrant-edge to index and quantize a segment (about
    # 10 MB of vectors): smaller shards are searched by full scan and have no int8 vectors.
    points, dimension = 7_000, 384
    chunks = records(points, dimension)
    path = tmp_path / COLLECTION
    path.mkdir(parents=True)
    engine = EdgeEngine(path)
    engine.create(dimension)
    for start in range(0, points, 1_000):
        engine.upsert(chunks[start : start + 1_000], staged=False)
    assert engine.optimize() is not None
    engine.close()
    assert edge_engine.prefetch_int8_vectors(path) >= points * dimension
