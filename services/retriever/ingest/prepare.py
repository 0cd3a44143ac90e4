"""Turns files into the chunks the Retriever ingests; the parsing and chunking run in an executor.

Parsing and tokenising are CPU work: each file is prepared by a function submitted to an
executor (one worker thread: the tokenizer is not safe to share between threads, and preparing
is far faster than embedding), never on the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Iterable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path

from briefing.v1 import common_pb2, retriever_pb2

from services.retriever.ingest.chunking import Chunker
from services.retriever.ingest.document import DocumentError
from services.retriever.ingest.parsers import PARSERS, Parser, parse_file


@dataclass(frozen=True)
class PreparedFile:
    """A file parsed and chunked, ready to stream."""

    path: Path
    document_id: str
    chunks: list[retriever_pb2.IngestChunk]


@dataclass(frozen=True)
class FailedFile:
    """A file that could not be prepared, and why."""

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
    digest = hashlib.sha256(path.read_bytes())
    digest.update(b"\0" + chunker.fingerprint.encode())
    return digest.hexdigest()


def prepare_file(path: Path, chunker: Chunker, parse: Parser = parse_file) -> PreparedFile:
    """Parses and chunks one file (blocking; run it in an executor)."""
    document = parse(path)
    chunks = chunker.chunk(document)
    if not chunks:
        raise DocumentError("no text found")
    meta = document.metadata
    digest = content_hash(path, chunker)
    messages = [
        retriever_pb2.IngestChunk(
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
            chunk_count=len(chunks),
        )
        for index, chunk in enumerate(chunks)
    ]
    return PreparedFile(path=path, document_id=meta.document_id, chunks=messages)


def _prepare_or_fail(path: Path, chunker: Chunker, parse: Parser) -> PreparedFile | FailedFile:
    try:
        return prepare_file(path, chunker, parse)
    except Exception as exc:  # any broken file is reported by name; the others still go in
        return FailedFile(path=path, reason=str(exc) or type(exc).__name__)


async def prepare_files(
    paths: Sequence[Path], chunker: Chunker, executor: Executor, parse: Parser = parse_file
) -> AsyncIterator[PreparedFile | FailedFile]:
    """Prepares every file in ``executor`` and yields the results in the order of ``paths``.

    A second file with a document id already seen is reported as failed: the Retriever needs
    each document's chunks together, once per stream.
    """
    loop = asyncio.get_running_loop()
    futures = [loop.run_in_executor(executor, _prepare_or_fail, p, chunker, parse) for p in paths]
    first_seen: dict[str, Path] = {}
    for future in futures:
        result = await future
        if isinstance(result, PreparedFile):
            earlier = first_seen.setdefault(result.document_id, result.path)
            if earlier != result.path:
                result = FailedFile(
                    result.path, f"document id {result.document_id!r} is also used by {earlier}"
                )
        yield result
