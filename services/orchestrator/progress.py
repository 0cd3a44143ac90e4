"""Watches one briefing's run: progress events (BriefStream), agent-turn timings and spans.

The agent only says when a turn starts (:class:`services.orchestrator.agent.domain.Progress`); a
turn lasts until the next one starts or the run ends. The tool path reports its calls here so
that their spans hang under the turn's span and their events reach the stream. Spans hold turn
numbers, call ids, counts and flags only; events add each search's query and mode for the
caller (clinical terms: the agents never put the patient's name or ids in a query).
"""

from __future__ import annotations

from collections.abc import Callable

from briefing.v1 import orchestrator_pb2, retriever_pb2
from opentelemetry import context as otel_context
from opentelemetry import trace

from services.common.telemetry import get_tracer
from services.orchestrator.timings import Timings

tracer = get_tracer(__name__)

EventSink = Callable[[orchestrator_pb2.ProgressEvent], None]


class RunObserver:
    """Implements the agent's ``Progress`` and collects what the servicer reports."""

    def __init__(self, timings: Timings, sink: EventSink | None = None) -> None:
        self.timings = timings
        self._sink = sink
        self._turn = 0
        self._turn_start_ms = 0.0
        self._turn_span: trace.Span | None = None

    def _emit(
        self,
        kind: orchestrator_pb2.ProgressEventType,
        *,
        turn: int = 0,
        tool_call_id: str = "",
        ok: bool = False,
        hit_count: int = 0,
        query: str = "",
        search_mode: retriever_pb2.SearchMode = retriever_pb2.SEARCH_MODE_UNSPECIFIED,
    ) -> None:
        if self._sink is None:
            return
        self._sink(
            orchestrator_pb2.ProgressEvent(
                type=kind,
                turn=turn,
                tool_call_id=tool_call_id,
                elapsed_ms=self.timings.clock.ms(),
                ok=ok,
                hit_count=hit_count,
                query=query,
                search_mode=search_mode,
            )
        )

    def patient_loaded(self) -> None:
        self._emit(orchestrator_pb2.PROGRESS_EVENT_TYPE_PATIENT_LOADED)

    def turn_started(self, turn: int) -> None:
        """Ends the previous turn (timing and span) and begins the next."""
        self.end_turn()
        self._turn = turn
        self._turn_start_ms = self.timings.clock.ms()
        self._turn_span = tracer.start_span("agent.turn", attributes={"agent.turn": turn})
        self._emit(orchestrator_pb2.PROGRESS_EVENT_TYPE_TURN_STARTED, turn=turn)

    def end_turn(self) -> None:
        """Ends the current turn, if any; called when the agent's run is over."""
        if self._turn_span is None:
            return
        now = self.timings.clock.ms()
        self.timings.add("agent_turn", self._turn_start_ms, now - self._turn_start_ms, self._turn)
        self._turn_span.end()
        self._turn_span = None

    def turn_context(self) -> otel_context.Context | None:
        """The trace context tool calls of the current turn start their spans in."""
        if self._turn_span is None:
            return None
        return trace.set_span_in_context(self._turn_span)

    def tool_call_started(self, turn: int, call_id: str, query: str) -> None:
        self._emit(
            orchestrator_pb2.PROGRESS_EVENT_TYPE_TOOL_CALL_STARTED,
            turn=turn,
            tool_call_id=call_id,
            query=query,
        )

    def tool_call_finished(
        self,
        turn: int,
        call_id: str,
        *,
        ok: bool,
        hit_count: int,
        query: str,
        search_mode: retriever_pb2.SearchMode,
    ) -> None:
        self._emit(
            orchestrator_pb2.PROGRESS_EVENT_TYPE_TOOL_CALL_FINISHED,
            turn=turn,
            tool_call_id=call_id,
            ok=ok,
            hit_count=hit_count,
            query=query,
            search_mode=search_mode,
        )

    def briefing_ready(self) -> None:
        self._emit(orchestrator_pb2.PROGRESS_EVENT_TYPE_BRIEFING_READY)
