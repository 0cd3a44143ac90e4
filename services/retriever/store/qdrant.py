"""The chunk store on Qdrant: one ``AsyncQdrantClient`` per process, local mode or a server.

Qdrant's local mode (a folder) locks that folder against every other client and computes on the
event loop, so every read and write of the collection goes through this process. Every Qdrant
type (points, payloads, filters) stays in this module.
"""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator, Sequence

from qdrant_client import AsyncQdrantClient, models
from qdrant_client.conversions.common_types import PointId

from services.common.errors import FailedPrecondition
from services.common.telemetry import get_tracer
from services.retriever.config import RetrieverSettings
from services.retriever.store.base import (
    ChunkRecord,
    ChunkStore,
    CollectionInfo,
    Hit,
    SearchFilter,
    SearchQuery,
)
from services.retriever.store.payload import (
    CONTENT_HASH,
    DOCUMENT_ID,
    INDEXED_KEYWORDS,
    ISSUER,
    TOPICS,
    chunk_payload,
    payload_chunk,
)

tracer = get_tracer(__name__)

# Upper bound on distinct documents counted by GetCollectionInfo (one facet call).
MAX_DOCUMENTS_COUNTED = 1_000_000


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
        self._client = client
        self.collection = collection
        self._local = local

    async def _dimension(self) -> int | None:
        """The collection's vector size, or None when it does not exist yet."""
        if not await self._client.collection_exists(self.collection):
            return None
        info = await self._client.get_collection(self.collection)
        return _vector_params(info).size

    async def ensure_collection(self, dimension: int, model: str) -> None:
        existing = await self._dimension()
        if existing is None:
            await self._client.create_collection(
                self.collection,
                vectors_config=models.VectorParams(size=dimension, distance=models.Distance.DOT),
            )
            await self._create_payload_indexes()
        elif existing != dimension:
            raise FailedPrecondition(
                f"collection {self.collection} has {existing}-dimensional vectors but the "
                f"embedder ({model}) makes {dimension}; re-ingest into a new collection "
                "(RETRIEVER_COLLECTION) or run the embedder with the model that filled it"
            )

    async def _create_payload_indexes(self) -> None:
        # Local mode ignores payload indexes (and warns); a server needs them for fast filters.
        with warnings.catch_warnings():
            if self._local:
                warnings.simplefilter("ignore", UserWarning)
            for key in INDEXED_KEYWORDS:
                await self._client.create_payload_index(
                    self.collection, key, field_schema=models.PayloadSchemaType.KEYWORD
                )

    async def search(self, query: SearchQuery) -> list[Hit]:
        query_filter = _search_filter(query.where)
        with tracer.start_as_current_span(
            "qdrant.query_points",
            attributes={
                "retriever.collection": self.collection,
                "retriever.limit": query.limit,
                "retriever.filtered": query_filter is not None,
                "retriever.score_threshold": query.score_threshold or 0.0,
            },
        ) as span:
            response = await self._client.query_points(
                self.collection,
                query=list(query.vector),
                limit=query.limit,
                score_threshold=query.score_threshold,
                query_filter=query_filter,
                with_payload=True,
            )
            span.set_attribute("retriever.hits", len(response.points))
        return [
            Hit(chunk_id=str(point.id), score=point.score, chunk=payload_chunk(point.payload or {}))
            for point in response.points
        ]

    async def count(self, document_id: str, content_hash: str | None = None) -> int:
        result = await self._client.count(
            self.collection, count_filter=_document_filter(document_id, content_hash), exact=True
        )
        return result.count

    async def upsert(self, records: Sequence[ChunkRecord]) -> None:
        points = [
            models.PointStruct(
                id=record.chunk.id, vector=list(record.vector), payload=chunk_payload(record.chunk)
            )
            for record in records
        ]
        with tracer.start_as_current_span(
            "qdrant.upsert", attributes={"retriever.points": len(points)}
        ):
            await self._client.upsert(self.collection, points=points, wait=True)

    async def delete_stale(self, document_id: str, content_hash: str) -> int:
        return await self._delete_matching(
            models.Filter(
                must=[_matches(DOCUMENT_ID, document_id)],
                must_not=[_matches(CONTENT_HASH, content_hash)],
            )
        )

    async def delete_document(self, document_id: str) -> int:
        if not await self._client.collection_exists(self.collection):
            return 0
        return await self._delete_matching(_document_filter(document_id))

    async def _delete_matching(self, selector: models.Filter) -> int:
        found = await self._client.count(self.collection, count_filter=selector, exact=True)
        if found.count:
            await self._client.delete(
                self.collection, points_selector=models.FilterSelector(filter=selector), wait=True
            )
        return found.count

    async def info(self) -> CollectionInfo:
        if not await self._client.collection_exists(self.collection):
            return CollectionInfo(points_count=0, dimension=0, distance="", documents_count=0)
        info = await self._client.get_collection(self.collection)
        params = _vector_params(info)
        facets = await self._client.facet(
            self.collection, key=DOCUMENT_ID, limit=MAX_DOCUMENTS_COUNTED, exact=True
        )
        return CollectionInfo(
            points_count=info.points_count or 0,
            dimension=params.size,
            distance=str(params.distance.value),
            documents_count=len(facets.hits),
        )

    async def records(self, batch_size: int) -> AsyncIterator[list[ChunkRecord]]:
        if not await self._client.collection_exists(self.collection):
            return
        offset: PointId | None = None
        while True:
            points, offset = await self._client.scroll(
                self.collection, limit=batch_size, offset=offset, with_vectors=True
            )
            yield [
                ChunkRecord(payload_chunk(point.payload or {}), _dense_vector(point.vector))
                for point in points
            ]
            if offset is None:
                return

    async def close(self) -> None:
        await self._client.close()


def _vector_params(info: models.CollectionInfo) -> models.VectorParams:
    vectors = info.config.params.vectors
    if not isinstance(vectors, models.VectorParams):
        raise FailedPrecondition("the collection uses named vectors; the Retriever expects one")
    return vectors


def _dense_vector(vector: models.VectorStructOutput | None) -> list[float]:
    if not isinstance(vector, list) or (vector and not isinstance(vector[0], float)):
        raise FailedPrecondition("the collection uses named vectors; the Retriever expects one")
    return [float(v) for v in vector]  # type: ignore[arg-type]


def _matches(key: str, value: str) -> models.FieldCondition:
    return models.FieldCondition(key=key, match=models.MatchValue(value=value))


def _document_filter(document_id: str, content_hash: str | None = None) -> models.Filter:
    """Points of one document; with ``content_hash``, only those carrying that hash."""
    must: list[models.Condition] = [_matches(DOCUMENT_ID, document_id)]
    if content_hash is not None:
        must.append(_matches(CONTENT_HASH, content_hash))
    return models.Filter(must=must)


def _search_filter(where: SearchFilter) -> models.Filter | None:
    """All non-empty lists must match; within a list any value matches. None when unrestricted."""
    conditions: list[models.Condition] = [
        models.FieldCondition(key=key, match=models.MatchAny(any=list(values)))
        for key, values in (
            (DOCUMENT_ID, where.document_ids),
            (TOPICS, where.topics),
            (ISSUER, where.issuers),
        )
        if values
    ]
    return models.Filter(must=conditions) if conditions else None
