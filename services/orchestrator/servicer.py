"""Orchestrator.Brief, BriefStream, ListPatients and ListAuditEvents.

One briefing: validate the request, read the record (one round trip), let the agent run with
the tool path, check its citations and the grounding of its recommendations
(:mod:`services.orchestrator.grounding`), and answer with per-stage timings. The whole run is
bounded by one :class:`~services.orchestrator.deadline.Deadline`: the caller's deadline less a
small margin, and at most ORCHESTRATOR_BRIEF_TIMEOUT_S.

BriefStream runs the same work in a task that feeds progress events into a queue; the handler
sends them as they come and the briefing last. Each briefing call, successful or not, is one row
of the audit trail (:mod:`services.orchestrator.audit`), written before the briefing is sent; a
briefing whose row cannot be written is not sent. Nothing here logs or echoes patient data: not
the record, not the queries, and not the patient id (which may be anything a caller typed).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

import grpc
from briefing.v1 import orchestrator_pb2, orchestrator_pb2_grpc

from services.common.audit import AuditDetails, AuditTrail
from services.common.errors import InvalidArgument, ServiceError
from services.common.limits import MAX_AGENT_TURNS, MAX_RESULTS_PER_SEARCH, PATIENT_ID
from services.common.logging import get_logger
from services.common.telemetry import get_tracer
from services.orchestrator import patient_list
from services.orchestrator.agent.domain import AgentLimits, AgentMode, AgentResult
from services.orchestrator.agent.registry import AgentRegistry
from services.orchestrator.agent.tools import GuidelineSearcher, RetrieverTools
from services.orchestrator.audit import (
    BRIEF_UNAUDITED,
    audited_patient_id,
    list_query,
    list_response,
    lookahead,
    record_agent,
    record_briefing,
)
from services.orchestrator.briefing import build_briefing
from services.orchestrator.client import SERVICE_NAME
from services.orchestrator.config import OrchestratorSettings
from services.orchestrator.deadline import Deadline
from services.orchestrator.grounding import GroundingChecker, GroundingReport
from services.orchestrator.patients.models import PatientRecord
from services.orchestrator.patients.store import PatientListing
from services.orchestrator.progress import EventSink, RunObserver
from services.orchestrator.timings import Clock, Timings

log = get_logger(__name__)
tracer = get_tracer(__name__)

BRIEF = f"/{SERVICE_NAME}/Brief"
BRIEF_STREAM = f"/{SERVICE_NAME}/BriefStream"
_MODES: dict[int, AgentMode | None] = {
    orchestrator_pb2.AGENT_MODE_UNSPECIFIED: None,
    orchestrator_pb2.AGENT_MODE_OFFLINE: AgentMode.OFFLINE,
    orchestrator_pb2.AGENT_MODE_CLAUDE: AgentMode.CLAUDE,
}
Context = grpc.aio.ServicerContext[Any, Any]


class PatientSource(Protocol):
    """The patient store as the servicer uses it (NotFound / Unavailable on failure)."""

    async def get(self, patient_id: str) -> PatientRecord: ...

    async def list_page(self, prefix: str, after_id: str, limit: int) -> list[PatientListing]: ...


@dataclass(frozen=True)
class BriefJob:
    """A validated request."""

    patient_id: str
    mode: AgentMode | None
    limits: AgentLimits


def validate(
    patient_id: str, options: orchestrator_pb2.BriefOptions, settings: OrchestratorSettings
) -> BriefJob:
    """The job for a request, or InvalidArgument (the message never echoes the id)."""
    if not PATIENT_ID.fullmatch(patient_id):
        raise InvalidArgument(
            "patient_id must be 1 to 64 characters of letters, digits, '-', '_' or '.'"
        )
    if not 0 <= options.max_turns <= MAX_AGENT_TURNS:
        raise InvalidArgument(
            f"options.max_turns must be 0 to {MAX_AGENT_TURNS} (0: server default)"
        )
    if not 0 <= options.max_results_per_search <= MAX_RESULTS_PER_SEARCH:
        raise InvalidArgument(
            f"options.max_results_per_search must be 0 to {MAX_RESULTS_PER_SEARCH} "
            "(0: server default)"
        )
    if options.mode not in _MODES:
        raise InvalidArgument("options.mode is not a known agent mode")
    return BriefJob(
        patient_id=patient_id,
        mode=_MODES[options.mode],
        limits=AgentLimits(
            max_turns=options.max_turns or settings.max_turns,
            max_results_per_search=(
                options.max_results_per_search or settings.max_results_per_search
            ),
        ),
    )


class OrchestratorServicer(orchestrator_pb2_grpc.OrchestratorServicer):
    """Builds briefings from the patient store, the agents and the guideline search."""

    def __init__(
        self,
        settings: OrchestratorSettings,
        patients: PatientSource,
        searcher: GuidelineSearcher,
        agents: AgentRegistry,
        audit: AuditTrail,
        *,
        grounding: GroundingChecker,
    ) -> None:
        self._settings = settings
        self._patients = patients
        self._searcher = searcher
        self._agents = agents
        self._audit = audit
        self._grounding = grounding

    async def Brief(
        self, request: orchestrator_pb2.BriefRequest, context: Context
    ) -> orchestrator_pb2.BriefResponse:
        async with self._audit.audited(BRIEF, context, BRIEF_UNAUDITED) as audit:
            audit.patient_id = audited_patient_id(request.patient_id)
            job = validate(request.patient_id, request.options, self._settings)
            briefing = await self.brief(job, context.time_remaining(), audit)
        return orchestrator_pb2.BriefResponse(briefing=briefing)

    async def BriefStream(
        self, request: orchestrator_pb2.BriefStreamRequest, context: Context
    ) -> AsyncIterator[orchestrator_pb2.BriefStreamResponse]:
        async with self._audit.audited(BRIEF_STREAM, context, BRIEF_UNAUDITED) as audit:
            audit.patient_id = audited_patient_id(request.patient_id)
            job = validate(request.patient_id, request.options, self._settings)
            events: asyncio.Queue[orchestrator_pb2.ProgressEvent | None] = asyncio.Queue()
            run = asyncio.create_task(
                self.brief(job, context.time_remaining(), audit, events.put_nowait)
            )
            run.add_done_callback(lambda _: events.put_nowait(None))
            try:
                while (event := await events.get()) is not None:
                    yield orchestrator_pb2.BriefStreamResponse(progress=event)
                briefing = await run
            finally:
                run.cancel()  # no-op once done; stops the work when the caller went away
        # Only once the audit row is written.
        yield orchestrator_pb2.BriefStreamResponse(briefing=briefing)

    async def ListAuditEvents(
        self, request: orchestrator_pb2.ListAuditEventsRequest, context: Context
    ) -> orchestrator_pb2.ListAuditEventsResponse:
        query = list_query(request)
        return list_response(query, await self._audit.events(lookahead(query)))

    async def ListPatients(
        self, request: orchestrator_pb2.ListPatientsRequest, context: Context
    ) -> orchestrator_pb2.ListPatientsResponse:
        query = patient_list.list_query(request)
        wide = patient_list.lookahead(query)
        found = await self._patients.list_page(wide.prefix, wide.after_id, wide.limit)
        return patient_list.list_response(query, found)

    def _deadline(self, time_remaining: float | None) -> Deadline:
        """The caller's deadline less the margin, and at most ORCHESTRATOR_BRIEF_TIMEOUT_S."""
        budget_s = self._settings.brief_timeout_s
        if time_remaining is not None:
            budget_s = min(time_remaining - self._settings.deadline_margin_s, budget_s)
        return Deadline.after(budget_s)

    async def brief(
        self,
        job: BriefJob,
        time_remaining: float | None,
        audit: AuditDetails,
        sink: EventSink | None = None,
    ) -> orchestrator_pb2.PatientBriefing:
        """One briefing, bounded by the deadline; what the audit row records goes to ``audit``,
        progress events to ``sink``."""
        clock = Clock()
        timings = Timings(clock)
        observer = RunObserver(timings, sink)
        agent = self._agents.get(job.mode)
        record_agent(audit, agent)
        tools = RetrieverTools(self._searcher, observer, job.limits.max_results_per_search)
        deadline = self._deadline(time_remaining)
        limits = replace(job.limits, deadline=deadline)
        try:
            async with deadline.enforce():
                with (
                    tracer.start_as_current_span("patient.fetch"),
                    timings.measure("patient_fetch"),
                ):
                    record = await self._patients.get(job.patient_id)
                observer.patient_loaded()
                with tracer.start_as_current_span(
                    "agent.run", attributes={"agent.mode": agent.mode.value}
                ):
                    try:
                        result = await agent.run(record, tools, observer, limits)
                    finally:
                        observer.end_turn()
        except ServiceError as exc:
            # The status only: a message is safe for the caller, but logs keep to codes.
            log.info("briefing_failed", code=exc.code.name, total_ms=round(clock.ms(), 1))
            raise
        grounding = await self._check_grounding(record, result, tools, timings, deadline)
        timings.add("total", 0.0, clock.ms())
        briefing = build_briefing(
            record=record,
            result=result,
            sources=tools.sources(),
            outcomes=tools.outcomes,
            searches=tools.searches,
            timings=timings.items(),
            generated_at=datetime.now(UTC),
            grounding=grounding,
        )
        record_briefing(audit, briefing)
        observer.briefing_ready()
        log.info(
            "briefing_done",
            mode=result.mode.value,
            turns=result.turns_used,
            tool_calls=len(tools.outcomes),
            failed_tool_calls=sum(not o.ok for o in tools.outcomes),
            sources_cited=len(briefing.sources),
            grounding_flags=sum(grounding.counts().values()),
            total_ms=round(clock.ms(), 1),
        )
        return briefing

    async def _check_grounding(
        self,
        record: PatientRecord,
        result: AgentResult,
        tools: RetrieverTools,
        timings: Timings,
        deadline: Deadline,
    ) -> GroundingReport:
        """The recommendations' grounding, within what is left of the deadline; the span and
        the timing carry counts only."""
        with (
            tracer.start_as_current_span("grounding.check") as span,
            timings.measure("grounding"),
        ):
            report = await self._grounding.check(
                record, result.recommendations, tools.sources(), deadline.remaining()
            )
            span.set_attribute("grounding.recommendations", len(report.recommendations))
            span.set_attribute("grounding.semantic_checked", report.semantic_checked)
            for kind, count in report.counts().items():
                span.set_attribute(f"grounding.flags.{kind.value}", count)
        return report
