"""One Ingest call: validates the chunk stream, skips unchanged documents, embeds and writes.

Chunks are read one at a time and never held beyond a bounded window: chunks of changed
documents are packed into batches of ``batch_size`` texts (across document boundaries, so small
documents still make full batches); each chunk's context line and passage are embedded, and
turned into its lexical vector, together. At most ``concurrency`` batches are in flight
(embedding, then upserting); when the window is full the stream is not read further, so gRPC
flow control slows the sender down. A stream therefore holds at most ``batch_size × (concurrency
+ 1)`` chunks, however long its documents.

A document is visible to Search completely or not at all. Its new version is written *staged*
(hidden from searches); once its last chunk is stored the store commits it (publishes it and
deletes the older version, :meth:`ChunkStore.commit`). A stream that fails or is cancelled
before that leaves the older version (or nothing) searchable: the session removes the staged
chunks it wrote, and whatever a killed process leaves is removed by the next ingest of the
document and when the store is first used (:meth:`ChunkStore.recover_staged`).

A document whose version is already stored whole is skipped, so a killed ingestion run resumed
with the same files writes only what is missing: a document whose commit had not happened is
not stored whole, and is written again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from briefing.v1 import retriever_pb2

from services.common.errors import FailedPrecondition, InvalidArgument, ServiceError
from services.embedder.client import EmbedderClient
from services.retriever.lexical import Analyzer
from services.retriever.records import stored_chunk
from services.retriever.store.base import ChunkRecord, ChunkStore, StoredChunk


class BusyClock:
    """Wall time during which at least one of possibly overlapping operations ran."""

    def __init__(self) -> None:
        self._active = 0
        self._since = 0.0
        self.total_s = 0.0

    def __enter__(self) -> None:
        if self._active == 0:
            self._since = time.perf_counter()
        self._active += 1

    def __exit__(self, *exc: object) -> None:
        self._active -= 1
        if self._active == 0:
            self.total_s += time.perf_counter() - self._since


@dataclass
class _Document:
    """One document of the stream: its version, the chunks received and those still unwritten."""

    document_id: str
    content_hash: str
    chunk_count: int
    first_position: int
    #: Stored whole already: its chunks are checked and counted, not written.
    unchanged: bool = False
    received: int = 0
    unwritten: int = 0
    committed: bool = False

    def add(self, chunk: StoredChunk, position: int) -> None:
        where = f"chunk at position {position} (document {self.document_id!r})"
        if chunk.chunk_index != self.received:
            raise InvalidArgument(
                f"{where}: chunk_index {chunk.chunk_index}, expected {self.received}; "
                "a document's chunks must arrive together and in order"
            )
        if chunk.content_hash != self.content_hash or chunk.chunk_count != self.chunk_count:
            raise InvalidArgument(
                f"{where}: content_hash and chunk_count must be the same for all its chunks"
            )
        self.received += 1

    @property
    def all_received(self) -> bool:
        return self.received == self.chunk_count

    def check_complete(self) -> None:
        if not self.all_received:
            raise InvalidArgument(
                f"document {self.document_id!r} (from position {self.first_position}): "
                f"chunk_count is {self.chunk_count} but {self.received} chunks arrived"
            )


def _validate(chunk: retriever_pb2.IngestChunk, position: int) -> None:
    where = f"chunk at position {position}"
    if not chunk.source.document_id.strip():
        raise InvalidArgument(f"{where}: source.document_id is required")
    if not chunk.source.title.strip():
        raise InvalidArgument(f"{where}: source.title is required")
    if not chunk.text.strip():
        raise InvalidArgument(f"{where}: text is required")
    if not chunk.content_hash:
        raise InvalidArgument(f"{where}: content_hash is required")
    if chunk.chunk_count < 1 or chunk.source.chunk_index < 0:
        raise InvalidArgument(f"{where}: chunk_count must be ≥ 1 and chunk_index ≥ 0")


class IngestSession:
    """Runs one Ingest stream to completion and returns its counts."""

    def __init__(
        self,
        store: ChunkStore,
        embedder: EmbedderClient,
        collection_dimension: Callable[[], Awaitable[int]],
        *,
        analyzer: Analyzer,
        batch_size: int,
        concurrency: int,
    ) -> None:
        self._store = store
        self._embedder = embedder
        self._analyzer = analyzer
        self._collection_dimension = collection_dimension
        self._batch_size = batch_size
        self._window = asyncio.Semaphore(concurrency)
        self._pending: list[tuple[_Document, StoredChunk]] = []
        self._seen: dict[str, _Document] = {}  # in arrival order
        self._dimension = 0
        self._embed_clock = BusyClock()
        self._upsert_clock = BusyClock()
        self.result = retriever_pb2.IngestResponse()

    @property
    def document_ids(self) -> list[str]:
        """The ids of the documents the stream has brought so far, in order."""
        return list(self._seen)

    async def run(
        self, requests: AsyncIterator[retriever_pb2.IngestRequest]
    ) -> retriever_pb2.IngestResponse:
        """Reads the whole stream; raises a ServiceError for the first problem found, after
        removing the staged chunks of the documents it did not commit."""
        try:
            async with asyncio.TaskGroup() as tasks:
                await self._read(requests, tasks)
        except BaseExceptionGroup as group:
            await self._discard_uncommitted()
            raise _first_service_error(group) from None
        except BaseException:
            await self._discard_uncommitted()
            raise
        self.result.embed_ms = self._embed_clock.total_s * 1000.0
        self.result.upsert_ms = self._upsert_clock.total_s * 1000.0
        return self.result

    async def _discard_uncommitted(self) -> None:
        """Best effort, even while cancelled: what is left is removed by the next ingest of the
        document or when the store is next opened."""
        for document in self._seen.values():
            if document.unchanged or document.committed:
                continue
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.shield(
                    self._store.discard_staged(
                        document.document_id, content_hash=document.content_hash
                    )
                )

    async def _read(
        self,
        requests: AsyncIterator[retriever_pb2.IngestRequest],
        tasks: asyncio.TaskGroup,
    ) -> None:
        current: _Document | None = None
        position = -1
        async for request in requests:
            position += 1
            _validate(request.chunk, position)
            chunk = stored_chunk(request.chunk)
            self.result.chunks_received += 1
            document_id = chunk.document_id
            if current is None or document_id != current.document_id:
                if current is not None:
                    current.check_complete()
                if document_id in self._seen:
                    raise InvalidArgument(
                        f"chunk at position {position}: document {document_id!r} appeared "
                        "earlier in the stream; a document's chunks must arrive together"
                    )
                current = _Document(document_id, chunk.content_hash, chunk.chunk_count, position)
                self._seen[document_id] = current
                await self._document_started(current)
            current.add(chunk, position)
            if not current.unchanged:
                current.unwritten += 1
                self._pending.append((current, chunk))
                if len(self._pending) >= self._batch_size:
                    await self._flush(tasks)
            if current.all_received:
                self.result.documents_received += 1
        if current is not None:
            current.check_complete()
        await self._flush(tasks)

    async def _document_started(self, document: _Document) -> None:
        """Marks the document unchanged when its version is stored whole; else removes the
        staged chunks a failed ingest of it left, before its own are written."""
        if not self._dimension:
            self._dimension = await self._collection_dimension()
        if await self._is_stored_unchanged(document):
            document.unchanged = True
            self.result.documents_unchanged += 1
            return
        self.result.documents_written += 1
        await self._store.discard_staged(document.document_id)

    async def _is_stored_unchanged(self, document: _Document) -> bool:
        count = document.chunk_count
        if await self._store.count(document.document_id) != count:
            return False
        return await self._store.count(document.document_id, document.content_hash) == count

    async def _flush(self, tasks: asyncio.TaskGroup) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        await self._window.acquire()
        tasks.create_task(self._write(batch))

    async def _write(self, batch: list[tuple[_Document, StoredChunk]]) -> None:
        try:
            chunks = [chunk for _, chunk in batch]
            with self._embed_clock:
                try:
                    texts = [chunk.indexed_text for chunk in chunks]
                    vectors = await self._embedder.embed(texts, "document")
                except InvalidArgument as exc:
                    documents = sorted({document.document_id for document, _ in batch})
                    raise InvalidArgument(
                        f"the embedder rejected a chunk of {', '.join(documents)}: {exc}"
                    ) from None
            if vectors and len(vectors[0]) != self._dimension:
                raise FailedPrecondition(
                    f"the embedder now makes {len(vectors[0])}-dimensional vectors but the "
                    f"collection holds {self._dimension}-dimensional ones"
                )
            records = [
                ChunkRecord(chunk, vector, self._analyzer.chunk_vector(chunk))
                for chunk, vector in zip(chunks, vectors, strict=True)
            ]
            with self._upsert_clock:
                await self._store.upsert(records, staged=True)
            self.result.chunks_upserted += len(records)
            for document, _ in batch:
                document.unwritten -= 1
                if document.unwritten == 0 and document.all_received:
                    await self._commit(document)
        finally:
            self._window.release()

    async def _commit(self, document: _Document) -> None:
        """Publishes the document's new version once all of it is stored, removing the old."""
        with self._upsert_clock:
            stored = await self._store.count(
                document.document_id, document.content_hash, staged=True
            )
            if stored != document.chunk_count:
                raise FailedPrecondition(
                    f"document {document.document_id!r}: {stored} of its "
                    f"{document.chunk_count} chunks are stored; another ingest of it ran at "
                    "the same time; send it again"
                )
            # Shielded, and marked first so a cancelled stream does not discard it: once the
            # publish has begun, the commit runs to its end.
            document.committed = True
            self.result.chunks_deleted += await asyncio.shield(
                self._store.commit(document.document_id, document.content_hash)
            )


def _first_service_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The error to report from a failed session: the first domain error, else the first one."""
    errors = list(_leaves(group))
    return next((e for e in errors if isinstance(e, ServiceError)), errors[0])


def _leaves(error: BaseException) -> list[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in _leaves(inner)]
    return [error]
