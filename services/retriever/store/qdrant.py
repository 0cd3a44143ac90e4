"""The chunk store on Qdrant: one ``AsyncQdrantClient`` per process, local mode or a server.

Qdrant's local mode (a folder) locks that folder against every other client and computes on the
event loop, so every read and write of the collection goes through this process. Every Qdrant
type (points, payloads, filters) stays in this module.

A collection has one unnamed dense vector and a sparse vector named ``lexical`` with Qdrant's IDF
modifier, which multiplies each stored BM25 term weight by the term's inverse document frequency
over the collection at query time. Hybrid search prefetches the best ``HYBRID_CANDIDATES`` of
each and fuses them in the Query API as the query asks (:class:`~.base.Fusion`: by their score
distributions, DBSF, by default; or by reciprocal rank), as every engine does (:mod:`.layout`).
The collection's metadata records the analyzer that made the lexical vectors once every point
has one; a collection made before lexical vectors has only the dense vector, and
:meth:`QdrantStore.add_lexical` adds the sparse one in place (the same layout a new collection
has).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

from qdrant_client import AsyncQdrantClient, models
from qdrant_client.conversions.common_types import PointId

from services.common.errors import FailedPrecondition
from services.common.logging import get_logger
from services.common.telemetry import get_tracer
from services.retriever.config import RetrieverSettings
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

# Upper bound on distinct documents counted by GetCollectionInfo (one facet call).
MAX_DOCUMENTS_COUNTED = 1_000_000

# The metadata key recording the analyzer that filled the lexical vectors.
LEXICAL_ANALYZER = "lexical_analyzer"
# Each fusion as the Query API takes it.
_FUSIONS: dict[Fusion, models.FusionQuery | models.RrfQuery] = {
    Fusion.DBSF: models.FusionQuery(fusion=models.Fusion.DBSF),
    Fusion.RRF: models.RrfQuery(rrf=models.Rrf(k=RRF_K)),
}
# How long a collection found without lexical vectors is believed to have none (another
# process may re-index it meanwhile); one found with them is believed for good.
LEXICAL_RECHECK_S = 30.0


def open_client(settings: RetrieverSettings) -> AsyncQdrantClient:
    """A client for the configured server, or for local mode in ``settings.qdrant_path``.

    Local mode reads its folder when constructed; this runs once at start-up, before serving.
    """
    if settings.qdrant_url:
        return AsyncQdrantClient(
            url=settings.qdrant_url,
            api_key=settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None,
            prefer_grpc=settings.qdrant_prefer_grpc,
        )
    settings.qdrant_path.mkdir(parents=True, exist_ok=True)
    try:
        return AsyncQdrantClient(path=str(settings.qdrant_path))
    except RuntimeError as exc:  # the folder is locked by another client
        raise FailedPrecondition(
            f"cannot open Qdrant local storage {settings.store_description}: {exc}. Local mode "
            "allows one process per folder: stop the other Retriever, point "
            "RETRIEVER_QDRANT_PATH elsewhere, or use a Qdrant server (QDRANT_URL)"
        ) from None


class QdrantStore(ChunkStore):
    """One collection of guideline chunks (keyword indexes for filters).

    The distance is the dot product. The Embedder's vectors are unit length (its contract), so
    this is exactly cosine similarity; a Qdrant server computes the two at the same cost, but
    local mode re-normalises every stored vector on every cosine query: 0.47 against 0.29 ms
    per search at 500 points, and the gap grows with the collection. A collection made earlier
    with cosine distance keeps it and gives the same scores.
    """

    def __init__(self, client: AsyncQdrantClient, collection: str, local: bool) -> None:
        super().__init__()
        self._client = client
        self.collection = collection
        self._local = local
        # Whether the collection has the sparse vector (None: not looked at yet), and the
        # analyzer it records with the time it was read.
        self._sparse: bool | None = None
        self._analyzer: tuple[str, float] | None = None

    async def _collection(self) -> models.CollectionInfo | None:
        """The collection's description, or None when it does not exist yet."""
        if not await self._client.collection_exists(self.collection):
            return None
        info = await self._client.get_collection(self.collection)
        self._sparse = LEXICAL in (info.config.params.sparse_vectors or {})
        return info

    async def ensure_collection(self, dimension: int, model: str, lexical_analyzer: str) -> None:
        info = await self._collection()
        existing = None if info is None else _vector_params(info).size
        if existing is None:
            await self._client.create_collection(
                self.collection,
                vectors_config=models.VectorParams(size=dimension, distance=models.Distance.DOT),
                sparse_vectors_config={LEXICAL: _SPARSE_PARAMS},
                metadata={LEXICAL_ANALYZER: lexical_analyzer},
            )
            self._sparse = True
            await self._create_payload_indexes()
        elif existing != dimension:
            raise FailedPrecondition(
                f"collection {self.collection} has {existing}-dimensional vectors but the "
                f"embedder ({model}) makes {dimension}; re-ingest into a new collection "
                "(RETRIEVER_COLLECTION) or run the embedder with the model that filled it"
            )
        else:
            # A collection made before staged versions lacks the state's index.
            await self._create_payload_indexes((STATE,))
            recovered = await self.recover_staged()
            if recovered.published or recovered.discarded:
                log.info(
                    "staged_chunks_recovered",
                    collection=self.collection,
                    published_documents=recovered.published,
                    discarded_chunks=recovered.discarded,
                )

    async def _create_payload_indexes(self, keys: Sequence[str] = INDEXED_KEYWORDS) -> None:
        # Local mode ignores payload indexes (and warns); a server needs them for fast filters.
        with warnings.catch_warnings():
            if self._local:
                warnings.simplefilter("ignore", UserWarning)
            for key in keys:
                await self._client.create_payload_index(
                    self.collection, key, field_schema=models.PayloadSchemaType.KEYWORD
                )

    async def search(self, query: SearchQuery) -> list[Hit]:
        query_filter = _search_filter(query.where, self.committing)
        with tracer.start_as_current_span(
            "qdrant.query_points",
            attributes={
                "retriever.collection": self.collection,
                "retriever.mode": str(query.mode),
                "retriever.limit": query.limit,
                "retriever.filtered": bool(query_filter.must),
                "retriever.score_threshold": query.score_threshold or 0.0,
            },
        ) as span:
            response = await self._client.query_points(
                self.collection,
                **_query_arguments(query, query_filter),
                limit=query.limit,
                with_payload=True,
            )
            span.set_attribute("retriever.hits", len(response.points))
        return [
            Hit(chunk_id=str(point.id), score=point.score, chunk=payload_chunk(point.payload or {}))
            for point in response.points
        ]

    async def count(
        self, document_id: str, content_hash: str | None = None, *, staged: bool = False
    ) -> int:
        result = await self._client.count(
            self.collection,
            count_filter=_document_filter(document_id, content_hash, staged=staged),
            exact=True,
        )
        return result.count

    async def upsert(self, records: Sequence[ChunkRecord], *, staged: bool = False) -> None:
        if self._sparse is None:
            await self._collection()
        points = [
            models.PointStruct(
                id=record.chunk.id,
                vector=(
                    {"": list(record.vector), LEXICAL: _sparse(record.lexical)}
                    if self._sparse
                    else list(record.vector)
                ),
                payload=chunk_payload(record.chunk, staged),
            )
            for record in records
        ]
        with tracer.start_as_current_span(
            "qdrant.upsert", attributes={"retriever.points": len(points)}
        ):
            await self._client.upsert(self.collection, points=points, wait=True)

    async def _publish(self, document_id: str, content_hash: str) -> None:
        await self._client.delete_payload(
            self.collection,
            keys=[STATE],
            points=models.FilterSelector(
                filter=_document_filter(document_id, content_hash, staged=True)
            ),
            wait=True,
        )

    async def _delete_other_versions(self, document_id: str, content_hash: str) -> int:
        return await self._delete_matching(
            models.Filter(
                must=[_matches(DOCUMENT_ID, document_id)],
                must_not=[_matches(CONTENT_HASH, content_hash)],
            )
        )

    async def discard_staged(self, document_id: str, *, content_hash: str | None = None) -> int:
        if not await self._client.collection_exists(self.collection):
            return 0
        return await self._delete_matching(_document_filter(document_id, content_hash, staged=True))

    async def _staged_versions(self) -> list[tuple[str, str]]:
        documents = await self._client.facet(
            self.collection,
            key=DOCUMENT_ID,
            facet_filter=models.Filter(must=[_matches(STATE, STAGED)]),
            limit=MAX_DOCUMENTS_COUNTED,
            exact=True,
        )
        versions = []
        for document in documents.hits:
            document_id = str(document.value)
            hashes = await self._client.facet(
                self.collection,
                key=CONTENT_HASH,
                facet_filter=_document_filter(document_id, staged=True),
                exact=True,
            )
            versions += [(document_id, str(found.value)) for found in hashes.hits]
        return versions

    async def delete_document(self, document_id: str) -> int:
        if not await self._client.collection_exists(self.collection):
            return 0
        return await self._delete_matching(models.Filter(must=[_matches(DOCUMENT_ID, document_id)]))

    async def _delete_matching(self, selector: models.Filter) -> int:
        found = await self._client.count(self.collection, count_filter=selector, exact=True)
        if found.count:
            await self._client.delete(
                self.collection, points_selector=models.FilterSelector(filter=selector), wait=True
            )
        return found.count

    async def info(self) -> CollectionInfo:
        info = await self._collection()
        if info is None:
            return CollectionInfo(points_count=0, dimension=0, distance="", documents_count=0)
        params = _vector_params(info)
        published = models.Filter(must_not=[_matches(STATE, STAGED)])
        points = await self._client.count(self.collection, count_filter=published, exact=True)
        facets = await self._client.facet(
            self.collection,
            key=DOCUMENT_ID,
            facet_filter=published,
            limit=MAX_DOCUMENTS_COUNTED,
            exact=True,
        )
        return CollectionInfo(
            points_count=points.count,
            dimension=params.size,
            distance=str(params.distance.value),
            documents_count=len(facets.hits),
            lexical_analyzer=self._recorded_analyzer(info),
        )

    async def is_healthy(self) -> bool:
        # One cheap round trip (a listing of the collections); in local mode, a read of the
        # folder this process holds.
        await self._client.get_collections()
        return True

    def _recorded_analyzer(self, info: models.CollectionInfo) -> str:
        recorded = str((info.config.metadata or {}).get(LEXICAL_ANALYZER) or "")
        analyzer = recorded if self._sparse else ""
        self._analyzer = (analyzer, time.monotonic())
        return analyzer

    async def lexical_analyzer(self) -> str:
        if self._analyzer is not None:
            analyzer, read_at = self._analyzer
            if analyzer or time.monotonic() - read_at < LEXICAL_RECHECK_S:
                return analyzer
        info = await self._collection()
        return "" if info is None else self._recorded_analyzer(info)

    async def add_lexical(
        self,
        vectorize: Callable[[StoredChunk], SparseVector],
        lexical_analyzer: str,
        batch_size: int,
        progress: Callable[[int], None] = lambda done: None,
    ) -> int:
        info = await self._collection()
        if info is None:
            raise FailedPrecondition(f"collection {self.collection} does not exist")
        await self._client.update_collection(self.collection, metadata={LEXICAL_ANALYZER: ""})
        self._analyzer = None
        if not self._sparse:
            await self._client.create_vector_name(
                self.collection,
                LEXICAL,
                models.SparseVectorNameConfig(
                    sparse=models.SparseVectorConfig(modifier=_SPARSE_PARAMS.modifier)
                ),
            )
            self._sparse = True
        done = 0
        offset: PointId | None = None
        while True:
            points, offset = await self._client.scroll(
                self.collection, limit=batch_size, offset=offset, with_payload=True
            )
            if points:
                await self._client.update_vectors(
                    self.collection,
                    points=[
                        models.PointVectors(
                            id=point.id,
                            vector={LEXICAL: _sparse(vectorize(_chunk_of(point)))},
                        )
                        for point in points
                    ],
                    wait=True,
                )
                done += len(points)
                progress(done)
            if offset is None:
                break
        await self._client.update_collection(
            self.collection, metadata={LEXICAL_ANALYZER: lexical_analyzer}
        )
        return done

    async def records(self, batch_size: int) -> AsyncIterator[list[ChunkRecord]]:
        if not await self._client.collection_exists(self.collection):
            return
        offset: PointId | None = None
        while True:
            points, offset = await self._client.scroll(
                self.collection,
                scroll_filter=models.Filter(must_not=[_matches(STATE, STAGED)]),
                limit=batch_size,
                offset=offset,
                with_vectors=True,
            )
            yield [_record(point) for point in points]
            if offset is None:
                return

    async def close(self) -> None:
        await self._client.close()


_SPARSE_PARAMS = models.SparseVectorParams(modifier=models.Modifier.IDF)


def _sparse(vector: SparseVector) -> models.SparseVector:
    return models.SparseVector(indices=list(vector.indices), values=list(vector.values))


_NO_TERMS = SparseVector((), ())


def _chunk_of(point: models.Record) -> StoredChunk:
    return payload_chunk(point.payload or {})


def _record(point: models.Record) -> ChunkRecord:
    """A stored point as written: its chunk, dense vector and lexical vector (empty if none)."""
    vector = point.vector
    named = vector if isinstance(vector, dict) else {"": vector}
    dense, lexical = named.get(""), named.get(LEXICAL)
    if not isinstance(dense, list) or (dense and not isinstance(dense[0], float)):
        raise FailedPrecondition("the collection uses named vectors; the Retriever expects one")
    terms = (
        SparseVector(tuple(lexical.indices), tuple(lexical.values))
        if isinstance(lexical, models.SparseVector)
        else _NO_TERMS
    )
    return ChunkRecord(payload_chunk(point.payload or {}), [float(v) for v in dense], terms)  # type: ignore[arg-type]


def _query_arguments(query: SearchQuery, query_filter: models.Filter | None) -> dict[str, Any]:
    """What ``query_points`` is asked in the query's mode (besides limit and payload)."""
    if query.mode == SearchMode.DENSE:
        assert query.vector is not None
        return {
            "query": list(query.vector),
            "score_threshold": query.score_threshold,
            "query_filter": query_filter,
        }
    assert query.lexical is not None
    lexical = _sparse(query.lexical)
    if query.mode == SearchMode.SPARSE:
        return {"query": lexical, "using": LEXICAL, "query_filter": query_filter}
    assert query.vector is not None
    candidates = max(query.limit, HYBRID_CANDIDATES)
    return {
        "prefetch": [
            models.Prefetch(query=list(query.vector), filter=query_filter, limit=candidates),
            models.Prefetch(query=lexical, using=LEXICAL, filter=query_filter, limit=candidates),
        ],
        "query": _FUSIONS[query.fusion],
    }


def _vector_params(info: models.CollectionInfo) -> models.VectorParams:
    vectors = info.config.params.vectors
    if not isinstance(vectors, models.VectorParams):
        raise FailedPrecondition("the collection uses named vectors; the Retriever expects one")
    return vectors


def _matches(key: str, value: str) -> models.FieldCondition:
    return models.FieldCondition(key=key, match=models.MatchValue(value=value))


def _document_filter(
    document_id: str, content_hash: str | None = None, *, staged: bool = False
) -> models.Filter:
    """Points of one document, published or (``staged``) staged; with ``content_hash``, only
    those carrying that hash."""
    must: list[models.Condition] = [_matches(DOCUMENT_ID, document_id)]
    if content_hash is not None:
        must.append(_matches(CONTENT_HASH, content_hash))
    if staged:
        return models.Filter(must=[*must, _matches(STATE, STAGED)])
    return models.Filter(must=must, must_not=[_matches(STATE, STAGED)])


def _search_filter(where: SearchFilter, committing: Mapping[str, str]) -> models.Filter:
    """All non-empty lists must match; within a list any value matches. Staged chunks are left
    out, except the new version of a document being committed, whose other versions are.

    Matched by the engine, through the keyword indexes on a server; local mode evaluates it in
    Python per point, which is why the lists' length is bounded (services.retriever.bounds).
    """
    conditions: list[models.Condition] = [
        models.FieldCondition(key=key, match=models.MatchAny(any=list(values)))
        for key, values in (
            (DOCUMENT_ID, where.document_ids),
            (TOPICS, where.topics),
            (ISSUER, where.issuers),
        )
        if values
    ]
    new_versions: list[models.Condition] = [
        models.Filter(must=[_matches(DOCUMENT_ID, document), _matches(CONTENT_HASH, version)])
        for document, version in committing.items()
    ]
    old_versions: list[models.Condition] = [
        models.Filter(
            must=[_matches(DOCUMENT_ID, document)], must_not=[_matches(CONTENT_HASH, version)]
        )
        for document, version in committing.items()
    ]
    # Nested only while a document is being committed: local mode evaluates the filter in Python
    # for every point, and at 3,000 points searched in 75 ms with the plain condition against
    # 117 ms with the nested one (measured interleaved).
    staged: models.Condition = (
        models.Filter(must=[_matches(STATE, STAGED)], must_not=new_versions)
        if new_versions
        else _matches(STATE, STAGED)
    )
    return models.Filter(must=conditions or None, must_not=[staged, *old_versions])
