"""Coalesces the queries of concurrent Search calls into one Embed call.

The searches of one agent turn are gathered, so they reach the Retriever within a millisecond or
so of each other; under load, hundreds arrive together. Sent one Embed RPC each, they cost an RPC
apiece on both sides and often land in separate model batches, so a turn's five searches took
about two model calls in a row. Here every query that arrives before the flush (the next
event-loop iteration, or ``wait_s`` later) goes to the Embedder in one call, identical queries
once, at most ``max_batch`` texts per call.

At most ``max_in_flight`` Embed calls run at once (continuous batching, as in
text-embeddings-inference): under load, queries gather while the calls in flight run and go
together the moment one returns, so batches grow with the load instead of the number of calls.

One query the Embedder refuses must not fail the searches it was batched with: on
INVALID_ARGUMENT the batch is asked again one query at a time, so only the bad one fails.

Once closed (at shutdown) the batcher refuses new queries with UNAVAILABLE, which the caller
retries on another replica.

No Embed work outlives its callers. A query whose caller went away (its Search handler
cancelled) or whose deadline passed is left out when a batch is sent; an Embed call whose
callers have all gone is cancelled, which cancels it at the Embedder too; and each call's
timeout is the latest deadline among its callers, so the Embedder drops what nobody waits for.
"""

from __future__ import annotations

import asyncio
import functools
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from opentelemetry import trace

from services.common.channels import seconds_left
from services.common.errors import DeadlineExceeded, InvalidArgument, Unavailable
from services.common.telemetry import get_tracer
from services.embedder.client import EmbedderClient

tracer = get_tracer(__name__)


@dataclass
class _Waiting:
    query: str
    future: asyncio.Future[list[float]]
    deadline: float | None  # on the loop's clock
    caller: trace.SpanContext = field(
        default_factory=lambda: trace.get_current_span().get_span_context()
    )


class QueryBatcher:
    """``await batcher.embed(query)``: one query's vector, embedded with its neighbours."""

    def __init__(
        self, embedder: EmbedderClient, max_batch: int, wait_s: float = 0.0, max_in_flight: int = 2
    ) -> None:
        self._embedder = embedder
        self._max_batch = max_batch
        self._wait_s = wait_s
        self._max_in_flight = max_in_flight
        self._waiting: deque[_Waiting] = deque()
        self._flush_timer: asyncio.Handle | None = None
        self._in_flight: set[asyncio.Task[None]] = set()
        self._closed = False

    async def embed(self, query: str, deadline: float | None = None) -> list[float]:
        """The unit-length query vector of ``query`` (truncated to the model's window), for a
        caller whose deadline is ``deadline`` (on the loop's clock; None: none).

        Raises Unavailable once :meth:`close` has been called, DeadlineExceeded when the
        deadline passes before the query is sent.
        """
        if self._closed:
            raise Unavailable(
                "the retriever is shutting down and accepts no new searches; "
                "retry on another replica"
            )
        loop = asyncio.get_running_loop()
        waiting = _Waiting(query, loop.create_future(), deadline)
        self._waiting.append(waiting)
        if len(self._in_flight) < self._max_in_flight:
            if len(self._waiting) >= self._max_batch:
                self._flush()
            elif self._flush_timer is None:
                if self._wait_s > 0:
                    self._flush_timer = loop.call_later(self._wait_s, self._flush)
                else:
                    self._flush_timer = loop.call_soon(self._flush)
        # Otherwise the queries wait for a call in flight to return (_call_done).
        return await waiting.future

    def _flush(self) -> None:
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        loop = asyncio.get_running_loop()
        while self._waiting and len(self._in_flight) < self._max_in_flight:
            batch = self._take_batch(loop.time())
            if not batch:
                break
            task = loop.create_task(self._embed_batch(batch))
            self._in_flight.add(task)
            task.add_done_callback(self._call_done)
            for waiting in batch:
                waiting.future.add_done_callback(functools.partial(_abandon, task, batch))

    def _take_batch(self, now: float) -> list[_Waiting]:
        """Up to ``max_batch`` queries from the head whose callers still wait; the others are
        left out (and fail with DeadlineExceeded if their deadline has passed)."""
        batch: list[_Waiting] = []
        while self._waiting and len(batch) < self._max_batch:
            waiting = self._waiting.popleft()
            if waiting.future.done():
                continue
            if waiting.deadline is not None and now >= waiting.deadline:
                waiting.future.set_exception(
                    DeadlineExceeded("the search's deadline passed before its query was embedded")
                )
                continue
            batch.append(waiting)
        return batch

    def _call_done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        if self._waiting:  # they have waited for this call already: send them now
            self._flush()

    async def _embed_batch(self, batch: list[_Waiting]) -> None:
        texts = list(dict.fromkeys(waiting.query for waiting in batch))
        # The span is a child of the first caller's span and links the others' spans.
        first = trace.set_span_in_context(trace.NonRecordingSpan(batch[0].caller))
        links = [trace.Link(w.caller) for w in batch[1:] if w.caller.is_valid]
        with tracer.start_as_current_span(
            "retriever.embed_queries",
            context=first,
            links=links,
            attributes={"queries": len(batch)},
        ):
            try:
                vectors = await self._embedder.embed(
                    texts, "query", truncate=True, timeout_s=_timeout(batch)
                )
            except InvalidArgument as exc:
                if len(texts) == 1:
                    _fail(batch, exc)
                else:
                    alone = [w for w in batch if not w.future.done()]
                    await asyncio.gather(*(self._embed_batch([w]) for w in alone))
                return
            except Exception as exc:  # every caller gets the Embedder's error as its own
                _fail(batch, exc)
                return
        by_text = dict(zip(texts, vectors, strict=True))
        for waiting in batch:
            if not waiting.future.done():  # a caller whose deadline passed has gone
                waiting.future.set_result(by_text[waiting.query])

    async def close(self) -> None:
        """Refuses new queries, sends what is waiting and waits until every call has returned."""
        self._closed = True
        self._flush()
        while self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)


def _timeout(batch: Sequence[_Waiting]) -> float | None:
    """The Embed call's timeout: until the latest of its callers' deadlines (none if one of
    them has none)."""
    deadlines = [waiting.deadline for waiting in batch]
    return None if None in deadlines else seconds_left(max(d for d in deadlines if d is not None))


def _abandon(
    task: asyncio.Task[None], batch: Sequence[_Waiting], _: asyncio.Future[list[float]]
) -> None:
    """Cancels an Embed call once none of its callers waits for it."""
    if all(waiting.future.done() for waiting in batch):
        task.cancel()


def _fail(batch: list[_Waiting], error: Exception) -> None:
    for waiting in batch:
        if not waiting.future.done():
            waiting.future.set_exception(error)
