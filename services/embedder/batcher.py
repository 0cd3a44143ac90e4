"""Dynamic batching, in the manner of text-embeddings-inference.

Embed calls put their texts on one queue; a worker takes texts from the head into model
batches bounded by a text count and a token budget, so that many concurrent calls share a few
model calls. A call's texts may span several batches; its results are put back in order.

When to run a batch: as soon as the model is free. The only waiting is at the start of a burst
(the model idle, nothing left over from a running batch): the worker then waits up to
``max_wait_s`` for the batch to fill. That wait is what lets the searches an agent turn gathers,
which reach the embedder a fraction of a millisecond apart, share one model call instead of
queueing behind each other; it costs a lone query at most ``max_wait_s``. Under load the texts
that queued during the previous batch go at once.

Admission control: when the texts already queued plus the new ones exceed
``max_queued_texts``, the call is refused at once with RESOURCE_EXHAUSTED. (A call arriving at
an empty queue is always admitted, so one large call cannot be starved.) A call whose caller
went away has its remaining texts dropped from the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from opentelemetry import metrics, trace

from services.common.errors import ResourceExhausted, Unavailable
from services.common.logging import get_logger
from services.common.metrics import COUNT_BUCKETS
from services.common.telemetry import PrivateTracer, get_tracer, mark_failed
from services.embedder.backends.base import Embedded, EmbedItem

log = get_logger(__name__)

RunBatch = Callable[[list[EmbedItem]], Awaitable[list[Embedded]]]
MAX_SPAN_LINKS = 64


@dataclass(eq=False)
class _Call:
    """One Embed call's share of the queue."""

    done: asyncio.Future[list[Embedded]]
    results: list[Embedded | None]
    remaining: int
    span_context: trace.SpanContext


@dataclass(slots=True)
class _Entry:
    call: _Call
    position: int
    item: EmbedItem
    cost: int
    enqueued_at: float


@dataclass
class BatchStats:
    """Counters since start-up."""

    model_batches: int = 0
    texts: int = 0
    rejected_calls: int = 0


class Batcher:
    """Coalesces concurrent embedding calls into model batches (see the module docstring)."""

    def __init__(
        self,
        run_batch: RunBatch,
        *,
        max_batch_size: int,
        max_batch_tokens: int,
        max_wait_s: float,
        max_queued_texts: int,
        max_item_tokens: int,
        max_concurrent_batches: int = 1,
        tracer: trace.Tracer | None = None,
        meter: metrics.Meter | None = None,
    ) -> None:
        self._run_batch = run_batch
        self._max_batch_size = max_batch_size
        self._max_batch_tokens = max_batch_tokens
        self._max_wait_s = max_wait_s
        self._max_queued_texts = max_queued_texts
        self._max_item_tokens = max_item_tokens
        self._tracer = PrivateTracer(tracer) if tracer else get_tracer(__name__)
        self._queue: deque[_Entry] = deque()
        self._queued_tokens = 0
        self._slots = asyncio.Semaphore(max_concurrent_batches)
        self._arrived = asyncio.Event()
        self._in_flight = 0
        self._last_batch_end = float("-inf")
        self._running: set[asyncio.Task[None]] = set()
        self._worker: asyncio.Task[None] | None = None
        self._closed = False
        self.stats = BatchStats()
        meter = meter or metrics.get_meter(__name__)
        self._batch_size = meter.create_histogram(
            "embedder.batch.size",
            unit="{text}",
            description="Texts per model call.",
            explicit_bucket_boundaries_advisory=COUNT_BUCKETS,
        )
        meter.create_observable_gauge(
            "embedder.queue.depth",
            callbacks=[self._observe_queue],
            unit="{text}",
            description="Texts waiting for a model batch.",
        )
        self._rejected = meter.create_counter(
            "embedder.rejected_calls",
            unit="{call}",
            description="Embed calls refused because too many texts were queued.",
        )

    @property
    def queued_texts(self) -> int:
        """Texts waiting for a model batch."""
        return len(self._queue)

    def _observe_queue(self, options: metrics.CallbackOptions) -> list[metrics.Observation]:
        return [metrics.Observation(len(self._queue))]

    def start(self) -> None:
        """Starts the worker on the running loop."""
        self._worker = asyncio.get_running_loop().create_task(self._work(), name="batcher")

    async def close(self) -> None:
        """Stops taking batches, lets running ones finish, fails whatever is still queued."""
        self._closed = True
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
        while self._queue:
            entry = self._queue.popleft()
            if not entry.call.done.done():
                entry.call.done.set_exception(Unavailable("the embedder is shutting down"))
        log.info(
            "batcher_stopped",
            model_batches=self.stats.model_batches,
            texts=self.stats.texts,
            rejected_calls=self.stats.rejected_calls,
        )

    async def submit(self, items: Sequence[EmbedItem]) -> list[Embedded]:
        """Embeds ``items`` in some batches; raises ResourceExhausted when overloaded."""
        if self._closed:
            raise Unavailable("the embedder is shutting down; retry on another replica")
        if not items:
            return []
        if self._queue and len(self._queue) + len(items) > self._max_queued_texts:
            self.stats.rejected_calls += 1
            self._rejected.add(1)
            raise ResourceExhausted(
                f"the embedder is overloaded ({len(self._queue)} texts queued, limit "
                f"{self._max_queued_texts}); retry later"
            )
        loop = asyncio.get_running_loop()
        call = _Call(
            done=loop.create_future(),
            results=[None] * len(items),
            remaining=len(items),
            span_context=trace.get_current_span().get_span_context(),
        )
        now = loop.time()
        for position, item in enumerate(items):
            cost = min(item.token_count, self._max_item_tokens)
            self._queue.append(_Entry(call, position, item, cost, now))
            self._queued_tokens += cost
        self._arrived.set()
        # Cancelling the caller cancels the future; the worker then drops the rest of the call.
        return await call.done

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._slots.acquire()
            try:
                await self._wait_for_texts()
                batch = self._take_batch()
            except BaseException:
                self._slots.release()
                raise
            if not batch:
                self._slots.release()
                continue
            task = loop.create_task(self._execute(batch))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _wait_for_texts(self) -> None:
        while not self._queue:
            self._arrived.clear()
            await self._arrived.wait()
        if not self._burst_starting():
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._max_wait_s
        while not self._batch_full() and (remaining := deadline - loop.time()) > 0:
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)

    def _burst_starting(self) -> bool:
        return (
            self._max_wait_s > 0
            and self._in_flight == 0
            and self._queue[0].enqueued_at > self._last_batch_end
        )

    def _batch_full(self) -> bool:
        return (
            len(self._queue) >= self._max_batch_size
            or self._queued_tokens >= self._max_batch_tokens
        )

    def _pop(self) -> _Entry:
        entry = self._queue.popleft()
        self._queued_tokens -= entry.cost
        return entry

    def _take_batch(self) -> list[_Entry]:
        batch: list[_Entry] = []
        tokens = 0
        while self._queue and len(batch) < self._max_batch_size:
            head = self._queue[0]
            if head.call.done.done():  # the caller went away or the call already failed
                self._pop()
                continue
            if batch and tokens + head.cost > self._max_batch_tokens:
                break
            batch.append(self._pop())
            tokens += head.cost
        return batch

    async def _execute(self, batch: list[_Entry]) -> None:
        loop = asyncio.get_running_loop()
        self._in_flight += 1
        self.stats.model_batches += 1
        self.stats.texts += len(batch)
        self._batch_size.record(len(batch))
        started = loop.time()
        waits_ms = [(started - entry.enqueued_at) * 1000 for entry in batch]
        calls = list({id(entry.call): entry.call for entry in batch}.values())
        links = [trace.Link(call.span_context) for call in calls if call.span_context.is_valid][
            :MAX_SPAN_LINKS
        ]
        attributes = {
            "embedder.batch.size": len(batch),
            "embedder.batch.tokens": sum(entry.cost for entry in batch),
            "embedder.batch.calls": len(calls),
            "embedder.batch.queue_wait_ms.max": max(waits_ms),
            "embedder.batch.queue_wait_ms.mean": sum(waits_ms) / len(waits_ms),
        }
        try:
            with self._tracer.start_as_current_span(
                "embedder.batch", links=links, attributes=attributes
            ) as span:
                try:
                    results = await self._run_batch([entry.item for entry in batch])
                except Exception as exc:
                    mark_failed(span, exc)
                    for call in calls:
                        if not call.done.done():
                            call.done.set_exception(exc)
                    return
            for entry, result in zip(batch, results, strict=True):
                self._deliver(entry, result)
        finally:
            self._in_flight -= 1
            self._last_batch_end = loop.time()
            self._slots.release()

    @staticmethod
    def _deliver(entry: _Entry, result: Embedded) -> None:
        call = entry.call
        if call.done.done():
            return
        call.results[entry.position] = result
        call.remaining -= 1
        if call.remaining == 0:
            call.done.set_result([one for one in call.results if one is not None])
