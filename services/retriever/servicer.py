"""RPC handlers of briefing.v1.Retriever: validate, embed through the Embedder, query the store.

Ingest and DeleteDocument change the corpus every briefing rests on: each call, successful or
not, is one row of the audit trail (the caller and the document ids), written when it ends. A
change whose row cannot be written is reported as failed (UNAVAILABLE): retrying it is safe,
both methods being idempotent, and the retry is audited.

A search runs in the mode asked for, or by default hybrid (dense and lexical, fused) when the
collection has lexical vectors made by this Retriever's analyzer, else dense. Sparse search needs
no embedding; the lexical side of a query is its BM25 terms and those of its synonyms.

Requests are bounded before their work starts (services.retriever.bounds): filter lists, each
ingested chunk's fields, its document's declared chunk count, and the chunks of one stream.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
from briefing.v1 import retriever_pb2, retriever_pb2_grpc
from opentelemetry import metrics
from opentelemetry.semconv.attributes.db_attributes import DB_OPERATION_NAME, DB_SYSTEM_NAME
from opentelemetry.semconv.metrics.db_metrics import DB_CLIENT_OPERATION_DURATION

from services.common.audit import AuditTrail
from services.common.channels import call_deadline
from services.common.errors import FailedPrecondition, InvalidArgument
from services.common.limits import DEFAULT_SEARCH_LIMIT, MAX_QUERY_CHARS, MAX_SEARCH_LIMIT
from services.common.metrics import DURATION_BUCKETS_S
from services.embedder.client import EmbedderClient
from services.retriever.bounds import bounded_ingest, check_filter
from services.retriever.client import SERVICE_NAME
from services.retriever.config import RetrieverSettings
from services.retriever.indexing import IngestSession
from services.retriever.lexical import ANALYZER, Analyzer
from services.retriever.query_batcher import QueryBatcher
from services.retriever.records import (
    expansions,
    search_filter,
    search_hit,
    search_mode,
    search_mode_message,
)
from services.retriever.store.base import ChunkStore, Fusion, SearchMode, SearchQuery
from services.retriever.synonyms import Synonyms

Context = grpc.aio.ServicerContext[Any, Any]
INGEST = f"/{SERVICE_NAME}/Ingest"
DELETE_DOCUMENT = f"/{SERVICE_NAME}/DeleteDocument"
CHANGE_UNAUDITED = (
    "the change was made but could not be recorded in the audit trail; retry it (it is "
    "idempotent) once the database is back"
)

SEARCH_MODE = "retriever.search.mode"
STORE_ENGINE = "retriever.store.engine"


class SearchMetrics:
    """A search's time (query embedding and store together) by mode, and the store's part of it
    by mode and engine (the semantic conventions' database-client duration, Qdrant's system)."""

    def __init__(self, engine: str, meter: metrics.Meter | None = None) -> None:
        meter = meter or metrics.get_meter(__name__)
        self._search = meter.create_histogram(
            "retriever.search.duration",
            unit="s",
            description="Searches: query embedding and store query, by mode.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS_S,
        )
        self._store = meter.create_histogram(
            DB_CLIENT_OPERATION_DURATION,
            unit="s",
            description="Store queries of searches, by mode and engine.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS_S,
        )
        self._by_mode = {mode: {SEARCH_MODE: mode.value} for mode in SearchMode}
        self._store_by_mode = {
            mode: {
                DB_SYSTEM_NAME: "qdrant",
                DB_OPERATION_NAME: "search",
                SEARCH_MODE: mode.value,
                STORE_ENGINE: engine,
            }
            for mode in SearchMode
        }

    def record(self, mode: SearchMode, total_s: float, store_s: float) -> None:
        self._search.record(total_s, self._by_mode[mode])
        self._store.record(store_s, self._store_by_mode[mode])


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
                await self._store.ensure_collection(model.dimension, model.model, ANALYZER)
                self._dimension = model.dimension
        return self._dimension


def _validated_search(
    request: retriever_pb2.SearchRequest,
) -> tuple[str, int, float | None, SearchMode | None]:
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
    mode = search_mode(request.mode)
    if threshold != 0.0 and mode in (SearchMode.SPARSE, SearchMode.HYBRID):
        raise InvalidArgument(
            f"score_threshold is a cosine similarity and applies to dense search only, not to "
            f"{mode}: ask for SEARCH_MODE_DENSE or leave score_threshold at 0"
        )
    return query, limit, (threshold if threshold != 0.0 else None), mode


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
        self._analyzer = Analyzer()
        self._synonyms = Synonyms.from_settings(settings, self._analyzer)
        self._queries = QueryBatcher(
            embedder,
            settings.query_batch_size,
            settings.query_batch_wait_ms / 1000,
            settings.query_calls_in_flight,
        )
        self._metrics = SearchMetrics(settings.store_engine)

    async def Search(
        self, request: retriever_pb2.SearchRequest, context: Context
    ) -> retriever_pb2.SearchResponse:
        query, limit, threshold, requested = _validated_search(request)
        check_filter(request.filter, self._settings)
        dimension = await self._gate.dimension()
        mode = await self._mode(requested, threshold)
        started = time.perf_counter()
        vector = None
        if mode != SearchMode.SPARSE:
            vector = await self._queries.embed(query, call_deadline(context))
            if len(vector) != dimension:
                raise FailedPrecondition(
                    f"the embedder now makes {len(vector)}-dimensional vectors but collection "
                    f"{self._store.collection} holds {dimension}-dimensional ones"
                )
        embedded = time.perf_counter()
        lexical = None if mode == SearchMode.DENSE else self._synonyms.lexical_query(query)
        hits = await self._store.search(
            SearchQuery(
                mode=mode,
                limit=limit,
                vector=vector,
                lexical=None if lexical is None else lexical.vector,
                score_threshold=threshold,
                where=search_filter(request.filter),
                fusion=Fusion(self._settings.hybrid_fusion),
            )
        )
        searched = time.perf_counter()
        self._metrics.record(mode, searched - started, searched - embedded)
        return retriever_pb2.SearchResponse(
            hits=[search_hit(hit) for hit in hits],
            embed_ms=(embedded - started) * 1000.0,
            search_ms=(searched - embedded) * 1000.0,
            mode=search_mode_message(mode),
            expansions=expansions(() if lexical is None else lexical.expansions),
        )

    async def _mode(self, requested: SearchMode | None, threshold: float | None) -> SearchMode:
        """The mode to run: the one asked for, or the default for this collection."""
        recorded = await self._store.lexical_analyzer()
        if requested is None:
            lexical = recorded == ANALYZER and threshold is None
            return SearchMode.HYBRID if lexical else SearchMode.DENSE
        if requested != SearchMode.DENSE and recorded != ANALYZER:
            made = f"were made by {recorded}, not {ANALYZER}" if recorded else "are missing"
            raise FailedPrecondition(
                f"{requested} search needs lexical vectors, and those of collection "
                f"{self._store.collection} {made} (made before lexical search, or a re-index "
                "did not finish): run `python -m services.retriever.reindex` with the "
                "Retriever stopped, or search in dense mode"
            )
        return requested

    async def Ingest(
        self, request_iterator: AsyncIterator[retriever_pb2.IngestRequest], context: Context
    ) -> retriever_pb2.IngestResponse:
        session = IngestSession(
            self._store,
            self._embedder,
            self._gate.dimension,
            analyzer=self._analyzer,
            batch_size=self._settings.ingest_batch_size,
            concurrency=self._settings.ingest_concurrency,
        )
        async with self._audit.audited(INGEST, context, CHANGE_UNAUDITED) as audit:
            try:
                return await session.run(bounded_ingest(request_iterator, self._settings))
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
        modes = [SearchMode.DENSE] if info.dimension else []
        if info.lexical_analyzer == ANALYZER:
            modes += [SearchMode.SPARSE, SearchMode.HYBRID]
        return retriever_pb2.GetCollectionInfoResponse(
            collection=self._store.collection,
            points_count=info.points_count,
            dimension=info.dimension,
            distance=info.distance,
            store=self._settings.store_description,
            documents_count=info.documents_count,
            search_modes=[search_mode_message(mode) for mode in modes],
            lexical_analyzer=info.lexical_analyzer,
        )

    async def close(self) -> None:
        """Refuses new searches and finishes the query embeddings in flight (at shutdown)."""
        await self._queries.close()
