"""The chunk store on qdrant-edge: Qdrant's own engine (HNSW, WAL, payload indexes) in this
process, in a folder: ``<folder>/edge/<collection>/``, one shard per collection.

qdrant-edge-py is beta (0.x, pinned exactly) and synchronous. Measured with 0.9.0:

- a query releases the GIL while the engine computes, so searches run in a pool of
  ``searches_in_flight`` threads and the event loop never waits on one; more searches wait
  their turn for a thread. Writes run in one thread of their own, in the order they were made.
- building the HNSW index (``EdgeShard.optimize``) holds the GIL for the whole build (about a
  minute per 100,000 points on 2 cores), which would stop the event loop. The index is therefore
  built when the store opens, before the Retriever serves, and by :meth:`EdgeStore.build_index`;
  points written while serving stay in a segment searched by full scan until the next start.

Each shard has a dense vector and a sparse one, ``lexical``, whose stored BM25 term weights the
engine multiplies by each term's inverse document frequency (its IDF modifier); hybrid search
prefetches the best of each and fuses them as the query asks (DBSF or reciprocal rank), as on a
Qdrant server (:mod:`.layout`). The analyzer that made the lexical vectors is recorded beside the
shard in ``<collection>.json`` (a shard has no metadata of its own), and cleared while a
re-index runs.

One process per folder: the store holds an exclusive lock on ``<folder>/edge/.lock`` while open.
Every qdrant-edge type stays in this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import IO, TypeVar

import qdrant_edge as edge

from services.common.errors import FailedPrecondition
from services.common.logging import get_logger
from services.common.telemetry import get_tracer
from services.retriever.config import EDGE_FOLDER
from services.retriever.store.base import (
    ChunkRecord,
    ChunkStore,
    CollectionInfo,
    Fusion,
    Hit,
    SearchFilter,
    SearchMode,
    SearchQuery,
    SparseVector,
    StoredChunk,
)
from services.retriever.store.layout import (
    CONTENT_HASH,
    DOCUMENT_ID,
    HYBRID_CANDIDATES,
    INDEXED_KEYWORDS,
    ISSUER,
    LEXICAL,
    RRF_K,
    STAGED,
    STATE,
    TOPICS,
    chunk_payload,
    payload_chunk,
)

log = get_logger(__name__)
tracer = get_tracer(__name__)
T = TypeVar("T")

# The dense vector's name (the lexical one is layout.LEXICAL).
DENSE = "dense"
DISTANCE = "Dot"
# HNSW candidates per search: 128 gave recall@10 0.95 against exact search at 10,000 points,
# so 256; bench/store_scale.py measures it.
SEARCH_EF = 256
# Upper bound on distinct documents counted by GetCollectionInfo (one facet call).
MAX_DOCUMENTS_COUNTED = 1_000_000
# edge_config.json: where the shard keeps its configuration (documented by qdrant-edge).
CONFIG_FILE = "edge_config.json"


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
        self._lock = lock
        self._shard: edge.EdgeShard | None = None
        self._reads = ThreadPoolExecutor(searches_in_flight, thread_name_prefix="edge-search")
        self._writes = ThreadPoolExecutor(1, thread_name_prefix="edge-write")

    @classmethod
    def open(cls, folder: Path, collection: str, searches_in_flight: int) -> EdgeStore:
        """Locks the folder and loads the collection's shard if it exists, indexing whatever is
        not indexed yet (blocking: call it before serving). FailedPrecondition when another
        process holds the folder."""
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
        if (store._path / CONFIG_FILE).exists():
            store._shard = edge.EdgeShard.load(str(store._path))
            if store._metadata.exists():
                recorded = json.loads(store._metadata.read_text()).get("lexical_analyzer")
                store._analyzer = str(recorded or "")
            # A shard made before staged versions lacks the state's index.
            store._shard.update(
                edge.UpdateOperation.create_field_index(STATE, edge.PayloadSchemaType.Keyword)
            )
            store._build_index()
        return store

    def _build_index(self) -> None:
        """Runs the engine's optimizers (HNSW index, merges, vacuum) until none has work."""
        shard = self._opened()
        started = time.perf_counter()
        if shard.optimize():
            info = shard.info()
            log.info(
                "edge_index_built",
                collection=self.collection,
                points=info.points_count,
                indexed_vectors=info.indexed_vectors_count,
                seconds=round(time.perf_counter() - started, 3),
            )

    async def build_index(self) -> None:
        """Builds the HNSW index of the points written so far. It holds the GIL throughout, so
        the event loop stops meanwhile: for bulk loads and tools, not while serving."""
        await self._write(self._build_index)

    def _opened(self) -> edge.EdgeShard:
        if self._shard is None:
            raise FailedPrecondition(f"collection {self.collection} does not exist yet")
        return self._shard

    async def _read(self, call: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._reads, call)

    async def _write(self, call: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._writes, call)

    def _dimension(self) -> int | None:
        """The shard's dense vector size, or None when the collection does not exist yet."""
        if self._shard is None:
            return None
        config = json.loads((self._path / CONFIG_FILE).read_text())
        return int(config["vectors"][DENSE]["size"])

    async def ensure_collection(self, dimension: int, model: str, lexical_analyzer: str) -> None:
        existing = self._dimension()
        if existing is None:
            await self._write(lambda: self._create(dimension, lexical_analyzer))
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

    def _create(self, dimension: int, lexical_analyzer: str) -> None:
        if self._shard is not None:  # created by a call that was queued before this one
            return
        config = edge.EdgeConfig(
            vectors={DENSE: edge.EdgeVectorParams(dimension, edge.Distance.Dot)},
            sparse_vectors={LEXICAL: edge.EdgeSparseVectorParams(modifier=edge.Modifier.Idf)},
        )
        self._record_analyzer(lexical_analyzer)
        shard = edge.EdgeShard.create(str(self._path), config)
        keyword = edge.PayloadSchemaType.Keyword
        for key in INDEXED_KEYWORDS:
            shard.update(edge.UpdateOperation.create_field_index(key, keyword))
        self._shard = shard

    def _record_analyzer(self, lexical_analyzer: str) -> None:
        """Writes the analyzer beside the shard (atomically: a crash leaves the old or the new)."""
        written = self._metadata.with_suffix(".json.tmp")
        written.write_text(json.dumps({"lexical_analyzer": lexical_analyzer}))
        os.replace(written, self._metadata)
        self._analyzer = lexical_analyzer

    async def lexical_analyzer(self) -> str:
        return self._analyzer if self._shard is not None else ""

    async def search(self, query: SearchQuery) -> list[Hit]:
        if self._shard is None:
            return []
        shard = self._shard
        where = _search_filter(query.where, self.committing)
        request = _query_request(query, where)
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
            points = await self._read(lambda: shard.query(request))
            span.set_attribute("retriever.hits", len(points))
        return [
            Hit(chunk_id=str(point.id), score=point.score, chunk=payload_chunk(point.payload or {}))
            for point in points
        ]

    async def count(
        self, document_id: str, content_hash: str | None = None, *, staged: bool = False
    ) -> int:
        if self._shard is None:
            return 0
        shard = self._shard
        where = _document_filter(document_id, content_hash, staged=staged)
        return await self._read(lambda: shard.count(edge.CountRequest(exact=True, filter=where)))

    async def upsert(self, records: Sequence[ChunkRecord], *, staged: bool = False) -> None:
        shard = self._opened()

        def write() -> None:
            # Built in the write thread: converting a payload into the engine's types holds the
            # GIL for about half a millisecond per point (measured), in steps the loop can
            # interleave with, instead of one block on the loop.
            points = [
                edge.Point(
                    r.chunk.id,
                    {DENSE: list(r.vector), LEXICAL: _sparse(r.lexical)},
                    chunk_payload(r.chunk, staged),
                )
                for r in records
            ]
            shard.update(edge.UpdateOperation.upsert_points(points))

        with tracer.start_as_current_span(
            "edge.upsert", attributes={"retriever.points": len(records)}
        ):
            await self._write(write)

    async def _publish(self, document_id: str, content_hash: str) -> None:
        shard = self._opened()
        staged = _document_filter(document_id, content_hash, staged=True)
        await self._write(
            lambda: shard.update(edge.UpdateOperation.delete_payload_by_filter(staged, [STATE]))
        )

    async def _delete_other_versions(self, document_id: str, content_hash: str) -> int:
        return await self._delete_matching(
            edge.Filter(
                must=[_matches(DOCUMENT_ID, document_id)],
                must_not=[_matches(CONTENT_HASH, content_hash)],
            )
        )

    async def discard_staged(self, document_id: str, *, content_hash: str | None = None) -> int:
        return await self._delete_matching(_document_filter(document_id, content_hash, staged=True))

    async def _staged_versions(self) -> list[tuple[str, str]]:
        if self._shard is None:
            return []
        shard = self._shard

        def find() -> list[tuple[str, str]]:
            staged = edge.Filter(must=[_matches(STATE, STAGED)])
            documents = shard.facet(
                edge.FacetRequest(DOCUMENT_ID, MAX_DOCUMENTS_COUNTED, True, staged)
            )
            versions = []
            for document in documents.hits:
                where = _document_filter(str(document.value), staged=True)
                hashes = shard.facet(edge.FacetRequest(CONTENT_HASH, exact=True, filter=where))
                versions += [(str(document.value), str(found.value)) for found in hashes.hits]
            return versions

        return await self._read(find)

    async def delete_document(self, document_id: str) -> int:
        return await self._delete_matching(edge.Filter(must=[_matches(DOCUMENT_ID, document_id)]))

    async def _delete_matching(self, selector: edge.Filter) -> int:
        if self._shard is None:
            return 0
        shard = self._shard

        def delete() -> int:
            found = shard.count(edge.CountRequest(exact=True, filter=selector))
            if found:
                shard.update(edge.UpdateOperation.delete_points_by_filter(selector))
            return found

        return await self._write(delete)

    async def info(self) -> CollectionInfo:
        dimension = self._dimension()
        if self._shard is None or dimension is None:
            return CollectionInfo(points_count=0, dimension=0, distance="", documents_count=0)
        shard = self._shard
        published = edge.Filter(must_not=[_matches(STATE, STAGED)])
        points = await self._read(
            lambda: shard.count(edge.CountRequest(exact=True, filter=published))
        )
        facets = await self._read(
            lambda: shard.facet(
                edge.FacetRequest(
                    DOCUMENT_ID, limit=MAX_DOCUMENTS_COUNTED, exact=True, filter=published
                )
            )
        )
        return CollectionInfo(
            points_count=points,
            dimension=dimension,
            distance=DISTANCE,
            documents_count=len(facets.hits),
            lexical_analyzer=self._analyzer,
        )

    async def is_healthy(self) -> bool:
        # The engine is in this process: healthy when a read through the search threads returns
        # (a queue of stuck searches shows here as the caller's timeout).
        if self._shard is None:
            return True
        shard = self._shard
        await self._read(lambda: shard.count(edge.CountRequest(exact=False)))
        return True

    async def add_lexical(
        self,
        vectorize: Callable[[StoredChunk], SparseVector],
        lexical_analyzer: str,
        batch_size: int,
        progress: Callable[[int], None] = lambda done: None,
    ) -> int:
        shard = self._opened()
        await self._write(lambda: self._record_analyzer(""))
        done = 0
        offset: edge.PointId | None = None
        while True:
            request = edge.ScrollRequest(offset=offset, limit=batch_size, with_payload=True)
            found, offset = await self._read(partial(shard.scroll, request))
            if found:
                vectors = [
                    edge.PointVectors(
                        point.id, {LEXICAL: _sparse(vectorize(payload_chunk(point.payload or {})))}
                    )
                    for point in found
                ]
                await self._write(
                    partial(shard.update, edge.UpdateOperation.update_vectors(vectors))
                )
                done += len(found)
                progress(done)
            if offset is None:
                break
        await self._write(lambda: self._record_analyzer(lexical_analyzer))
        return done

    async def records(self, batch_size: int) -> AsyncIterator[list[ChunkRecord]]:
        if self._shard is None:
            return
        shard = self._shard
        offset: edge.PointId | None = None
        while True:
            request = edge.ScrollRequest(
                offset=offset,
                limit=batch_size,
                filter=edge.Filter(must_not=[_matches(STATE, STAGED)]),
                with_payload=True,
                with_vector=True,
            )
            found, offset = await self._read(partial(shard.scroll, request))
            yield [_record(point) for point in found]
            if offset is None:
                return

    async def close(self) -> None:
        """Waits for the searches in flight, flushes the shard to disk, closes it and releases
        the folder; the shard is never closed under a running search or write."""
        shard, self._shard = self._shard, None

        def finish() -> None:
            self._reads.shutdown(wait=True)
            if shard is not None:
                shard.flush()
                shard.close()

        await self._write(finish)
        self._writes.shutdown(wait=True)
        with contextlib.suppress(OSError):
            fcntl.flock(self._lock, fcntl.LOCK_UN)
        self._lock.close()


def _sparse(vector: SparseVector) -> edge.SparseVector:
    return edge.SparseVector(list(vector.indices), list(vector.values))


def _record(point: edge.Record) -> ChunkRecord:
    """A stored point as written: its chunk, dense vector and lexical vector (empty if none)."""
    named = point.vector if isinstance(point.vector, dict) else {}
    dense, lexical = named.get(DENSE), named.get(LEXICAL)
    if not isinstance(dense, list):
        raise FailedPrecondition(f"a point has no {DENSE!r} vector")
    terms = (
        SparseVector(tuple(lexical.indices), tuple(lexical.values))
        if isinstance(lexical, edge.SparseVector)
        else SparseVector((), ())
    )
    vector = [float(value) for value in dense]  # type: ignore[arg-type]
    return ChunkRecord(payload_chunk(point.payload or {}), vector, terms)


def _query_request(query: SearchQuery, where: edge.Filter | None) -> edge.QueryRequest:
    """The engine's request for the query's mode, as :mod:`.qdrant` asks a server."""
    params = edge.SearchParams(hnsw_ef=SEARCH_EF)
    if query.mode == SearchMode.DENSE:
        assert query.vector is not None
        return edge.QueryRequest(
            limit=query.limit,
            query=edge.Query.Nearest(list(query.vector), using=DENSE),
            filter=where,
            score_threshold=query.score_threshold,
            params=params,
            with_payload=True,
        )
    assert query.lexical is not None
    lexical = edge.Query.Nearest(_sparse(query.lexical), using=LEXICAL)
    if query.mode == SearchMode.SPARSE:
        return edge.QueryRequest(limit=query.limit, query=lexical, filter=where, with_payload=True)
    assert query.vector is not None
    candidates = max(query.limit, HYBRID_CANDIDATES)
    return edge.QueryRequest(
        limit=query.limit,
        prefetches=[
            edge.Prefetch(
                candidates,
                query=edge.Query.Nearest(list(query.vector), using=DENSE),
                params=params,
                filter=where,
            ),
            edge.Prefetch(candidates, query=lexical, filter=where),
        ],
        query=_fusion(query.fusion),
        with_payload=True,
    )


def _fusion(fusion: Fusion) -> edge.Fusion:
    """The engine's fusion (the stub types its kinds apart from ``Fusion``; they subclass it)."""
    if fusion == Fusion.RRF:
        return edge.Fusion.Rrf(RRF_K)  # type: ignore[return-value]
    return edge.Fusion.Dbsf()  # type: ignore[return-value]


def _matches(key: str, value: str) -> edge.FieldCondition:
    return edge.FieldCondition(key, match=edge.MatchValue(value))


def _document_filter(
    document_id: str, content_hash: str | None = None, *, staged: bool = False
) -> edge.Filter:
    """Points of one document, published or (``staged``) staged; with ``content_hash``, only
    those carrying that hash."""
    must: list[edge.FieldCondition] = [_matches(DOCUMENT_ID, document_id)]
    if content_hash is not None:
        must.append(_matches(CONTENT_HASH, content_hash))
    if staged:
        return edge.Filter(must=[*must, _matches(STATE, STAGED)])
    return edge.Filter(must=list(must), must_not=[_matches(STATE, STAGED)])


def _search_filter(where: SearchFilter, committing: Mapping[str, str]) -> edge.Filter:
    """All non-empty lists must match; within a list any value matches. Staged chunks are left
    out, except the new version of a document being committed, whose other versions are."""
    conditions: list[edge.ConditionType] = [
        edge.FieldCondition(key, match=edge.MatchAny(list(values)))
        for key, values in (
            (DOCUMENT_ID, where.document_ids),
            (TOPICS, where.topics),
            (ISSUER, where.issuers),
        )
        if values
    ]
    new_versions: list[edge.ConditionType] = [
        edge.Filter(must=[_matches(DOCUMENT_ID, document), _matches(CONTENT_HASH, version)])
        for document, version in committing.items()
    ]
    old_versions: list[edge.ConditionType] = [
        edge.Filter(
            must=[_matches(DOCUMENT_ID, document)], must_not=[_matches(CONTENT_HASH, version)]
        )
        for document, version in committing.items()
    ]
    staged = edge.Filter(must=[_matches(STATE, STAGED)], must_not=new_versions or None)
    return edge.Filter(must=conditions or None, must_not=[staged, *old_versions])
