"""The Embedder's work per request is bounded: a huge text with truncate reaches the tokenizer
only up to the character budget, the query cache is bounded in bytes, and an oversized text is
refused naming its setting."""

from __future__ import annotations

import tracemalloc
import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
import numpy as np
import pytest
from briefing.v1 import embedder_pb2, embedder_pb2_grpc

from services.common.config import load_settings
from services.embedder.backends.base import Embedded
from services.embedder.backends.local import LocalBackend
from services.embedder.batcher import Batcher
from services.embedder.cache import QueryCache, entry_bytes
from services.embedder.config import EmbedderSettings
from services.embedder.servicer import EmbedderServicer
from tests.hardening.conftest import Stack

QUERY = embedder_pb2.INPUT_TYPE_QUERY
DOCUMENT = embedder_pb2.INPUT_TYPE_DOCUMENT


class NoDeadline:
    """The one part of a handler's context the Embed servicer reads: a call without a deadline."""

    def time_remaining(self) -> float | None:
        return None


class LengthRecorder:
    """Passes every call through to the real tokenizer (or model call), noting the longest text
    it was given."""

    def __init__(self, tokenize: Any) -> None:
        self._tokenize = tokenize
        self.longest = 0

    def __call__(self, texts: Any, *args: Any, **kwargs: Any) -> Any:
        self.longest = max([self.longest, *(len(text) for text in texts)])
        return self._tokenize(texts, *args, **kwargs)


@pytest.fixture(scope="module")
async def local() -> AsyncIterator[LocalBackend]:
    backend = await LocalBackend.load(threads=1)
    yield backend
    await backend.close()


async def test_a_huge_text_with_truncate_reaches_the_tokenizer_cut_to_the_budget(
    local: LocalBackend,
) -> None:
    settings = load_settings(EmbedderSettings)
    budget = local.max_input_tokens * settings.truncate_chars_per_token
    counter = LengthRecorder(local._counter)
    model_input = LengthRecorder(local._encode)
    local._counter = counter
    local._encode = model_input  # type: ignore[method-assign]
    batcher = Batcher(
        local.embed,
        max_batch_size=8,
        max_batch_tokens=4096,
        max_wait_s=0.0,
        max_queued_texts=64,
        max_item_tokens=local.max_input_tokens,
        max_concurrent_batches=1,
    )
    batcher.start()
    servicer = EmbedderServicer(local, batcher, QueryCache(0, 0), settings)
    huge = "metformin and kidney function " * 3_300  # 99,000 characters
    try:
        response = await servicer.Embed(
            embedder_pb2.EmbedRequest(texts=[huge], input_type=DOCUMENT, truncate=True),
            NoDeadline(),  # type: ignore[arg-type]
        )
    finally:
        await batcher.close()
    assert response.embeddings[0].truncated
    assert 0 < counter.longest <= budget
    assert 0 < model_input.longest <= budget


def test_the_cache_holds_at_most_its_bytes() -> None:
    """700 distinct 1 MB queries once grew the embedder by 860 MB for good."""
    limit = 8 * 1024 * 1024
    cache = QueryCache(capacity=4096, max_bytes=limit)
    vector = np.zeros(384, dtype=np.float32)
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        for index in range(100):
            text = f"{index:04d}" + "q" * 1_000_000
            cache.put(text, Embedded(values=vector.copy(), token_count=3, truncated=False))
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert cache.bytes <= limit
    assert 0 < len(cache) < 100
    assert held - before < limit + 1024 * 1024, "the cache keeps more than its byte budget"


def test_an_entry_bigger_than_the_budget_is_not_kept() -> None:
    cache = QueryCache(capacity=10, max_bytes=10_000)
    one = Embedded(values=np.zeros(4, dtype=np.float32), token_count=1, truncated=False)
    cache.put("x" * 20_000, one)
    cache.put("small", one)
    assert len(cache) == 1
    assert cache.bytes == entry_bytes("small", one)


async def test_the_service_cache_stays_within_its_bytes(stack: Stack) -> None:
    # EMBEDDER_CACHE_MAX_BYTES is 1,000,000 in this stack: 40 queries of 50,000 characters
    # would be 2 MB of texts alone.
    async with grpc.aio.insecure_channel(stack.embedder) as channel:
        stub = embedder_pb2_grpc.EmbedderStub(channel)
        for _ in range(40):
            text = f"{uuid.uuid4().hex} " + "aspirin " * 6_250
            request = embedder_pb2.EmbedRequest(texts=[text], input_type=QUERY, truncate=True)
            await stub.Embed(request, timeout=120)
        info = await stub.GetModelInfo(embedder_pb2.GetModelInfoRequest(), timeout=30)
    assert info.cache.max_bytes == 1_000_000
    assert 0 < info.cache.bytes <= info.cache.max_bytes


@pytest.mark.parametrize(
    ("truncate", "setting"),
    [(True, "EMBEDDER_MAX_TEXT_CHARS"), (False, "EMBEDDER_MAX_TEXT_CHARS")],
)
async def test_a_text_over_the_character_limit_is_refused(
    stack: Stack, truncate: bool, setting: str
) -> None:
    async with grpc.aio.insecure_channel(stack.embedder) as channel:
        stub = embedder_pb2_grpc.EmbedderStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.Embed(
                embedder_pb2.EmbedRequest(
                    texts=["fine", "x" * 100_001], input_type=DOCUMENT, truncate=truncate
                ),
                timeout=60,
            )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "texts[1] is longer than 100,000 characters" in str(refused.value.details())
    assert setting in str(refused.value.details())


async def test_a_text_over_the_budget_without_truncate_is_refused(stack: Stack) -> None:
    async with grpc.aio.insecure_channel(stack.embedder) as channel:
        stub = embedder_pb2_grpc.EmbedderStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.Embed(
                embedder_pb2.EmbedRequest(texts=["word " * 2_000], input_type=DOCUMENT),
                timeout=60,
            )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = str(refused.value.details())
    assert "texts[0] has 10,000 characters" in details
    assert "EMBEDDER_TRUNCATE_CHARS_PER_TOKEN" in details and "truncate=true" in details
