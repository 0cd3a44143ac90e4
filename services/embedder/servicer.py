"""The Embed and GetModelInfo handlers: validate, look up the query cache, enqueue, answer.

Error messages name the offending text by its index and say what is wrong with it; they never
quote it (texts may be written about a patient).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import grpc
from briefing.v1 import embedder_pb2, embedder_pb2_grpc

from services.common.channels import call_deadline
from services.common.errors import InvalidArgument
from services.embedder.backends.base import Embedded, EmbeddingBackend, EmbedItem, InputKind
from services.embedder.batcher import Batcher
from services.embedder.cache import QueryCache

Context = grpc.aio.ServicerContext[Any, Any]
_KINDS: dict[int, InputKind] = {
    embedder_pb2.INPUT_TYPE_QUERY: InputKind.QUERY,
    embedder_pb2.INPUT_TYPE_DOCUMENT: InputKind.DOCUMENT,
}
_LISTED_INDICES = 5


class EmbedderServicer(embedder_pb2_grpc.EmbedderServicer):
    """briefing.v1.Embedder over a backend, a batcher and a query cache."""

    def __init__(
        self,
        backend: EmbeddingBackend,
        batcher: Batcher,
        cache: QueryCache,
        max_texts_per_request: int,
    ) -> None:
        self._backend = backend
        self._batcher = batcher
        self._cache = cache
        self._max_texts = max_texts_per_request

    async def Embed(
        self, request: embedder_pb2.EmbedRequest, context: Context
    ) -> embedder_pb2.EmbedResponse:
        texts = list(request.texts)
        kind = self._validate(texts, request.input_type)
        found: list[Embedded | None] = [None] * len(texts)
        if kind is InputKind.QUERY and self._cache.enabled:
            for index, text in enumerate(texts):
                found[index] = self._cache.get(text)
        missing = [index for index, hit in enumerate(found) if hit is None]
        counts: dict[int, int] = {}
        if missing:
            tokens = await self._backend.count_tokens([texts[i] for i in missing])
            counts = dict(zip(missing, tokens, strict=True))
        if not request.truncate:
            self._check_window(
                [counts[i] if hit is None else hit.token_count for i, hit in enumerate(found)]
            )
        items = [EmbedItem(texts[i], kind, request.truncate, counts[i]) for i in missing]
        embedded_items = await self._batcher.submit(items, call_deadline(context))
        for index, embedded in zip(missing, embedded_items, strict=True):
            found[index] = embedded
            if kind is InputKind.QUERY:
                self._cache.put(texts[index], embedded)
        results = [one for one in found if one is not None]
        return embedder_pb2.EmbedResponse(
            embeddings=[
                embedder_pb2.Embedding(
                    values=one.values.tolist(),
                    token_count=one.token_count,
                    truncated=one.truncated,
                )
                for one in results
            ],
            model=self._backend.model_name,
            dimension=self._backend.dimension,
            total_token_count=sum(one.token_count for one in results),
        )

    async def GetModelInfo(
        self, request: embedder_pb2.GetModelInfoRequest, context: Context
    ) -> embedder_pb2.GetModelInfoResponse:
        return embedder_pb2.GetModelInfoResponse(
            model=self._backend.model_name,
            backend=self._backend.backend_name,
            dimension=self._backend.dimension,
            max_input_tokens=self._backend.max_input_tokens,
            max_batch_texts=self._max_texts,
            cache=embedder_pb2.CacheStats(
                hits=self._cache.hits,
                misses=self._cache.misses,
                size=len(self._cache),
                capacity=self._cache.capacity,
            ),
            model_batches=self._batcher.stats.model_batches,
        )

    def _validate(self, texts: Sequence[str], input_type: int) -> InputKind:
        if not texts:
            raise InvalidArgument(f"texts is empty: send 1 to {self._max_texts} texts")
        if len(texts) > self._max_texts:
            raise InvalidArgument(
                f"texts has {len(texts)} items, more than the {self._max_texts} allowed per "
                "request; split the request"
            )
        kind = _KINDS.get(input_type)
        if kind is None:
            name = "INPUT_TYPE_UNSPECIFIED" if input_type == 0 else f"unknown value {input_type}"
            raise InvalidArgument(
                f"input_type is {name}: set INPUT_TYPE_QUERY or INPUT_TYPE_DOCUMENT"
            )
        blank = [index for index, text in enumerate(texts) if not text.strip()]
        if blank:
            raise InvalidArgument(
                f"{_name_indices(blank)} empty or only whitespace; every text needs content"
            )
        return kind

    def _check_window(self, token_counts: Sequence[int]) -> None:
        window = self._backend.max_input_tokens
        over = [index for index, count in enumerate(token_counts) if count > window]
        if not over:
            return
        first = over[0]
        about = "" if self._backend.exact_token_counts else "about "
        others = f" (and {len(over) - 1} more texts)" if len(over) > 1 else ""
        raise InvalidArgument(
            f"texts[{first}] has {about}{token_counts[first]} tokens, over the model's limit of "
            f"{window}{others}; shorten it or set truncate=true"
        )


def _name_indices(indices: Sequence[int]) -> str:
    shown = ", ".join(f"texts[{index}]" for index in indices[:_LISTED_INDICES])
    if len(indices) > _LISTED_INDICES:
        shown += f" and {len(indices) - _LISTED_INDICES} more"
    return shown + (" is" if len(indices) == 1 else " are")
