"""The vector store: one ``AsyncQdrantClient`` per process, owned by the Retriever.

Qdrant's local mode (a folder) locks that folder against every other client and computes on the
event loop, so every read and write of the collection goes through this process.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

from qdrant_client import AsyncQdrantClient, models

from services.common.errors import FailedPrecondition
from services.common.telemetry import get_tracer
from services.retriever.config import RetrieverSettings
from services.retriever.points import DOCUMENT_ID, INDEXED_KEYWORDS, document_filter, stale_filter

tracer = get_tracer(__name__)

# Upper bound on distinct documents counted by GetCollectionInfo (one facet call).
MAX_DOCUMENTS_COUNTED = 1_000_000


@dataclass(frozen=True)
class CollectionInfo:
    """What GetCollectionInfo reports; dimension 0 while the collection does not exist."""

    points_count: int
    dimension: int
    distance: str
    documents_count: int


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


class ChunkStore:
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

    async def dimension(self) -> int | None:
        """The collection's vector size, or None when it does not exist yet."""
        if not await self._client.collection_exists(self.collection):
            return None
        info = await self._client.get_collection(self.collection)
        return _vector_params(info).size

    async def ensure_collection(self, dimension: int, model: str) -> None:
        """Creates the collection for ``dimension``-sized vectors, or checks the existing one."""
        existing = await self.dimension()
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

    async def search(
        self,
        vector: Sequence[float],
        limit: int,
        score_threshold: float | None,
        query_filter: models.Filter | None,
    ) -> list[models.ScoredPoint]:
        """Nearest points, best first, with their payloads."""
        with tracer.start_as_current_span(
            "qdrant.query_points",
            attributes={
                "retriever.collection": self.collection,
                "retriever.limit": limit,
                "retriever.filtered": query_filter is not None,
                "retriever.score_threshold": score_threshold or 0.0,
            },
        ) as span:
            response = await self._client.query_points(
                self.collection,
                query=list(vector),
                limit=limit,
                score_threshold=score_threshold,
                query_filter=query_filter,
                with_payload=True,
            )
            span.set_attribute("retriever.hits", len(response.points))
        return response.points

    async def count(self, document_id: str, content_hash: str | None = None) -> int:
        """Points of one document (only those with ``content_hash`` when given)."""
        result = await self._client.count(
            self.collection, count_filter=document_filter(document_id, content_hash), exact=True
        )
        return result.count

    async def upsert(self, points: list[models.PointStruct]) -> None:
        """Writes points (overwriting those with the same ids) and waits until applied."""
        with tracer.start_as_current_span(
            "qdrant.upsert", attributes={"retriever.points": len(points)}
        ):
            await self._client.upsert(self.collection, points=points, wait=True)

    async def delete_stale(self, document_id: str, content_hash: str) -> int:
        """Removes the document's points whose hash is not ``content_hash``; returns how many."""
        return await self._delete_matching(stale_filter(document_id, content_hash))

    async def delete_document(self, document_id: str) -> int:
        """Removes every point of the document; returns how many."""
        if not await self._client.collection_exists(self.collection):
            return 0
        return await self._delete_matching(document_filter(document_id))

    async def _delete_matching(self, selector: models.Filter) -> int:
        found = await self._client.count(self.collection, count_filter=selector, exact=True)
        if found.count:
            await self._client.delete(
                self.collection, points_selector=models.FilterSelector(filter=selector), wait=True
            )
        return found.count

    async def info(self) -> CollectionInfo:
        """Points, dimension, distance and distinct documents of the collection."""
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


def _vector_params(info: models.CollectionInfo) -> models.VectorParams:
    vectors = info.config.params.vectors
    if not isinstance(vectors, models.VectorParams):
        raise FailedPrecondition("the collection uses named vectors; the Retriever expects one")
    return vectors
