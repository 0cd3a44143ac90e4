"""Conversions between the contract's messages and the store's own types."""

from __future__ import annotations

from briefing.v1 import common_pb2, retriever_pb2

from services.retriever.store.base import Hit, SearchFilter, StoredChunk


def stored_chunk(message: retriever_pb2.IngestChunk) -> StoredChunk:
    """The chunk to store for one ingested chunk: its text, source and document version."""
    source = message.source
    return StoredChunk(
        document_id=source.document_id,
        chunk_index=source.chunk_index,
        title=source.title,
        text=message.text,
        content_hash=message.content_hash,
        chunk_count=message.chunk_count,
        section_path=tuple(source.section_path),
        issuer=source.issuer,
        year=source.year,
        url=source.url,
        topics=tuple(source.topics),
        guideline=source.guideline,
    )


def search_hit(hit: Hit) -> retriever_pb2.SearchHit:
    """The contract's hit: the chunk's id, score, text and full source."""
    chunk = hit.chunk
    source = common_pb2.Source(
        document_id=chunk.document_id,
        title=chunk.title,
        section_path=chunk.section_path,
        issuer=chunk.issuer,
        year=chunk.year,
        url=chunk.url,
        chunk_index=chunk.chunk_index,
        topics=chunk.topics,
        guideline=chunk.guideline,
    )
    return retriever_pb2.SearchHit(
        chunk_id=hit.chunk_id, score=hit.score, text=chunk.text, source=source
    )


def search_filter(message: retriever_pb2.SearchFilter) -> SearchFilter:
    """The request's filter in the store's terms."""
    return SearchFilter(
        document_ids=tuple(message.document_ids),
        topics=tuple(message.topics),
        issuers=tuple(message.issuers),
    )
