"""QueryBatcher against a recording Embedder on loopback: what it sends and how errors spread."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from services.common.errors import InvalidArgument, Unavailable
from services.embedder.client import EmbedderClient
from services.retriever.query_batcher import QueryBatcher
from tests.support.recording_embedder import (
    RecordingEmbedder,
    vector_of,
)


async def later(batcher: QueryBatcher, query: str, after_s: float) -> list[float]:
    """``batcher.embed(query)``, asked ``after_s`` from now."""
    await asyncio.sleep(after_s)
    return await batcher.embed(query)


async def test_concurrent_queries_share_one_embed_call(
    recorder: tuple[RecordingEmbedder, EmbedderClient],
) -> None:
    servicer, client = recorder
    batcher = QueryBatcher(client, max_batch=64)
    queries = ["statin dose", "potassium check", "statin dose", "eGFR decline"]
    vectors = await asyncio.gather(*(batcher.embed(q) for q in queries))
    assert servicer.requests == [["statin dose", "potassium check", "eGFR decline"]]
    assert vectors == [pytest.approx(vector_of(q)) for q in queries]
    await batcher.close()


async def test_batches_are_capped(recorder: tuple[RecordingEmbedder, EmbedderClient]) -> None:
    servicer, client = recorder
    batcher = QueryBatcher(client, max_batch=3)
    queries = [f"query {i}" for i in range(7)]
    vectors = await asyncio.gather(*(batcher.embed(q) for q in queries))
    assert sorted(len(texts) for texts in servicer.requests) == [1, 3, 3]
    assert vectors == [pytest.approx(vector_of(q)) for q in queries]
    await batcher.close()


async def test_a_wait_gathers_queries_that_come_later(
    recorder: tuple[RecordingEmbedder, EmbedderClient],
) -> None:
    servicer, client = recorder
    batcher = QueryBatcher(client, max_batch=64, wait_s=0.05)

    await asyncio.gather(
        later(batcher, "first", 0.0), later(batcher, "second", 0.01), later(batcher, "third", 0.02)
    )
    assert servicer.requests == [["first", "second", "third"]]
    await batcher.close()


async def test_one_refused_query_fails_alone(
    recorder: tuple[RecordingEmbedder, EmbedderClient],
) -> None:
    servicer, client = recorder
    batcher = QueryBatcher(client, max_batch=64)
    results = await asyncio.gather(
        batcher.embed("good one"),
        batcher.embed("a bad one"),
        batcher.embed("good two"),
        return_exceptions=True,
    )
    assert results[0] == pytest.approx(vector_of("good one"))
    assert isinstance(results[1], InvalidArgument)
    assert results[2] == pytest.approx(vector_of("good two"))
    assert servicer.requests[0] == ["good one", "a bad one", "good two"]
    assert sorted(servicer.requests[1:]) == [["a bad one"], ["good one"], ["good two"]]
    await batcher.close()


async def test_an_unavailable_embedder_fails_every_waiting_query(
    recorder: tuple[RecordingEmbedder, EmbedderClient],
) -> None:
    servicer, client = recorder
    servicer.down = True
    batcher = QueryBatcher(client, max_batch=64)
    results = await asyncio.gather(
        batcher.embed("one"), batcher.embed("two"), return_exceptions=True
    )
    assert all(isinstance(result, Unavailable) for result in results), results
    servicer.down = False
    assert await batcher.embed("three") == pytest.approx(vector_of("three"))
    await batcher.close()


async def test_a_caller_that_gives_up_does_not_disturb_the_others(
    recorder: tuple[RecordingEmbedder, EmbedderClient],
) -> None:
    servicer, client = recorder
    servicer.delay_s = 0.2
    batcher = QueryBatcher(client, max_batch=64)
    impatient = asyncio.ensure_future(asyncio.wait_for(batcher.embed("impatient"), 0.05))
    patient = asyncio.ensure_future(batcher.embed("patient"))
    with pytest.raises(TimeoutError):
        await impatient
    assert await patient == pytest.approx(vector_of("patient"))
    assert [sorted(texts) for texts in servicer.requests] == [["impatient", "patient"]]
    await batcher.close()


async def test_queries_wait_for_a_call_in_flight_and_then_go_together(
    recorder: tuple[RecordingEmbedder, EmbedderClient],
) -> None:
    servicer, client = recorder
    servicer.delay_s = 0.1
    batcher = QueryBatcher(client, max_batch=64, max_in_flight=1)

    results = await asyncio.gather(
        later(batcher, "first", 0.0),
        later(batcher, "second", 0.02),
        later(batcher, "third", 0.03),
        later(batcher, "fourth", 0.04),
    )
    assert servicer.requests == [["first"], ["second", "third", "fourth"]]
    assert list(results) == [
        pytest.approx(vector_of(q)) for q in ("first", "second", "third", "fourth")
    ]
    await batcher.close()


async def test_a_closed_batcher_refuses_new_queries(
    recorder: tuple[RecordingEmbedder, EmbedderClient],
) -> None:
    servicer, client = recorder
    batcher = QueryBatcher(client, max_batch=64)
    await batcher.close()
    with pytest.raises(Unavailable, match="shutting down") as raised:
        await batcher.embed("after close")
    assert raised.value.code == grpc.StatusCode.UNAVAILABLE
    assert "after close" not in str(raised.value)
    assert servicer.requests == []


async def test_closing_still_answers_the_queries_already_waiting(
    recorder: tuple[RecordingEmbedder, EmbedderClient],
) -> None:
    servicer, client = recorder
    servicer.delay_s = 0.05
    batcher = QueryBatcher(client, max_batch=64, wait_s=10.0)
    waiting = asyncio.ensure_future(batcher.embed("asked before close"))
    await asyncio.sleep(0)  # queued, its flush 10 s away
    await batcher.close()
    assert waiting.done()
    assert waiting.result() == pytest.approx(vector_of("asked before close"))
    assert servicer.requests == [["asked before close"]]
