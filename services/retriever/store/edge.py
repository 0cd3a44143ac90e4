"""The chunk store on qdrant-edge: Qdrant's own engine (HNSW, WAL, payload indexes) over a folder,
``<folder>/edge/<collection>/``, one shard per collection.

qdrant-edge-py is beta (0.x, pinned exactly), synchronous, and holds the GIL while it computes,
so the shard lives in a child process of its own (:mod:`.edge_engine`, which says what was
measured) and this store sends it each call over a socket: the Retriever's event loop never waits
on a search, only on a pickled request and its hits. The child runs one call at a time, in the
order they were made: at most ``searches_in_flight`` searches are sent to it at once (one
computing, the next ready), more wait their turn here; writes keep their order and a search
sees every write made before it.

Building the HNSW index (``EdgeShard.optimize``) takes about a minute per 100,000 points on 2
cores and the child does nothing else meanwhile, so it is built when the store opens, before
the Retriever serves, and by :meth:`EdgeStore.build_index`; points written while serving stay in
a segment searched by full scan until the next start.

Each shard has a dense vector and a sparse one, ``lexical``, whose stored BM25 term weights the
engine multiplies by each term's inverse document frequency (its IDF modifier); hybrid search
prefetches the best of each and fuses them as the query asks (DBSF or reciprocal rank), as on a
Qdrant server (:mod:`.layout`). The analyzer that made the lexical vectors is recorded beside the
shard in ``<collection>.json`` (a shard has no metadata of its own), and cleared while a
re-index runs.

One process per folder: the store holds an exclusive lock on ``<folder>/edge/.lock`` while open.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import IO, Any

from services.common.errors import FailedPrecondition, Unavailable
from services.common.logging import get_logger
from services.common.telemetry import get_tracer
from services.retriever.config import EDGE_FOLDER
from services.retriever.store import edge_engine
from services.retriever.store.base import (
    ChunkRecord,
    ChunkStore,
    CollectionInfo,
    Hit,
    SearchQuery,
    SparseVector,
    StoredChunk,
)
from services.retriever.store.edge_engine import CONFIG_FILE, DENSE, NoCollection
from services.retriever.store.engine_process import EngineProcess, EngineStopped

log = get_logger(__name__)
tracer = get_tracer(__name__)

DISTANCE = "Dot"


class EdgeStore(ChunkStore):
    """One collection of guideline chunks in a qdrant-edge shard (dot product, keyword indexes).

    The distance is the dot product, as in :class:`~.qdrant.QdrantStore`: the Embedder's vectors
    are unit length, so it is cosine similarity without re-normalising.
    """

    def __init__(
        self, folder: Path, collection: str, searches_in_flight: int, lock: IO[bytes]
    ) -> None:
        super().__init__()
        self.collection = collection
        self._path = folder / EDGE_FOLDER / collection
        self._metadata = folder / EDGE_FOLDER / f"{collection}.json"
        self._analyzer = ""  # as recorded in _metadata: this process alone writes it
        # Whether the shard exists; known at open and set by create, so a search needs no stat.
        self._created = (self._path / CONFIG_FILE).exists()
        self._lock = lock
        self._searches = asyncio.Semaphore(searches_in_flight)
        self._engine = EngineProcess(edge_engine.serve, self._path, name="edge-engine")

    @classmethod
    def open(cls, folder: Path, collection: str, searches_in_flight: int) -> EdgeStore:
        """Locks the folder, starts the engine's process and loads the collection's shard if it
        exists, indexing whatever is not indexed yet (blocking: call it before serving).
        FailedPrecondition when another process holds the folder or the engine cannot start."""
        root = folder / EDGE_FOLDER
        root.mkdir(parents=True, exist_ok=True)
        lock = (root / ".lock").open("ab")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            raise FailedPrecondition(
                f"cannot open the edge store in {folder.resolve()}: another process (a Retriever "
                "or a migration) holds it. The embedded store allows one process per folder: "
                "stop the other one, point RETRIEVER_QDRANT_PATH elsewhere, or use a Qdrant "
                "server (QDRANT_URL)"
            ) from None
        store = cls(folder, collection, searches_in_flight, lock)
        if store._metadata.exists():
            recorded = json.loads(store._metadata.read_text()).get("lexical_analyzer")
            store._analyzer = str(recorded or "")
        started = time.perf_counter()
        try:
            built = store._engine.call_blocking("optimize")
        except Exception as exc:
            store._engine.stop_blocking()
            store._unlock()
            raise FailedPrecondition(
                f"cannot open the edge store in {folder.resolve()}: {type(exc).__name__}: {exc}"
            ) from None
        store._log_index(built, started)
        return store

    def _log_index(self, built: tuple[int, int] | None, started: float) -> None:
        """Logs an index build: ``built`` is what the engine's optimize returned."""
        if built is not None:
            points, indexed = built
            log.info(
                "edge_index_built",
                collection=self.collection,
                points=points,
                indexed_vectors=indexed,
                seconds=round(time.perf_counter() - started, 3),
            )

    async def build_index(self) -> None:
        """Builds the HNSW index of the points written so far; the engine does nothing else
        meanwhile (minutes for 100,000 points): for bulk loads and tools, not while serving."""
        started = time.perf_counter()
        self._log_index(await self._call("optimize"), started)

    async def _call(self, method: str, *args: Any) -> Any:
        """One call to the engine's process (:meth:`.edge_engine.EdgeEngine`'s ``method``)."""
        try:
            return await self._engine.call(method, *args)
        except NoCollection:
            raise FailedPrecondition(f"collection {self.collection} does not exist yet") from None
        except EngineStopped as stopped:
            raise Unavailable(
                f"the edge store's engine process has stopped ({stopped}; any error it printed "
                "is in the Retriever's log); restart the Retriever"
            ) from None

    def _exists(self) -> bool:
        return self._created

    def _dimension(self) -> int | None:
        """The shard's dense vector size, or None when the collection does not exist yet."""
        if not self._exists():
            return None
        config = json.loads((self._path / CONFIG_FILE).read_text())
        return int(config["vectors"][DENSE]["size"])

    async def ensure_collection(self, dimension: int, model: str, lexical_analyzer: str) -> None:
        existing = self._dimension()
        if existing is None:
            self._record_analyzer(lexical_analyzer)
            await self._call("create", dimension)
            self._created = True
        elif existing != dimension:
            raise FailedPrecondition(
                f"collection {self.collection} has {existing}-dimensional vectors but the "
                f"embedder ({model}) makes {dimension}; re-ingest into a new collection "
                "(RETRIEVER_COLLECTION) or run the embedder with the model that filled it"
            )
        else:
            recovered = await self.recover_staged()
            if recovered.published or recovered.discarded:
                log.info(
                    "staged_chunks_recovered",
                    collection=self.collection,
                    published_documents=recovered.published,
                    discarded_chunks=recovered.discarded,
                )

    def _record_analyzer(self, lexical_analyzer: str) -> None:
        """Writes the analyzer beside the shard (atomically: a crash leaves the old or the new)."""
        written = self._metadata.with_suffix(".json.tmp")
        written.write_text(json.dumps({"lexical_analyzer": lexical_analyzer}))
        os.replace(written, self._metadata)
        self._analyzer = lexical_analyzer

    async def lexical_analyzer(self) -> str:
        return self._analyzer if self._exists() else ""

    async def search(self, query: SearchQuery) -> list[Hit]:
        with tracer.start_as_current_span(
            "edge.query",
            attributes={
                "retriever.collection": self.collection,
                "retriever.mode": str(query.mode),
                "retriever.limit": query.limit,
                "retriever.filtered": bool(
                    query.where.document_ids or query.where.topics or query.where.issuers
                ),
                "retriever.score_threshold": query.score_threshold or 0.0,
            },
        ) as span:
            async with self._searches:
                hits: list[Hit] = await self._call("search", query, dict(self.committing))
            span.set_attribute("retriever.hits", len(hits))
        return hits

    async def count(
        self, document_id: str, content_hash: str | None = None, *, staged: bool = False
    ) -> int:
        counted: int = await self._call("count", document_id, content_hash, staged)
        return counted

    async def upsert(self, records: Sequence[ChunkRecord], *, staged: bool = False) -> None:
        with tracer.start_as_current_span(
            "edge.upsert", attributes={"retriever.points": len(records)}
        ):
            await self._call("upsert", list(records), staged)

    async def _publish(self, document_id: str, content_hash: str) -> None:
        await self._call("publish", document_id, content_hash)

    async def _delete_other_versions(self, document_id: str, content_hash: str) -> int:
        deleted: int = await self._call("delete_other_versions", document_id, content_hash)
        return deleted

    async def discard_staged(self, document_id: str, *, content_hash: str | None = None) -> int:
        deleted: int = await self._call("discard_staged", document_id, content_hash)
        return deleted

    async def _staged_versions(self) -> list[tuple[str, str]]:
        versions: list[tuple[str, str]] = await self._call("staged_versions")
        return versions

    async def delete_document(self, document_id: str) -> int:
        deleted: int = await self._call("delete_document", document_id)
        return deleted

    async def info(self) -> CollectionInfo:
        dimension = self._dimension()
        if dimension is None:
            return CollectionInfo(points_count=0, dimension=0, distance="", documents_count=0)
        points, documents = await self._call("published_counts")
        return CollectionInfo(
            points_count=points,
            dimension=dimension,
            distance=DISTANCE,
            documents_count=documents,
            lexical_analyzer=self._analyzer,
        )

    async def is_healthy(self) -> bool:
        # Healthy when the engine's process answers a read in its turn (a queue of stuck calls
        # shows here as the caller's timeout, a dead process as UNAVAILABLE).
        await self._call("ping")
        return True

    async def add_lexical(
        self,
        vectorize: Callable[[StoredChunk], SparseVector],
        lexical_analyzer: str,
        batch_size: int,
        progress: Callable[[int], None] = lambda done: None,
    ) -> int:
        if not self._exists():
            raise FailedPrecondition(f"collection {self.collection} does not exist yet")
        self._record_analyzer("")
        done = 0
        offset: Any = None
        while True:
            found, offset = await self._call("chunks_page", offset, batch_size)
            if found:
                vectors = [(point, vectorize(chunk)) for point, chunk in found]
                await self._call("set_lexical", vectors)
                done += len(found)
                progress(done)
            if offset is None:
                break
        self._record_analyzer(lexical_analyzer)
        return done

    async def records(self, batch_size: int) -> AsyncIterator[list[ChunkRecord]]:
        if not self._exists():
            return
        offset: Any = None
        while True:
            found, offset = await self._call("records_page", offset, batch_size)
            yield found
            if offset is None:
                return

    async def close(self) -> None:
        """Waits for the calls already made, flushes the shard to disk, closes it, stops the
        engine's process and releases the folder."""
        with contextlib.suppress(Unavailable):
            await self._call("close")
        await self._engine.stop()
        self._unlock()

    def _unlock(self) -> None:
        with contextlib.suppress(OSError):
            fcntl.flock(self._lock, fcntl.LOCK_UN)
        self._lock.close()
