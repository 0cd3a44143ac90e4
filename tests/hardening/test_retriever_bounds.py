"""The Retriever refuses oversized requests before doing their work, and stores source fields safe
to show: through the real services of the hardening stack."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import grpc
from briefing.v1 import common_pb2, retriever_pb2, retriever_pb2_grpc

from tests.hardening.conftest import Stack, assert_serving


def _chunk(
    document_id: str, index: int, count: int, **source: object
) -> retriever_pb2.IngestRequest:
    return retriever_pb2.IngestRequest(
        chunk=retriever_pb2.IngestChunk(
            source=common_pb2.Source(
                document_id=document_id,
                title=str(source.pop("title", "Zebra-pox handling")),
                chunk_index=index,
                **source,  # type: ignore[arg-type]
            ),
            text=f"Zebra-pox okapi keepers passage {index} of {document_id}.",
            content_hash=f"hash-{document_id}",
            chunk_count=count,
        )
    )


async def test_a_filter_of_100000_topics_is_refused_at_once(stack: Stack) -> None:
    request = retriever_pb2.SearchRequest(
        query="zebra-pox",
        filter=retriever_pb2.SearchFilter(topics=[f"t{i}" for i in range(100_000)]),
    )
    async with grpc.aio.insecure_channel(stack.retriever) as channel:
        search = retriever_pb2_grpc.RetrieverStub(channel).Search(request, timeout=60)
        health = asyncio.create_task(assert_serving(stack.retriever))
        try:
            await search
        except grpc.aio.AioRpcError as error:
            refused = error
        await health
    assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "filter.topics has 100,000 values" in str(refused.details())
    assert "RETRIEVER_MAX_FILTER_VALUES" in str(refused.details())


async def test_a_filter_value_over_its_length_is_refused(stack: Stack) -> None:
    request = retriever_pb2.SearchRequest(
        query="zebra-pox", filter=retriever_pb2.SearchFilter(issuers=["x" * 257])
    )
    async with grpc.aio.insecure_channel(stack.retriever) as channel:
        try:
            await retriever_pb2_grpc.RetrieverStub(channel).Search(request, timeout=60)
        except grpc.aio.AioRpcError as error:
            refused = error
    assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "RETRIEVER_MAX_KEYWORD_CHARS" in str(refused.details())


async def test_an_absurd_chunk_count_is_refused_at_the_first_chunk(stack: Stack) -> None:
    """The stream stays open after its first chunk: the refusal cannot have waited for its end."""
    never = asyncio.Event()

    async def stream() -> AsyncIterator[retriever_pb2.IngestRequest]:
        yield _chunk("absurd-count", 0, 2**31 - 1)
        await never.wait()

    started = time.monotonic()
    async with grpc.aio.insecure_channel(stack.retriever) as channel:
        try:
            await retriever_pb2_grpc.RetrieverStub(channel).Ingest(stream(), timeout=120)
        except grpc.aio.AioRpcError as error:
            refused = error
    assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT, refused.details()
    assert "chunk_count is 2,147,483,647" in str(refused.details())
    assert "RETRIEVER_MAX_CHUNKS_PER_DOCUMENT" in str(refused.details())
    assert time.monotonic() - started < 120


async def test_a_stream_over_its_chunk_limit_is_refused(stack: Stack) -> None:
    # RETRIEVER_MAX_CHUNKS_PER_STREAM is 50 in this stack.
    async def stream() -> AsyncIterator[retriever_pb2.IngestRequest]:
        for index in range(51):
            yield _chunk(f"many-{index}", 0, 1)

    async with grpc.aio.insecure_channel(stack.retriever) as channel:
        try:
            await retriever_pb2_grpc.RetrieverStub(channel).Ingest(stream(), timeout=300)
        except grpc.aio.AioRpcError as error:
            refused = error
    assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "RETRIEVER_MAX_CHUNKS_PER_STREAM" in str(refused.details())


async def test_a_passage_over_its_length_is_refused(stack: Stack) -> None:
    request = _chunk("long-passage", 0, 1)
    request.chunk.text = "word " * 5_000  # 25,000 characters
    async with grpc.aio.insecure_channel(stack.retriever) as channel:
        try:
            await retriever_pb2_grpc.RetrieverStub(channel).Ingest(iter([request]), timeout=60)
        except grpc.aio.AioRpcError as error:
            refused = error
    assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = str(refused.details())
    assert "text has 25,000 characters" in details and "RETRIEVER_MAX_CHUNK_CHARS" in details


async def test_source_fields_come_back_safe_to_show(stack: Stack) -> None:
    document_id = f"hostile-{uuid.uuid4().hex[:8]}"
    request = _chunk(
        document_id,
        0,
        1,
        title="Zebra\x1b[2J-pox\r\nForged line\u202e",
        url="javascript:alert(document.cookie)",
        issuer="Okapi\x07 Society",
        section_path=["Zebra-pox", "Dose\x00s"],
    )
    async with grpc.aio.insecure_channel(stack.retriever) as channel:
        stub = retriever_pb2_grpc.RetrieverStub(channel)
        ingested = await stub.Ingest(iter([request]), timeout=300)
        assert ingested.chunks_upserted == 1
        found = await stub.Search(
            retriever_pb2.SearchRequest(
                query="zebra-pox okapi keepers",
                filter=retriever_pb2.SearchFilter(document_ids=[document_id]),
            ),
            timeout=120,
        )
    [hit] = found.hits
    assert hit.source.url == ""
    assert hit.source.title == "Zebra-pox Forged line"
    assert hit.source.issuer == "Okapi Society"
    assert list(hit.source.section_path) == ["Zebra-pox", "Doses"]


async def test_an_http_url_is_kept(stack: Stack) -> None:
    document_id = f"plain-{uuid.uuid4().hex[:8]}"
    url = "https://example.org/guidelines/zebra-pox?v=2"
    async with grpc.aio.insecure_channel(stack.retriever) as channel:
        stub = retriever_pb2_grpc.RetrieverStub(channel)
        await stub.Ingest(iter([_chunk(document_id, 0, 1, url=url)]), timeout=300)
        found = await stub.Search(
            retriever_pb2.SearchRequest(
                query="zebra-pox", filter=retriever_pb2.SearchFilter(document_ids=[document_id])
            ),
            timeout=120,
        )
    assert [hit.source.url for hit in found.hits] == [url]
