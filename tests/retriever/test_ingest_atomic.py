"""A document is visible to Search completely or not at all (issue 15): a stream that fails in the
middle of a document, or is cancelled, leaves the previous version (or nothing) searchable."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest
from briefing.v1 import common_pb2, retriever_pb2

from services.common.errors import ServiceError
from services.retriever.client import RetrieverClient

CHUNKS = 40
# Far past the model's 256-token window: the Embedder refuses it (INVALID_ARGUMENT).
OVERSIZED = " ".join(f"word{n}" for n in range(3_000))


def _chunk(
    document_id: str, index: int, count: int, version: str, text: str = ""
) -> retriever_pb2.IngestChunk:
    return retriever_pb2.IngestChunk(
        source=common_pb2.Source(document_id=document_id, title="Atomic", chunk_index=index),
        text=text or f"Passage {index} of the {version} version about renal dosing.",
        content_hash=version,
        chunk_count=count,
    )


async def _stream(
    chunks: list[retriever_pb2.IngestChunk], then_wait: asyncio.Event | None = None
) -> AsyncIterator[retriever_pb2.IngestChunk]:
    for chunk in chunks:
        yield chunk
    if then_wait is not None:
        await then_wait.wait()


async def _versions_found(client: RetrieverClient, document_id: str) -> list[str]:
    response = await client.search(
        "renal dosing passage", limit=50, document_ids=[document_id], timeout_s=60
    )
    return sorted({hit.text.split(" the ")[1].split(" version")[0] for hit in response.hits})


async def _hits(client: RetrieverClient, document_id: str) -> int:
    response = await client.search("renal dosing passage", limit=50, document_ids=[document_id])
    return len(response.hits)


@pytest.mark.parametrize("had_a_version", [False, True])
async def test_an_oversized_chunk_after_40_leaves_none_of_them_visible(
    client: RetrieverClient, had_a_version: bool
) -> None:
    document_id = f"atomic-oversized-{had_a_version}"
    if had_a_version:
        await client.ingest(_stream([_chunk(document_id, i, CHUNKS, "old") for i in range(CHUNKS)]))
    new = [_chunk(document_id, i, CHUNKS + 1, "new") for i in range(CHUNKS)]
    new.append(_chunk(document_id, CHUNKS, CHUNKS + 1, "new", text=OVERSIZED))
    with pytest.raises(ServiceError) as raised:
        await client.ingest(_stream(new))
    assert raised.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert document_id in str(raised.value)
    if had_a_version:
        assert await _versions_found(client, document_id) == ["old"]
        assert await _hits(client, document_id) == CHUNKS
    else:
        assert await _hits(client, document_id) == 0
    # The same document sent again whole goes in, replacing whatever was there.
    fixed = [_chunk(document_id, i, CHUNKS, "fixed") for i in range(CHUNKS)]
    response = await client.ingest(_stream(fixed))
    assert response.documents_written == 1
    assert response.chunks_deleted == (CHUNKS if had_a_version else 0)
    assert await _versions_found(client, document_id) == ["fixed"]
    assert await _hits(client, document_id) == CHUNKS


async def test_a_cancelled_stream_leaves_the_previous_version(client: RetrieverClient) -> None:
    document_id = "atomic-cancelled"
    await client.ingest(_stream([_chunk(document_id, i, 3, "old") for i in range(3)]))
    never = asyncio.Event()
    new = [_chunk(document_id, i, CHUNKS, "new") for i in range(CHUNKS - 1)]
    call = asyncio.create_task(client.ingest(_stream(new, then_wait=never)))
    await asyncio.sleep(3)  # the 39 chunks reach the Retriever; the last never comes
    assert await _versions_found(client, document_id) == ["old"]
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert await _versions_found(client, document_id) == ["old"]
    assert await _hits(client, document_id) == 3


async def test_an_absurd_chunk_count_is_refused_before_anything_is_stored(
    client: RetrieverClient,
) -> None:
    with pytest.raises(ServiceError, match="chunk_count is 2,147,483,647, more than") as raised:
        await client.ingest(_stream([_chunk("atomic-absurd", 0, 2**31 - 1, "v")]))
    assert raised.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert await _hits(client, "atomic-absurd") == 0
