"""RPC handlers of briefing.v1.Retriever: validate, embed through the Embedder, query the store.

Ingest and DeleteDocument change the corpus every briefing rests on: each call, successful or
not, is one row of the audit trail (the caller and the document ids), written when it ends. A
change whose row cannot be written is reported as failed (UNAVAILABLE): retrying it is safe,
both methods being idempotent, and the retry is audited.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
from briefing.v1 import retriever_pb2, retriever_pb2_grpc

from services.common.audit import AuditTrail
from services.common.errors import FailedPrecondition, InvalidArgument
from services.common.limits import DEFAULT_SEARCH_LIMIT, MAX_QUERY_CHARS, MAX_SEARCH_LIMIT
from services.embedder.client import EmbedderClient
from services.retriever.client import SERVICE_NAME
from services.retriever.config import RetrieverSettings
from services.retriever.indexing import IngestSession
from services.retriever.query_batcher import QueryBatcher
from services.retriever.records import search_filter, search_hit
from services.retriever.store.base import ChunkStore, SearchQuery

Context = grpc.aio.ServicerContext[Any, Any]
INGEST = f"/{SERVICE_NAME}/Ingest"
DELETE_DOCUMENT = f"/{SERVICE_NAME}/DeleteDocument"
CHANGE_UNAUDITED = (
    "the change was made but could not be recorded in the audit trail; retry it (it is "
    "idempotent) once the database is back"
)


class CollectionGate:
    """Makes sure, once per process, that the collection exists with the Embedder's dimension.

    The first call asks the Embedder for its model (GetModelInfo) and creates the collection, or
    checks the existing one; later calls return the remembered dimension at once. A failure
    (Embedder unreachable, dimension mismatch) is not remembered, so the next call tries again.
    """

    def __init__(self, store: ChunkStore, embedder: EmbedderClient) -> None:
        self._store = store
        self._embedder = embedder
        self._lock = asyncio.Lock()
        self._dimension = 0

    async def dimension(self) -> int:
        """The collection's vector dimension, creating the collection on first use."""
        if self._dimension:
            return self._dimension
        async with self._lock:
            if not self._dimension:
                model = await self._embedder.model_info()
                await self._store.ensure_collection(model.dimension, model.model)
                self._dimension = model.dimension
        return self._dimension


def _validated_search(request: retriever_pb2.SearchRequest) -> tuple[str, int, float | None]:
    query = request.query.strip()
    if not query:
        raise InvalidArgument("query must not be empty")
    if len(request.query) > MAX_QUERY_CHARS:
        raise InvalidArgument(
            f"query is {len(request.query)} characters long; the limit is {MAX_QUERY_CHARS}"
        )
    limit = request.limit or DEFAULT_SEARCH_LIMIT
    if not 1 <= limit <= MAX_SEARCH_LIMIT:
        raise InvalidArgument(
            f"limit must be between 1 and {MAX_SEARCH_LIMIT} (0 means {DEFAULT_SEARCH_LIMIT}), "
            f"got {limit}"
        )
    threshold = request.score_threshold
    if not math.isfinite(threshold) or not -1.0 <= threshold <= 1.0:
        raise InvalidArgument(f"score_threshold must be between -1 and 1, got {threshold}")
    return query, limit, (threshold if threshold != 0.0 else None)


class RetrieverServicer(retriever_pb2_grpc.RetrieverServicer):
    """Search, Ingest, DeleteDocument and GetCollectionInfo over one collection of chunks."""

    def __init__(
        self,
        store: ChunkStore,
        embedder: EmbedderClient,
        settings: RetrieverSettings,
        audit: AuditTrail,
    ) -> None:
        self._store = store
        self._embedder = embedder
        self._settings = settings
        self._audit = audit
        self._gate = CollectionGate(store, embedder)
        self._queries = QueryBatcher(
            embedder,
            settings.query_batch_size,
            settings.query_batch_wait_ms / 1000,
            settings.query_calls_in_flight,
        )

    async def Search(
        self, request: retriever_pb2.SearchRequest, context: Context
    ) -> retriever_pb2.SearchResponse:
        query, limit, threshold = _validated_search(request)
        dimension = await self._gate.dimension()
        started = time.perf_counter()
        vector = await self._queries.embed(query)
        embedded = time.perf_counter()
        if len(vector) != dimension:
            raise FailedPrecondition(
                f"the embedder now makes {len(vector)}-dimensional vectors but collection "
                f"{self._store.collection} holds {dimension}-dimensional ones"
            )
        where = search_filter(request.filter)
        hits = await self._store.search(SearchQuery(query, vector, limit, threshold, where))
        searched = time.perf_counter()
        return retriever_pb2.SearchResponse(
            hits=[search_hit(hit) for hit in hits],
            embed_ms=(embedded - started) * 1000.0,
            search_ms=(searched - embedded) * 1000.0,
        )

    async def Ingest(
        self, request_iterator: AsyncIterator[retriever_pb2.IngestRequest], context: Context
    ) -> retriever_pb2.IngestResponse:
        session = IngestSession(
            self._store,
            self._embedder,
            self._gate.dimension,
            batch_size=self._settings.ingest_batch_size,
            concurrency=self._settings.ingest_concurrency,
        )
        async with self._audit.audited(INGEST, context, CHANGE_UNAUDITED) as audit:
            try:
                return await session.run(request_iterator)
            finally:
                audit.document_ids = session.document_ids

    async def DeleteDocument(
        self, request: retriever_pb2.DeleteDocumentRequest, context: Context
    ) -> retriever_pb2.DeleteDocumentResponse:
        async with self._audit.audited(DELETE_DOCUMENT, context, CHANGE_UNAUDITED) as audit:
            if not request.document_id.strip():
                raise InvalidArgument("document_id is required")
            audit.document_ids = [request.document_id]
            deleted = await self._store.delete_document(request.document_id)
        return retriever_pb2.DeleteDocumentResponse(chunks_deleted=deleted)

    async def GetCollectionInfo(
        self, request: retriever_pb2.GetCollectionInfoRequest, context: Context
    ) -> retriever_pb2.GetCollectionInfoResponse:
        info = await self._store.info()
        return retriever_pb2.GetCollectionInfoResponse(
            collection=self._store.collection,
            points_count=info.points_count,
            dimension=info.dimension,
            distance=info.distance,
            store=self._settings.store_description,
            documents_count=info.documents_count,
        )

    async def close(self) -> None:
        """Refuses new searches and finishes the query embeddings in flight (at shutdown)."""
        await self._queries.close()
