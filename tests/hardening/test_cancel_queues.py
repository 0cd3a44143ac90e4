"""Cancellation and deadlines reach the two embedding queues: work for a caller that has gone
never reaches the model (the Embedder's batcher) or the Embedder (the Retriever's query batcher).

The Embedder's batcher runs a held model: a batch function that records what it is given and
waits until the test lets it finish, so a test can queue calls behind a running batch. The query
batcher talks to a recording Embedder on loopback over a real channel, directly and behind a
real Retriever process.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import numpy as np
import pytest

from services.common.errors import DeadlineExceeded
from services.embedder.backends.base import Embedded, EmbedItem, InputKind
from services.embedder.batcher import Batcher
from services.embedder.client import EmbedderClient
from services.retriever.client import RetrieverClient
from services.retriever.query_batcher import QueryBatcher
from tests.retriever.conftest import start_retriever
from tests.support.recording_embedder import (
    RecordingEmbedder,
    serve_recording_embedder,
    vector_of,
)


class HeldModel:
    """A batch function: records each batch's texts, and finishes a batch only once released."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    async def __call__(self, items: list[EmbedItem]) -> list[Embedded]:
        self.batches.append([item.text for item in items])
        self.started.set()
        await self.release.wait()
        return [Embedded(np.full(4, 0.5, dtype=np.float32), 1, False) for _ in items]


def items(*texts: str) -> list[EmbedItem]:
    return [EmbedItem(text, InputKind.QUERY, False, 1) for text in texts]


@pytest.fixture
async def held() -> AsyncIterator[tuple[HeldModel, Batcher]]:
    model = HeldModel()
    batcher = Batcher(
        model,
        max_batch_size=8,
        max_batch_tokens=1000,
        max_wait_s=0.0,
        max_queued_texts=100,
        max_item_tokens=256,
    )
    batcher.start()
    yield model, batcher
    model.release.set()
    await batcher.close()


async def test_a_cancelled_call_never_reaches_the_model(
    held: tuple[HeldModel, Batcher],
) -> None:
    model, batcher = held
    first = asyncio.ensure_future(batcher.submit(items("running")))
    await model.started.wait()  # the model is busy: what comes next queues
    gone = asyncio.ensure_future(batcher.submit(items("gone one", "gone two")))
    kept = asyncio.ensure_future(batcher.submit(items("kept")))
    await asyncio.sleep(0.01)
    gone.cancel()
    model.release.set()
    assert len(await first) == 1
    assert len(await kept) == 1
    assert gone.cancelled()
    assert model.batches == [["running"], ["kept"]]
    assert batcher.stats.dropped_texts == 2
    assert batcher.stats.model_batches == 2


async def test_a_call_past_its_deadline_is_dropped_and_fails_with_deadline_exceeded(
    held: tuple[HeldModel, Batcher],
) -> None:
    model, batcher = held
    loop = asyncio.get_running_loop()
    first = asyncio.ensure_future(batcher.submit(items("running")))
    await model.started.wait()
    late = asyncio.ensure_future(batcher.submit(items("too late"), deadline=loop.time() + 0.05))
    timely = asyncio.ensure_future(batcher.submit(items("in time"), deadline=loop.time() + 30))
    await asyncio.sleep(0.1)  # the first deadline passes while the model is busy
    model.release.set()
    await first
    assert len(await timely) == 1
    with pytest.raises(DeadlineExceeded) as raised:
        await late
    assert raised.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "too late" not in str(raised.value)
    assert model.batches == [["running"], ["in time"]]
    assert batcher.stats.dropped_texts == 1


async def test_a_query_whose_caller_left_is_not_sent(
    recorder: tuple[RecordingEmbedder, EmbedderClient],
) -> None:
    servicer, client = recorder
    servicer.delay_s = 0.2
    batcher = QueryBatcher(client, max_batch=64, max_in_flight=1)
    first = asyncio.ensure_future(batcher.embed("in flight"))
    await asyncio.sleep(0.05)  # the first call is in flight; the next queries wait for it
    gone = asyncio.ensure_future(batcher.embed("caller gone"))
    kept = asyncio.ensure_future(batcher.embed("caller waits"))
    await asyncio.sleep(0.01)
    gone.cancel()
    assert await first == pytest.approx(vector_of("in flight"))
    assert await kept == pytest.approx(vector_of("caller waits"))
    assert servicer.requests == [["in flight"], ["caller waits"]]
    await batcher.close()


async def test_a_query_past_its_deadline_is_not_sent(
    recorder: tuple[RecordingEmbedder, EmbedderClient],
) -> None:
    servicer, client = recorder
    servicer.delay_s = 0.2
    batcher = QueryBatcher(client, max_batch=64, max_in_flight=1)
    loop = asyncio.get_running_loop()
    first = asyncio.ensure_future(batcher.embed("in flight"))
    await asyncio.sleep(0.05)
    late = asyncio.ensure_future(batcher.embed("too late", deadline=loop.time() + 0.05))
    await first
    with pytest.raises(DeadlineExceeded):
        await late
    assert servicer.requests == [["in flight"]]
    await batcher.close()


async def test_an_embed_call_nobody_waits_for_is_cancelled_at_the_embedder(
    recorder: tuple[RecordingEmbedder, EmbedderClient],
) -> None:
    servicer, client = recorder
    servicer.delay_s = 5.0
    batcher = QueryBatcher(client, max_batch=64)
    one = asyncio.ensure_future(batcher.embed("first caller"))
    two = asyncio.ensure_future(batcher.embed("second caller"))
    await servicer.arrived.wait()  # both in one call, held at the Embedder
    one.cancel()
    await asyncio.sleep(0.1)
    assert servicer.cancelled == 0  # the second caller still waits for it
    two.cancel()
    await asyncio.wait_for(servicer.cancelled_event.wait(), 2)
    assert servicer.requests == [["first caller", "second caller"]]
    await batcher.close()


async def test_the_embed_call_carries_its_callers_latest_deadline(
    recorder: tuple[RecordingEmbedder, EmbedderClient],
) -> None:
    servicer, client = recorder
    batcher = QueryBatcher(client, max_batch=64)
    loop = asyncio.get_running_loop()
    await asyncio.gather(
        batcher.embed("soon", deadline=loop.time() + 2.0),
        batcher.embed("later", deadline=loop.time() + 4.0),
    )
    [remaining] = servicer.time_remaining
    assert remaining is not None and 3.0 < remaining <= 4.0
    await batcher.close()


async def test_a_search_passes_its_deadline_on_and_its_cancellation_reaches_the_embedder(
    tmp_path: Path,
) -> None:
    """Across a real Retriever process: the Embed call it makes for a Search carries what is
    left of the Search's deadline, and is cancelled at the Embedder when that deadline passes."""
    async with serve_recording_embedder() as (servicer, address):
        retriever = await start_retriever(tmp_path / "qdrant", address)
        try:
            async with RetrieverClient(retriever.address) as client:
                await client.search("warm the collection", timeout_s=30)
                servicer.delay_s = 10.0
                with pytest.raises(DeadlineExceeded):
                    await client.search("held at the embedder", timeout_s=1.5)
                await asyncio.wait_for(servicer.cancelled_event.wait(), 5)
        finally:
            await retriever.stop()
    assert servicer.requests[-1] == ["held at the embedder"]
    remaining = servicer.time_remaining[-1]
    # The deadline travels rounded to the header's unit: a little over 1.5 s may arrive. Without
    # it passed on, the Embed call would carry the method's own 30 s.
    assert remaining is not None and remaining < 2.0
