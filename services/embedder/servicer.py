"""The Embed and GetModelInfo handlers: validate, look up the query cache, enqueue, answer.

Error messages name the offending text by its index and say what is wrong with it; they never
quote it (texts may be written about a patient).

Every text's work is bounded before any is done: at most ``max_text_chars`` characters are
accepted, and only ``max_input_tokens × truncate_chars_per_token`` of them (the character
budget, a generous bound on what the model's window can hold) ever reach the tokenizer. A longer
text is cut to the budget with truncate, so the cost is proportional to what is kept, and
refused without it: it cannot fit the window.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import grpc
from briefing.v1 import embedder_pb2, embedder_pb2_grpc

from services.common.channels import call_deadline
from services.common.errors import InvalidArgument
from services.embedder.backends.base import Embedded, EmbeddingBackend, EmbedItem, InputKind
from services.embedder.batcher import Batcher
from services.embedder.cache import QueryCache
from services.embedder.config import EmbedderSettings

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
        settings: EmbedderSettings,
    ) -> None:
        self._backend = backend
        self._batcher = batcher
        self._cache = cache
        self._max_texts = settings.max_texts_per_request
        self._max_chars = settings.max_text_chars
        self._char_budget = backend.max_input_tokens * settings.truncate_chars_per_token

    async def Embed(
        self, request: embedder_pb2.EmbedRequest, context: Context
    ) -> embedder_pb2.EmbedResponse:
        originals = list(request.texts)
        kind = self._validate(originals, request.input_type)
        texts, cut = self._within_budget(originals, request.truncate)
        found: list[Embedded | None] = [None] * len(texts)
        if kind is InputKind.QUERY and self._cache.enabled:
            for index, text in enumerate(originals):
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
        for index, made in zip(missing, embedded_items, strict=True):
            embedded = dataclasses.replace(made, truncated=True) if cut[index] else made
            found[index] = embedded
            if kind is InputKind.QUERY:
                self._cache.put(originals[index], embedded)
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
                bytes=self._cache.bytes,
                max_bytes=self._cache.max_bytes,
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

    def _within_budget(self, texts: list[str], truncate: bool) -> tuple[list[str], list[bool]]:
        """The texts as the tokenizer may see them, and which were cut to the character budget;
        raises InvalidArgument for a text over ``max_text_chars``, or over the budget without
        truncate."""
        budget = self._char_budget
        too_long = [index for index, text in enumerate(texts) if len(text) > self._max_chars]
        if too_long:
            raise InvalidArgument(
                f"{_name_indices(too_long)} longer than {self._max_chars:,} characters "
                "(EMBEDDER_MAX_TEXT_CHARS); split it"
            )
        cut = [len(text) > budget for text in texts]
        if any(cut) and not truncate:
            first = cut.index(True)
            raise InvalidArgument(
                f"texts[{first}] has {len(texts[first]):,} characters, more than the model's "
                f"window of {self._backend.max_input_tokens} tokens can hold ({budget:,} "
                "characters, at EMBEDDER_TRUNCATE_CHARS_PER_TOKEN per token); shorten it or set "
                "truncate=true"
            )
        return [text[:budget] if over else text for text, over in zip(texts, cut, strict=True)], cut

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
