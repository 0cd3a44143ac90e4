"""The edge store keeps its dense vectors also as int8 (scalar quantization) and rescores with the
originals: new shards are made so, and a shard made before is given it when it opens, keeping
every point."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

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


def records() -> list[ChunkRecord]:
    vectors = np.random.default_rng(7).standard_normal((POINTS, DIMENSION))
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


def persisted_quantization(folder: Path) -> object:
    config = json.loads((folder / COLLECTION / edge_engine.CONFIG_FILE).read_text())
    return config.get("quantization_config")


async def test_a_new_shard_is_quantized(tmp_path: Path) -> None:
    store = open_edge(tmp_path)
    try:
        await store.ensure_collection(DIMENSION, "a model", "an analyzer")
    finally:
        await store.close()
    assert persisted_quantization(tmp_path) == {
        "scalar": {"type": "int8", "quantile": 0.99, "always_ram": True}
    }


async def test_a_shard_made_before_quantization_gets_it_and_keeps_its_points(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    written = records()
    with monkeypatch.context() as before:  # the engine as it was: no quantization
        before.setattr(edge_engine, "QUANTIZATION", None)
        (tmp_path / COLLECTION).mkdir(parents=True)
        old = EdgeEngine(tmp_path / COLLECTION)
        old.create(DIMENSION)
        old.upsert(written, staged=False)
        old.close()
    assert persisted_quantization(tmp_path) is None

    store = open_edge(tmp_path)
    try:
        assert (await store.info()).points_count == POINTS
        for record in written[:: POINTS // 10]:
            [best, *_] = await store.search(
                SearchQuery(SearchMode.DENSE, 5, vector=list(record.vector))
            )
            assert best.chunk_id == record.chunk.id
            assert best.score == pytest.approx(1.0, abs=1e-4)  # rescored with the original
    finally:
        await store.close()
    assert persisted_quantization(tmp_path) is not None
