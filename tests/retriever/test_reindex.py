"""A collection made before lexical vectors: served in dense mode, saying so, until
``python -m services.retriever.reindex`` adds the sparse vectors in place."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from pathlib import Path

import grpc
import pytest
from briefing.v1 import retriever_pb2
from qdrant_client import AsyncQdrantClient, models

from services.common.errors import FailedPrecondition
from services.embedder.client import EmbedderClient
from services.launcher import ServiceProcess
from services.retriever.client import RetrieverClient
from services.retriever.lexical import ANALYZER
from tests.retriever.conftest import OFFLINE, ROOT, CliRun, start_retriever

COLLECTION = "clinical_guidelines"
# Chunks as the code before lexical vectors stored them: the context line at the head of the
# text, no separate context field.
LEGACY_CHUNKS = (
    ("hf-gdmt", "Heart failure > Additional therapies", "Ivabradine lowers a resting heart rate."),
    ("hyperkalemia", "Hyperkalemia > Binders", "Patiromer binds potassium in the colon."),
    ("diabetes-ckd", "Diabetes in CKD > Metformin", "Metformin dose is halved below 45."),
)
NAMESPACE = uuid.UUID("6f1d5b1e-52f7-4f4b-9a55-8d3f0f3e2c1a")


async def make_legacy_collection(folder: Path, embedder: ServiceProcess) -> None:
    """The collection the Retriever made before this change: one unnamed dense vector, the
    same create, payload and upsert calls, and nothing else."""
    texts = [f"{context}\n{passage}" for _, context, passage in LEGACY_CHUNKS]
    async with EmbedderClient(embedder.address) as client:
        vectors = await client.embed(texts, "document")
    qdrant = AsyncQdrantClient(path=str(folder))
    try:
        await qdrant.create_collection(
            COLLECTION,
            vectors_config=models.VectorParams(size=len(vectors[0]), distance=models.Distance.DOT),
        )
        await qdrant.upsert(
            COLLECTION,
            points=[
                models.PointStruct(
                    id=str(uuid.uuid5(NAMESPACE, f"{document_id}:0")),
                    vector=list(vector),
                    payload={
                        "document_id": document_id,
                        "chunk_index": 0,
                        "title": context.split(" > ")[0],
                        "text": text,
                        "content_hash": "old",
                        "chunk_count": 1,
                        "section_path": context.split(" > "),
                        "issuer": "",
                        "year": 0,
                        "url": "",
                        "topics": [],
                        "guideline": "",
                    },
                )
                for (document_id, context, _), text, vector in zip(
                    LEGACY_CHUNKS, texts, vectors, strict=True
                )
            ],
        )
    finally:
        await qdrant.close()


async def run_reindex(folder: Path) -> CliRun:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.retriever.reindex",
        cwd=ROOT,
        env={**os.environ, **OFFLINE, "RETRIEVER_QDRANT_PATH": str(folder)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 120)
    return CliRun(process.returncode or 0, stdout.decode(), stderr.decode())


async def test_a_legacy_collection_serves_dense_until_reindexed_in_place(
    embedder: ServiceProcess, tmp_path: Path
) -> None:
    await make_legacy_collection(tmp_path, embedder)
    query = "which drug binds potassium"

    retriever = await start_retriever(tmp_path, embedder.address)
    try:
        async with RetrieverClient(retriever.address) as client:
            info = await client.collection_info()
            assert list(info.search_modes) == [retriever_pb2.SEARCH_MODE_DENSE]
            assert info.lexical_analyzer == ""
            before = await client.search(query, limit=3)
            assert before.mode == retriever_pb2.SEARCH_MODE_DENSE
            assert before.hits[0].source.document_id == "hyperkalemia"
            with pytest.raises(FailedPrecondition, match=r"services\.retriever\.reindex") as raised:
                await client.search(query, mode=retriever_pb2.SEARCH_MODE_HYBRID)
            assert raised.value.code == grpc.StatusCode.FAILED_PRECONDITION
    finally:
        await retriever.stop()

    done = await run_reindex(tmp_path)
    assert done.code == 0, done.stderr
    assert f"3 chunks have lexical vectors made by {ANALYZER}" in done.stdout
    again = await run_reindex(tmp_path)
    assert again.code == 0, again.stderr
    assert "nothing to do" in again.stdout

    retriever = await start_retriever(tmp_path, embedder.address)
    try:
        async with RetrieverClient(retriever.address) as client:
            info = await client.collection_info()
            assert len(info.search_modes) == 3
            assert info.lexical_analyzer == ANALYZER
            assert info.points_count == 3
            dense = await client.search(query, limit=3, mode=retriever_pb2.SEARCH_MODE_DENSE)
            # The dense vectors and payloads were left as they were.
            assert [(h.chunk_id, h.text) for h in dense.hits] == [
                (h.chunk_id, h.text) for h in before.hits
            ]
            assert [h.score for h in dense.hits] == pytest.approx([h.score for h in before.hits])
            sparse = await client.search("patiromer", mode=retriever_pb2.SEARCH_MODE_SPARSE)
            assert [h.source.document_id for h in sparse.hits] == ["hyperkalemia"]
            # The context line at the head of a legacy text is matched lexically too.
            titled = await client.search("binders", mode=retriever_pb2.SEARCH_MODE_SPARSE)
            assert [h.source.document_id for h in titled.hits] == ["hyperkalemia"]
            assert (await client.search(query)).mode == retriever_pb2.SEARCH_MODE_HYBRID
    finally:
        await retriever.stop()


async def test_reindexing_a_store_without_the_collection_does_nothing(tmp_path: Path) -> None:
    run = await run_reindex(tmp_path)
    assert run.code == 0, run.stderr
    assert "does not exist: nothing to re-index" in run.stdout
