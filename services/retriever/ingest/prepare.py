"""Turns files into the chunks the Retriever ingests; the parsing and chunking run in an executor.

Parsing and tokenising are CPU work: each file is prepared by a function submitted to an
executor (one worker thread: the tokenizer is not safe to share between threads, and preparing
is far faster than embedding), never on the event loop, one file at a time, so memory holds one
file's text, never the whole run's.

A file of at most ``KEPT_CHUNKS`` chunks keeps them; a larger one is chunked twice, once to count
its chunks (every chunk carries its document's chunk count) and again, lazily, while it is sent:
its chunks are never all in memory at once. A file larger than ``MAX_FILE_BYTES`` is refused.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path

from briefing.v1 import common_pb2, retriever_pb2

from services.retriever.ingest.chunking import Chunk, Chunker
from services.retriever.ingest.document import Document, DocumentError
from services.retriever.ingest.parsers import PARSERS, Parser, parse_file

#: Largest file ingested, in bytes; a larger one is reported and skipped.
MAX_FILE_BYTES = 200 * 1024 * 1024
#: A document of at most this many chunks keeps them once made; a larger one is chunked again
#: while it is sent.
KEPT_CHUNKS = 1_024
# Chunks made per executor call while a large document is sent.
CHUNKS_PER_STEP = 64


@dataclass(frozen=True)
class PreparedFile:
    """A file parsed and chunked, ready to stream."""

    path: Path
    document_id: str
    chunk_count: int
    _messages: Callable[[], Iterator[retriever_pb2.IngestChunk]]

    def messages(self) -> Iterator[retriever_pb2.IngestChunk]:
        """The chunks to send, made as they are taken (blocking: tokenising may run)."""
        return self._messages()

    @property
    def chunks(self) -> list[retriever_pb2.IngestChunk]:
        """All the chunks at once (for small documents and tools)."""
        return list(self.messages())


@dataclass(frozen=True)
class FailedFile:
    """A file that could not be prepared or stored, and why."""

    path: Path
    reason: str


def find_files(paths: Iterable[Path]) -> list[Path]:
    """The files to ingest: given files, plus the supported files directly inside given folders,
    sorted by name within each folder."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in PARSERS)
            )
        else:
            found.append(path)
    return found


def content_hash(path: Path, chunker: Chunker) -> str:
    """SHA-256 of the file's bytes and the chunking settings (so a new chunking re-ingests)."""
    with path.open("rb") as file:
        digest = hashlib.file_digest(file, "sha256")
    digest.update(b"\0" + chunker.fingerprint.encode())
    return digest.hexdigest()


def prepare_file(
    path: Path,
    chunker: Chunker,
    parse: Parser = parse_file,
    max_bytes: int = MAX_FILE_BYTES,
) -> PreparedFile:
    """Parses and chunks one file (blocking; run it in an executor)."""
    size = path.stat().st_size
    if size > max_bytes:
        raise DocumentError(
            f"file is {size / 2**20:.0f} MiB; the limit is {max_bytes / 2**20:.0f} MiB"
        )
    document = parse(path)
    kept = list(itertools.islice(chunker.chunks(document), KEPT_CHUNKS + 1))
    if not kept:
        raise DocumentError("no text found")
    chunk_count = len(kept)
    if chunk_count > KEPT_CHUNKS:
        chunk_count = sum(1 for _ in chunker.chunks(document))
        del kept
        source: Callable[[], Iterable[Chunk]] = lambda: chunker.chunks(document)  # noqa: E731
    else:
        source = lambda: kept  # noqa: E731
    digest = content_hash(path, chunker)

    def messages() -> Iterator[retriever_pb2.IngestChunk]:
        for index, chunk in enumerate(source()):
            yield _message(document, chunk, index, digest, chunk_count)

    return PreparedFile(path, document.metadata.document_id, chunk_count, messages)


def _message(
    document: Document, chunk: Chunk, index: int, digest: str, chunk_count: int
) -> retriever_pb2.IngestChunk:
    meta = document.metadata
    return retriever_pb2.IngestChunk(
        source=common_pb2.Source(
            document_id=meta.document_id,
            title=meta.title,
            section_path=list(chunk.section_path),
            issuer=meta.issuer,
            year=meta.year,
            url=meta.url,
            chunk_index=index,
            topics=list(meta.topics),
            guideline=meta.guideline,
        ),
        text=chunk.text,
        context=chunk.context,
        content_hash=digest,
        chunk_count=chunk_count,
    )


async def stream_chunks(
    file: PreparedFile, executor: Executor
) -> AsyncIterator[retriever_pb2.IngestChunk]:
    """The file's chunks, made ``CHUNKS_PER_STEP`` at a time in ``executor``."""
    loop = asyncio.get_running_loop()
    messages = file.messages()
    while step := await loop.run_in_executor(
        executor, lambda: list(itertools.islice(messages, CHUNKS_PER_STEP))
    ):
        for message in step:
            yield message


def _prepare_or_fail(path: Path, chunker: Chunker, parse: Parser) -> PreparedFile | FailedFile:
    try:
        return prepare_file(path, chunker, parse)
    except Exception as exc:  # any broken file is reported by name; the others still go in
        return FailedFile(path=path, reason=str(exc) or type(exc).__name__)


async def prepare_files(
    paths: Sequence[Path], chunker: Chunker, executor: Executor, parse: Parser = parse_file
) -> AsyncIterator[PreparedFile | FailedFile]:
    """Prepares the files in ``executor`` one after the other, each when the caller asks for
    it, and yields the results in the order of ``paths``.

    A second file with a document id already seen is reported as failed: the Retriever needs
    each document's chunks together, once per stream.
    """
    loop = asyncio.get_running_loop()
    first_seen: dict[str, Path] = {}
    for path in paths:
        result = await loop.run_in_executor(executor, _prepare_or_fail, path, chunker, parse)
        if isinstance(result, PreparedFile):
            earlier = first_seen.setdefault(result.document_id, result.path)
            if earlier != result.path:
                result = FailedFile(
                    result.path, f"document id {result.document_id!r} is also used by {earlier}"
                )
        yield result
