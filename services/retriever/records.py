"""Conversions between the contract's messages and the store's own types.

A chunk's source fields are stored as safe to show: one line of plain text each
(services.common.plaintext: escape sequences, control characters and bidirectional overrides
removed, a line break or tab made a space), and a ``url`` that is not an
absolute ``http(s)`` address (``javascript:``, ``data:``, a bare path) is stored as absent.
Their lengths are bounded before this, by services.retriever.bounds.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable

from briefing.v1 import common_pb2, retriever_pb2

from services.common.errors import InvalidArgument
from services.common.plaintext import plain_line
from services.retriever.store.base import Hit, SearchFilter, SearchMode, StoredChunk
from services.retriever.synonyms import Expansion

_MODES: dict[SearchMode, retriever_pb2.SearchMode] = {
    SearchMode.DENSE: retriever_pb2.SEARCH_MODE_DENSE,
    SearchMode.SPARSE: retriever_pb2.SEARCH_MODE_SPARSE,
    SearchMode.HYBRID: retriever_pb2.SEARCH_MODE_HYBRID,
}
_FROM_MESSAGE = {value: mode for mode, value in _MODES.items()}
SAFE_URL_SCHEMES = frozenset({"http", "https"})


def is_safe_url(url: str) -> bool:
    """Whether ``url`` is an absolute http(s) address with a host (after :func:`plain_line`)."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:  # e.g. a malformed IPv6 host
        return False
    return parts.scheme.lower() in SAFE_URL_SCHEMES and bool(parts.netloc)


def safe_url(url: str) -> str:
    """The url to store: cleaned when it is a safe address, else empty (absent)."""
    cleaned = plain_line(url)
    return cleaned if is_safe_url(cleaned) else ""


def stored_chunk(message: retriever_pb2.IngestChunk) -> StoredChunk:
    """The chunk to store for one ingested chunk: its text, source (made safe to show, see the
    module docstring) and document version."""
    source = message.source
    return StoredChunk(
        document_id=source.document_id,
        chunk_index=source.chunk_index,
        title=plain_line(source.title),
        text=message.text,
        content_hash=message.content_hash,
        chunk_count=message.chunk_count,
        section_path=tuple(plain_line(heading) for heading in source.section_path),
        issuer=plain_line(source.issuer),
        year=source.year,
        url=safe_url(source.url),
        topics=tuple(plain_line(topic) for topic in source.topics),
        guideline=plain_line(source.guideline),
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
