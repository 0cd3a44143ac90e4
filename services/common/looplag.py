"""Event-loop lag probe for any service (``LOOP_LAG_PROBE=1`` for the benchmarks; always on
while the service exports metrics).

A task sleeps for a short interval again and again and records how late it wakes up: that
delay is how long the loop was busy with something else (CPU work on the loop, a blocking call).
Every lag goes to the ``asyncio.event_loop.lag`` histogram (a no-op without metrics). The
benchmarks' probe also logs, every ``report_s``, a ``loop_lag_window`` line with the window's
maximum, so that a benchmark can attribute lag to one phase of its run, and at shutdown one
``loop_lag`` line with the maximum and p99 over the whole run. Nothing but timings is logged.
The metrics' probe (:meth:`LoopLagProbe.for_metrics`) wakes less often, logs nothing and keeps
no samples, so it can run for months.
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType

from opentelemetry import metrics

from services.common.logging import get_logger
from services.common.metrics import DURATION_BUCKETS_S

log = get_logger(__name__)
LOOP_LAG = metrics.get_meter(__name__).create_histogram(
    "asyncio.event_loop.lag",
    unit="s",
    description="How late the event loop ran a task that was due (time it was busy elsewhere).",
    explicit_bucket_boundaries_advisory=DURATION_BUCKETS_S,
)


class LoopLagProbe:
    """Async context manager: measures loop lag while open, logs the summary when closed."""

    def __init__(
        self, interval_s: float = 0.01, report_s: float = 1.0, *, reporting: bool = True
    ) -> None:
        self.interval_s = interval_s
        self.report_s = report_s
        self.reporting = reporting
        self.lags_s: list[float] = []
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def for_metrics(cls) -> LoopLagProbe:
        """The histogram only: ten samples a second, no log lines, no samples kept."""
        return cls(interval_s=0.1, reporting=False)

    async def _measure(self) -> None:
        loop = asyncio.get_running_loop()
        window_start = loop.time()
        window_max = 0.0
        while True:
            started = loop.time()
            await asyncio.sleep(self.interval_s)
            now = loop.time()
            lag = max(0.0, now - started - self.interval_s)
            LOOP_LAG.record(lag)
            if not self.reporting:
                continue
            self.lags_s.append(lag)
            window_max = max(window_max, lag)
            if now - window_start >= self.report_s:
                log.info("loop_lag_window", max_ms=round(window_max * 1000.0, 3))
                window_start, window_max = now, 0.0

    @property
    def max_ms(self) -> float:
        return max(self.lags_s, default=0.0) * 1000.0

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
        if not self.reporting:
            return
        ordered = sorted(self.lags_s)
        p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] if ordered else 0.0
        log.info(
            "loop_lag",
            interval_ms=self.interval_s * 1000.0,
            samples=len(ordered),
            max_ms=round(self.max_ms, 3),
            p99_ms=round(p99 * 1000.0, 3),
        )
