"""Bounds on the size of Search and Ingest requests, checked before any of their work is done.

A search filter's lists are matched by the store's engine (through its payload indexes); their
length is what a request controls, so it is bounded here: a filter of 100,000 topics once held
the event loop for 23 s in Qdrant's local mode, which evaluates filters in Python. An Ingest
stream is checked message by message as it is read, so that a declared ``chunk_count`` that no
document could fill, or a stream that never ends, is refused at its first offending message
rather than after it has been held in memory. Every refusal is INVALID_ARGUMENT naming the
field, the limit and the setting that holds it; none quotes the request's text.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from briefing.v1 import retriever_pb2

from services.common.errors import InvalidArgument
from services.common.logging import get_logger
from services.common.plaintext import plain_line
from services.retriever.config import RetrieverSettings
from services.retriever.records import is_safe_url

log = get_logger(__name__)


def check_filter(message: retriever_pb2.SearchFilter, settings: RetrieverSettings) -> None:
    """Raises InvalidArgument for a filter list, or one of its values, over its limit."""
    for name, values in (
        ("document_ids", message.document_ids),
        ("topics", message.topics),
        ("issuers", message.issuers),
    ):
        if len(values) > settings.max_filter_values:
            raise InvalidArgument(
                f"filter.{name} has {len(values):,} values, more than the "
                f"{settings.max_filter_values} allowed (RETRIEVER_MAX_FILTER_VALUES); "
                "search with fewer"
            )
        _check_chars(f"filter.{name}", values, settings.max_keyword_chars, "KEYWORD")


def check_chunk(
    chunk: retriever_pb2.IngestChunk, position: int, settings: RetrieverSettings
) -> None:
    """Raises InvalidArgument for a chunk with a field, or a declared count, over its limit."""
    source = chunk.source
    where = f"chunk at position {position} (document {source.document_id[:64]!r})"
    if chunk.chunk_count > settings.max_chunks_per_document:
        raise InvalidArgument(
            f"{where}: chunk_count is {chunk.chunk_count:,}, more than the "
            f"{settings.max_chunks_per_document:,} chunks allowed per document "
            "(RETRIEVER_MAX_CHUNKS_PER_DOCUMENT); split the document"
        )
    for name, values, limit, setting in (
        ("text", [chunk.text], settings.max_chunk_chars, "CHUNK"),
        ("context", [chunk.context], settings.max_context_chars, "CONTEXT"),
        ("source.title", [source.title], settings.max_title_chars, "TITLE"),
        ("source.document_id", [source.document_id], settings.max_keyword_chars, "KEYWORD"),
        ("content_hash", [chunk.content_hash], settings.max_keyword_chars, "KEYWORD"),
        ("source.issuer", [source.issuer], settings.max_keyword_chars, "KEYWORD"),
        ("source.topics", source.topics, settings.max_keyword_chars, "KEYWORD"),
        ("source.url", [source.url], settings.max_source_field_chars, "SOURCE_FIELD"),
        ("source.guideline", [source.guideline], settings.max_source_field_chars, "SOURCE_FIELD"),
        (
            "source.section_path",
            source.section_path,
            settings.max_source_field_chars,
            "SOURCE_FIELD",
        ),
    ):
        _check_chars(f"{where}: {name}", values, limit, setting)
    for name, items in (("section_path", source.section_path), ("topics", source.topics)):
        if len(items) > settings.max_source_list_items:
            raise InvalidArgument(
                f"{where}: source.{name} has {len(items):,} items, more than the "
                f"{settings.max_source_list_items} allowed (RETRIEVER_MAX_SOURCE_LIST_ITEMS)"
            )
    if source.title and not plain_line(source.title):
        raise InvalidArgument(f"{where}: source.title has no printable characters")


def _check_chars(field: str, values: Sequence[str], limit: int, setting: str) -> None:
    """``values`` is a repeated field, or a one-item list holding a single field."""
    for index, value in enumerate(values):
        if len(value) > limit:
            which = field if isinstance(values, list) else f"{field}[{index}]"
            raise InvalidArgument(
                f"{which} has {len(value):,} characters, more than the {limit:,} "
                f"allowed (RETRIEVER_MAX_{setting}_CHARS)"
            )


async def bounded_ingest(
    requests: AsyncIterator[retriever_pb2.IngestRequest], settings: RetrieverSettings
) -> AsyncIterator[retriever_pb2.IngestRequest]:
    """The stream's messages, each checked (:func:`check_chunk`) before it is handed on; raises
    InvalidArgument at the first one over a limit or beyond ``max_chunks_per_stream``. Warns once
    per document whose url is dropped as unsafe (records.safe_url)."""
    position = -1
    warned = ""
    async for request in requests:
        position += 1
        if position >= settings.max_chunks_per_stream:
            raise InvalidArgument(
                f"the stream carries more than {settings.max_chunks_per_stream:,} chunks "
                "(RETRIEVER_MAX_CHUNKS_PER_STREAM); send the rest in another Ingest call"
            )
        check_chunk(request.chunk, position, settings)
        source = request.chunk.source
        if source.url and source.document_id != warned and not is_safe_url(plain_line(source.url)):
            warned = source.document_id
            log.warning(
                "source_url_dropped",
                document_id=source.document_id,
                reason="not an absolute http(s) address",
            )
        yield request
