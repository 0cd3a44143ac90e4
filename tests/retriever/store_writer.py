"""A process that writes documents into a store and gets killed halfway:
``python -m tests.retriever.store_writer ENGINE FOLDER``.

It writes the first half of the documents, prints :data:`HALFWAY`, then goes on writing the
rest one document at a time, as the Ingest call does (staged, in two writes, then committed),
slowly enough that the SIGKILL the test sends lands in the middle of one.
The test then re-runs the whole ingestion itself (:func:`write_everything`).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from services.retriever.store.base import ChunkRecord, ChunkStore, SparseVector, StoredChunk
from tests.retriever.store_engines import ENGINES

DOCUMENTS = 24
CHUNKS_PER_DOCUMENT = 5
TOTAL_CHUNKS = DOCUMENTS * CHUNKS_PER_DOCUMENT
HALFWAY_DOCUMENTS = DOCUMENTS // 2
HALFWAY_CHUNKS = HALFWAY_DOCUMENTS * CHUNKS_PER_DOCUMENT
HALFWAY = "halfway"
DIMENSION = 4
ANALYZER = "the writer's analyzer"


def document(number: int) -> list[ChunkRecord]:
    """The chunks of document ``number``, each with a unit vector of its own."""
    document_id = f"doc-{number:03d}"
    return [
        ChunkRecord(
            StoredChunk(
                document_id=document_id,
                chunk_index=index,
                title=f"Title {number}",
                text=f"chunk {index} of {document_id}",
                content_hash="v1",
                chunk_count=CHUNKS_PER_DOCUMENT,
            ),
            [1.0, 0.0, 0.0, 0.0] if index % 2 else [0.0, 1.0, 0.0, 0.0],
            SparseVector((number, 1000 + index), (1.0, 0.5)),
        )
        for index in range(CHUNKS_PER_DOCUMENT)
    ]


def expected_ids() -> set[str]:
    return {record.chunk.id for number in range(DOCUMENTS) for record in document(number)}


async def write_everything(store: ChunkStore) -> None:
    """The whole ingestion: every document not stored whole, as the Ingest call writes it
    (staged, then committed)."""
    await store.ensure_collection(DIMENSION, "the writer's model", ANALYZER)
    for number in range(DOCUMENTS):
        records = document(number)
        document_id = records[0].chunk.document_id
        if await store.count(document_id, "v1") == CHUNKS_PER_DOCUMENT:
            continue
        await store.upsert(records, staged=True)
        await store.commit(document_id, "v1")


async def write_until_killed(engine: str, folder: Path) -> None:
    store = ENGINES[engine](folder)
    await store.ensure_collection(DIMENSION, "the writer's model", ANALYZER)
    for number in range(DOCUMENTS):
        records = document(number)
        slow = number >= HALFWAY_DOCUMENTS
        for half in (records[:2], records[2:]):
            await store.upsert(half, staged=True)
            if slow:
                await asyncio.sleep(0.05)
        await store.commit(records[0].chunk.document_id, "v1")
        if number + 1 == HALFWAY_DOCUMENTS:
            print(HALFWAY, flush=True)
        if slow:
            await asyncio.sleep(0.05)
    await store.close()


if __name__ == "__main__":
    asyncio.run(write_until_killed(sys.argv[1], Path(sys.argv[2])))
