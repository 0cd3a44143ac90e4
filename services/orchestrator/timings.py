"""Where the time of one briefing went: stages measured against the request's start.

Stage names follow ``briefing.v1.StageTiming``: ``patient_fetch``, ``agent_turn``, ``tool_call``,
``tool_call.embed``, ``tool_call.search``, ``grounding`` (the checks of
:mod:`services.orchestrator.grounding`, its one Embed call included) and ``total``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


class Clock:
    """Milliseconds since one request began (monotonic)."""

    def __init__(self) -> None:
        self._start = time.perf_counter()

    def ms(self) -> float:
        return (time.perf_counter() - self._start) * 1000.0


@dataclass(frozen=True)
class Timing:
    """One measured stage."""

    stage: str
    start_ms: float
    duration_ms: float
    turn: int = 0
    tool_call_id: str = ""


class Timings:
    """The stages of one request, in the order they were recorded."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._items: list[Timing] = []

    def add(
        self, stage: str, start_ms: float, duration_ms: float, turn: int = 0, tool_call_id: str = ""
    ) -> None:
        self._items.append(Timing(stage, start_ms, max(duration_ms, 0.0), turn, tool_call_id))

    @contextmanager
    def measure(self, stage: str, turn: int = 0, tool_call_id: str = "") -> Iterator[None]:
        """Records the time spent in the ``with`` block (also when it raises)."""
        start = self.clock.ms()
        try:
            yield
        finally:
            self.add(stage, start, self.clock.ms() - start, turn, tool_call_id)

    def items(self) -> list[Timing]:
        return list(self._items)
