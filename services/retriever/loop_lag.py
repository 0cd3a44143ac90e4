"""An optional probe of event-loop lag inside the Retriever (RETRIEVER_LOOP_LAG_PROBE_MS).

Qdrant's local mode computes on the event loop, so a slow search delays every other call this
process serves. The probe sleeps for a fixed interval again and again and records how late it
wakes up; at shutdown it logs one ``loop_lag`` line (maximum, p99, samples) that the benchmark
reads.
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType

from services.common.logging import get_logger

log = get_logger(__name__)


class LoopLagProbe:
    """Async context manager: measures loop lag while open, logs the summary when closed."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self.lags_s: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _measure(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await asyncio.sleep(self.interval_s)
            self.lags_s.append(max(0.0, loop.time() - started - self.interval_s))

    async def __aenter__(self) -> LoopLagProbe:
        self._task = asyncio.get_running_loop().create_task(self._measure())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        ordered = sorted(self.lags_s)
        p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] if ordered else 0.0
        log.info(
            "loop_lag",
            interval_ms=self.interval_s * 1000.0,
            samples=len(ordered),
            max_ms=round((ordered[-1] if ordered else 0.0) * 1000.0, 3),
            p99_ms=round(p99 * 1000.0, 3),
        )
