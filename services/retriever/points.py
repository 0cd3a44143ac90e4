"""Conversions between the contract's messages and Qdrant points, payloads and filters."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from briefing.v1 import common_pb2, retriever_pb2
from qdrant_client import models

# Fixed namespace for chunk ids: the same document id and chunk index always give the same id,
# so re-ingesting a document overwrites its points in place.
CHUNK_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:briefing:v1:retriever:chunk")

# Payload keys with a keyword index; search filters and per-document look-ups use them.
DOCUMENT_ID = "document_id"
TOPICS = "topics"
ISSUER = "issuer"
CONTENT_HASH = "content_hash"
INDEXED_KEYWORDS = (DOCUMENT_ID, TOPICS, ISSUER, CONTENT_HASH)


def chunk_id(document_id: str, chunk_index: int) -> str:
    """UUIDv5 of the document id and the chunk index."""
    return str(uuid.uuid5(CHUNK_NAMESPACE, f"{document_id}/{chunk_index}"))


def chunk_point(chunk: retriever_pb2.IngestChunk, vector: Sequence[float]) -> models.PointStruct:
    """The point stored for one chunk: its vector, text, source and document hash."""
    source = chunk.source
    payload: dict[str, Any] = {
        DOCUMENT_ID: source.document_id,
        "title": source.title,
        "section_path": list(source.section_path),
        ISSUER: source.issuer,
        "year": source.year,
        "url": source.url,
        "chunk_index": source.chunk_index,
        TOPICS: list(source.topics),
        "guideline": source.guideline,
        "text": chunk.text,
        CONTENT_HASH: chunk.content_hash,
        "chunk_count": chunk.chunk_count,
    }
    return models.PointStruct(
        id=chunk_id(source.document_id, source.chunk_index), vector=list(vector), payload=payload
    )


def search_hit(point: models.ScoredPoint) -> retriever_pb2.SearchHit:
    """A search hit with its text and source, from a point returned by Qdrant."""
    payload = point.payload or {}
    source = common_pb2.Source(
        document_id=str(payload.get(DOCUMENT_ID, "")),
        title=str(payload.get("title", "")),
        section_path=[str(part) for part in payload.get("section_path", [])],
        issuer=str(payload.get(ISSUER, "")),
        year=int(payload.get("year", 0)),
        url=str(payload.get("url", "")),
        chunk_index=int(payload.get("chunk_index", 0)),
        topics=[str(topic) for topic in payload.get(TOPICS, [])],
        guideline=str(payload.get("guideline", "")),
    )
    return retriever_pb2.SearchHit(
        chunk_id=str(point.id), score=point.score, text=str(payload.get("text", "")), source=source
    )


def _any_of(key: str, values: Sequence[str]) -> models.FieldCondition:
    return models.FieldCondition(key=key, match=models.MatchAny(any=list(values)))


def search_filter(request_filter: retriever_pb2.SearchFilter) -> models.Filter | None:
    """All non-empty lists must match; within a list any value matches. None when unrestricted."""
    conditions: list[models.Condition] = [
        _any_of(key, values)
        for key, values in (
            (DOCUMENT_ID, request_filter.document_ids),
            (TOPICS, request_filter.topics),
            (ISSUER, request_filter.issuers),
        )
        if values
    ]
    return models.Filter(must=conditions) if conditions else None


def document_filter(document_id: str, content_hash: str | None = None) -> models.Filter:
    """Points of one document; with ``content_hash``, only those carrying that hash."""
    must: list[models.Condition] = [
        models.FieldCondition(key=DOCUMENT_ID, match=models.MatchValue(value=document_id))
    ]
    if content_hash is not None:
        must.append(
            models.FieldCondition(key=CONTENT_HASH, match=models.MatchValue(value=content_hash))
        )
    return models.Filter(must=must)


def stale_filter(document_id: str, content_hash: str) -> models.Filter:
    """Points of one document that carry any other hash than ``content_hash``."""
    return models.Filter(
        must=[models.FieldCondition(key=DOCUMENT_ID, match=models.MatchValue(value=document_id))],
        must_not=[
            models.FieldCondition(key=CONTENT_HASH, match=models.MatchValue(value=content_hash))
        ],
    )
