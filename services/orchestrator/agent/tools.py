"""The tool ``search_clinical_guidelines(query, max_results)``: guideline search via Retriever.

The searches of one turn run concurrently, each with its own error handling: a failed search
becomes a :class:`SearchOutcome` with an error message for the agent (never patient data), not
a failed briefing. Passages get short ids ("S1", "S2", ...) per briefing, handed out in call
order once the turn's searches are back, so the same chunk keeps its id and the numbering does
not depend on which search finished first.

Searches ask for no mode, so the Retriever runs its default (hybrid: by meaning and by exact
words, fused) for the offline agent and Claude alike; the span records the mode that ran.

Each call records ``tool_call``, ``tool_call.embed`` and ``tool_call.search`` timings (the last
two as measured by the Retriever), sends TOOL_CALL_STARTED/FINISHED events, and has a span under
its turn's span. The query is written about a patient: it goes to the Retriever, and to the
caller in the briefing's ``searches`` and the progress events (:class:`SearchRecord`), but to no
log and no span attribute.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import grpc
from briefing.v1 import retriever_pb2

from services.common.errors import ServiceError
from services.common.limits import MAX_RESULTS_PER_SEARCH
from services.common.telemetry import get_tracer, mark_failed
from services.orchestrator.agent.domain import (
    SEARCH_TOOL,
    RetrievedSource,
    SearchCall,
    SearchOutcome,
)
from services.orchestrator.agent.metrics import count_tool_call
from services.orchestrator.progress import RunObserver

tracer = get_tracer(__name__)


class GuidelineSearcher(Protocol):
    """What the tool needs from the Retriever client; errors surface as ServiceErrors."""

    async def search(self, query: str, *, limit: int = 0) -> retriever_pb2.SearchResponse: ...


_ERROR_TEXT: dict[grpc.StatusCode, str] = {
    grpc.StatusCode.INVALID_ARGUMENT: "the guideline search rejected the query or max_results",
    grpc.StatusCode.DEADLINE_EXCEEDED: "the guideline search timed out",
    grpc.StatusCode.RESOURCE_EXHAUSTED: "the guideline search is overloaded",
}


def _mode_name(mode: retriever_pb2.SearchMode) -> str:
    """The mode as the span shows it: SEARCH_MODE_HYBRID is "hybrid"."""
    return retriever_pb2.SearchMode.Name(mode).removeprefix("SEARCH_MODE_").lower()


def error_message(code: grpc.StatusCode) -> str:
    """A tool error for the agent. Built from the status alone: details could echo the query."""
    reason = _ERROR_TEXT.get(code, "the guideline search service is unavailable")
    return f"search failed ({code.name}): {reason}; answer without these guidelines or retry"


@dataclass(frozen=True)
class _Raw:
    """One call's result before source ids are handed out."""

    call: SearchCall
    hits: Sequence[retriever_pb2.SearchHit] = ()
    error: str | None = None
    mode: retriever_pb2.SearchMode = retriever_pb2.SEARCH_MODE_UNSPECIFIED


@dataclass(frozen=True)
class SearchRecord:
    """What a briefing tells its reader about one search: what was asked, how, and how many
    hits came back. ``mode`` is the one the Retriever reports it ran (unspecified on failure)."""

    turn: int
    call_id: str
    query: str
    mode: retriever_pb2.SearchMode
    hit_count: int
    ok: bool


class RetrieverTools:
    """The orchestrator's :class:`GuidelineTools` for one briefing."""

    def __init__(
        self, searcher: GuidelineSearcher, observer: RunObserver, max_results_cap: int
    ) -> None:
        self._searcher = searcher
        self._observer = observer
        self._max_results_cap = max(1, min(max_results_cap, MAX_RESULTS_PER_SEARCH))
        self._by_chunk: dict[str, RetrievedSource] = {}
        self._by_id: dict[str, RetrievedSource] = {}
        self.outcomes: list[SearchOutcome] = []
        self.searches: list[SearchRecord] = []

    async def search(self, calls: Sequence[SearchCall], turn: int) -> list[SearchOutcome]:
        """Runs the calls of one turn concurrently; a failed call becomes an error outcome."""
        raws = await asyncio.gather(*(self._call(call, turn) for call in calls))
        outcomes = [self._outcome(raw) for raw in raws]
        self.outcomes.extend(outcomes)
        self.searches.extend(
            SearchRecord(
                turn=turn,
                call_id=raw.call.call_id,
                query=raw.call.query,
                mode=raw.mode,
                hit_count=len(raw.hits),
                ok=raw.error is None,
            )
            for raw in raws
        )
        return outcomes

    def sources(self) -> dict[str, RetrievedSource]:
        """Every source returned so far, by short id."""
        return dict(self._by_id)

    def _limit(self, requested: int) -> int:
        return max(1, min(requested, self._max_results_cap))

    async def _call(self, call: SearchCall, turn: int) -> _Raw:
        observer = self._observer
        timings = observer.timings
        limit = self._limit(call.max_results)
        observer.tool_call_started(turn, call.call_id, call.query)
        start = timings.clock.ms()
        with tracer.start_as_current_span(
            f"tool_call {SEARCH_TOOL}",
            context=observer.turn_context(),
            attributes={
                "agent.turn": turn,
                "tool.name": SEARCH_TOOL,
                "tool.call_id": call.call_id,
                "tool.max_results": limit,
            },
        ) as span:
            # The Retriever validates the query (non-empty, at most MAX_QUERY_CHARS); its
            # INVALID_ARGUMENT becomes a tool error like any other failure.
            try:
                response = await self._searcher.search(call.query, limit=limit)
            except ServiceError as exc:
                raw = _Raw(call, error=error_message(exc.code))
            except grpc.aio.AioRpcError as exc:
                raw = _Raw(call, error=error_message(exc.code()))
            else:
                raw = _Raw(call, hits=list(response.hits), mode=response.mode)
                span.set_attribute("tool.search_mode", _mode_name(response.mode))
                timings.add("tool_call.embed", start, response.embed_ms, turn, call.call_id)
                timings.add(
                    "tool_call.search",
                    start + response.embed_ms,
                    response.search_ms,
                    turn,
                    call.call_id,
                )
            ok = raw.error is None
            count_tool_call(SEARCH_TOOL, ok)
            span.set_attribute("tool.ok", ok)
            span.set_attribute("tool.hit_count", len(raw.hits))
            if not ok:
                mark_failed(span)
        timings.add("tool_call", start, timings.clock.ms() - start, turn, call.call_id)
        observer.tool_call_finished(
            turn,
            call.call_id,
            ok=ok,
            hit_count=len(raw.hits),
            query=call.query,
            search_mode=raw.mode,
        )
        return raw

    def _outcome(self, raw: _Raw) -> SearchOutcome:
        if raw.error is not None:
            return SearchOutcome(call=raw.call, error=raw.error)
        return SearchOutcome(call=raw.call, sources=tuple(self._source(hit) for hit in raw.hits))

    def _source(self, hit: retriever_pb2.SearchHit) -> RetrievedSource:
        known = self._by_chunk.get(hit.chunk_id)
        if known is not None:
            return known
        source_id = f"S{len(self._by_id) + 1}"
        meta = hit.source
        source = RetrievedSource(
            source_id=source_id,
            chunk_id=hit.chunk_id,
            text=hit.text,
            score=hit.score,
            document_id=meta.document_id,
            title=meta.title,
            section_path=tuple(meta.section_path),
            issuer=meta.issuer,
            year=meta.year,
            url=meta.url,
            guideline=meta.guideline,
        )
        self._by_chunk[hit.chunk_id] = source
        self._by_id[source_id] = source
        return source
