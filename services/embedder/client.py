"""The client other services use to reach the Embedder.

One channel per client, made by :func:`services.common.channels.create_channel` so that the
per-method deadlines and retries (both methods are idempotent) come from the service config.
A failed call is translated with :func:`services.common.errors.from_downstream`, so a caller
re-raises it as its own domain error without further work.

    async with EmbedderClient(settings.embedder_addr) as embedder:
        [vector] = await embedder.embed([query], "query")
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from briefing.v1 import embedder_pb2, embedder_pb2_grpc

from services.common.channels import MethodPolicy, ServiceClient
from services.common.credentials import TransportCredentials

SERVICE_NAME: str = embedder_pb2.DESCRIPTOR.services_by_name["Embedder"].full_name
METHOD_POLICIES: dict[str, MethodPolicy] = {
    "Embed": MethodPolicy(timeout_s=30.0, idempotent=True),
    "GetModelInfo": MethodPolicy(timeout_s=5.0, idempotent=True),
}

InputTypeName = Literal["query", "document"]
_INPUT_TYPES: dict[str, embedder_pb2.InputType] = {
    "query": embedder_pb2.INPUT_TYPE_QUERY,
    "document": embedder_pb2.INPUT_TYPE_DOCUMENT,
}


def input_type_value(
    input_type: InputTypeName | embedder_pb2.InputType,
) -> embedder_pb2.InputType:
    """The proto enum value for ``"query"``/``"document"`` (enum values pass through)."""
    if isinstance(input_type, str):
        return _INPUT_TYPES[input_type]
    return input_type


class EmbedderClient(ServiceClient):
    """Async client for ``briefing.v1.Embedder``; errors surface as ``ServiceError``s."""

    dependency = "embedder"
    service_name = SERVICE_NAME
    method_policies = METHOD_POLICIES

    def __init__(self, target: str, credentials: TransportCredentials | None = None) -> None:
        super().__init__(target, credentials)
        self._stub = embedder_pb2_grpc.EmbedderStub(self.channel)

    async def embed_response(
        self,
        texts: Sequence[str],
        input_type: InputTypeName | embedder_pb2.InputType,
        truncate: bool = False,
        timeout_s: float | None = None,
    ) -> embedder_pb2.EmbedResponse:
        """The full response: vectors with token counts, truncation flags, model, dimension."""
        request = embedder_pb2.EmbedRequest(
            texts=list(texts), input_type=input_type_value(input_type), truncate=truncate
        )
        return await self.call(self._stub.Embed(request, timeout=timeout_s))

    async def embed(
        self,
        texts: Sequence[str],
        input_type: InputTypeName | embedder_pb2.InputType,
        truncate: bool = False,
        timeout_s: float | None = None,
    ) -> list[list[float]]:
        """One unit-length vector per text, in order."""
        response = await self.embed_response(texts, input_type, truncate, timeout_s)
        return [list(embedding.values) for embedding in response.embeddings]

    async def model_info(self, timeout_s: float | None = None) -> embedder_pb2.GetModelInfoResponse:
        """Model name, backend, dimension, token window, batch limit, cache and batch counters."""
        request = embedder_pb2.GetModelInfoRequest()
        return await self.call(self._stub.GetModelInfo(request, timeout=timeout_s))
