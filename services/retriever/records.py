"""Conversions between the contract's messages and the store's own types."""

from __future__ import annotations

from collections.abc import Iterable

from briefing.v1 import common_pb2, retriever_pb2

from services.common.errors import InvalidArgument
from services.retriever.store.base import Hit, SearchFilter, SearchMode, StoredChunk
from services.retriever.synonyms import Expansion

_MODES: dict[SearchMode, retriever_pb2.SearchMode] = {
    SearchMode.DENSE: retriever_pb2.SEARCH_MODE_DENSE,
    SearchMode.SPARSE: retriever_pb2.SEARCH_MODE_SPARSE,
    SearchMode.HYBRID: retriever_pb2.SEARCH_MODE_HYBRID,
}
_FROM_MESSAGE = {value: mode for mode, value in _MODES.items()}


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
        context=message.context,
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


def search_mode(value: retriever_pb2.SearchMode) -> SearchMode | None:
    """The mode a request asks for; None for the server default. Raises InvalidArgument for a
    value the contract does not define."""
    if value == retriever_pb2.SEARCH_MODE_UNSPECIFIED:
        return None
    mode = _FROM_MESSAGE.get(value)
    if mode is None:
        raise InvalidArgument(
            f"mode {value} is not a SearchMode; use SEARCH_MODE_DENSE (1), SEARCH_MODE_SPARSE (2), "
            "SEARCH_MODE_HYBRID (3) or leave it unset for the default"
        )
    return mode


def search_mode_message(mode: SearchMode) -> retriever_pb2.SearchMode:
    """The contract's value for a mode."""
    return _MODES[mode]


def expansions(found: Iterable[Expansion]) -> list[retriever_pb2.SynonymExpansion]:
    """The synonyms a search added, as the response shows them."""
    return [
        retriever_pb2.SynonymExpansion(matched=expansion.matched, added=expansion.added)
        for expansion in found
    ]
