"""The client other programs use to reach the Retriever (the ingest CLI, the orchestrator).

One channel per client, made by :func:`services.common.channels.create_channel`, so deadlines and
retries come from the service config: Search, DeleteDocument and GetCollectionInfo are idempotent
and retried on UNAVAILABLE; Ingest (a client stream) is never retried. A failed call is
translated with :func:`services.common.errors.from_downstream` into a ``ServiceError``.

    async with RetrieverClient(settings.retriever_addr) as retriever:
        response = await retriever.search("metformin dose when eGFR falls", limit=5)
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Sequence

from briefing.v1 import retriever_pb2, retriever_pb2_grpc

from services.common.channels import MethodPolicy, ServiceClient
from services.common.credentials import TransportCredentials

SERVICE_NAME: str = retriever_pb2.DESCRIPTOR.services_by_name["Retriever"].full_name
METHOD_POLICIES: dict[str, MethodPolicy] = {
    "Search": MethodPolicy(timeout_s=15.0, idempotent=True),
    "Ingest": MethodPolicy(timeout_s=600.0, idempotent=False),
    "DeleteDocument": MethodPolicy(timeout_s=30.0, idempotent=True),
    "GetCollectionInfo": MethodPolicy(timeout_s=10.0, idempotent=True),
}


class RetrieverClient(ServiceClient):
    """Async client for ``briefing.v1.Retriever``; errors surface as ``ServiceError``s."""

    dependency = "retriever"
    service_name = SERVICE_NAME
    method_policies = METHOD_POLICIES

    def __init__(self, target: str, credentials: TransportCredentials | None = None) -> None:
        super().__init__(target, credentials)
        self._stub = retriever_pb2_grpc.RetrieverStub(self.channel)

    async def search(
        self,
        query: str,
        *,
        limit: int = 0,
        score_threshold: float = 0.0,
        document_ids: Sequence[str] = (),
        topics: Sequence[str] = (),
        issuers: Sequence[str] = (),
        mode: retriever_pb2.SearchMode = retriever_pb2.SEARCH_MODE_UNSPECIFIED,
        timeout_s: float | None = None,
    ) -> retriever_pb2.SearchResponse:
        """Hits best first (limit 0 means the server default, 5), with timings, the mode that
        ran (unspecified asks for the server's default, hybrid) and the synonyms it added."""
        request = retriever_pb2.SearchRequest(
            query=query,
            limit=limit,
            score_threshold=score_threshold,
            filter=retriever_pb2.SearchFilter(
                document_ids=list(document_ids), topics=list(topics), issuers=list(issuers)
            ),
            mode=mode,
        )
        return await self.call(self._stub.Search(request, timeout=timeout_s))

    async def ingest(
        self, chunks: AsyncIterable[retriever_pb2.IngestChunk], timeout_s: float | None = None
    ) -> retriever_pb2.IngestResponse:
        """Streams chunks (each document's chunks together, in order) and returns the counts."""

        async def requests() -> AsyncIterator[retriever_pb2.IngestRequest]:
            async for chunk in chunks:
                yield retriever_pb2.IngestRequest(chunk=chunk)

        return await self.call(self._stub.Ingest(requests(), timeout=timeout_s))

    async def delete_document(self, document_id: str, timeout_s: float | None = None) -> int:
        """Removes a document's chunks; returns how many there were."""
        request = retriever_pb2.DeleteDocumentRequest(document_id=document_id)
        response = await self.call(self._stub.DeleteDocument(request, timeout=timeout_s))
        return response.chunks_deleted

    async def collection_info(
        self, timeout_s: float | None = None
    ) -> retriever_pb2.GetCollectionInfoResponse:
        """Collection name, points, dimension, distance, store and documents."""
        request = retriever_pb2.GetCollectionInfoRequest()
        return await self.call(self._stub.GetCollectionInfo(request, timeout=timeout_s))
