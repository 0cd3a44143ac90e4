"""The orchestrator's side of the access audit trail (:mod:`services.common.audit`).

- What a briefing's row records beyond the call itself: the patient, the agent and its model,
  and the sources the served briefing cited, by Retriever chunk id (the briefing's own "S1",
  "S2" mean nothing outside it).
- ``ListAuditEvents``: the request validated into an :class:`AuditQuery`, the events as
  messages, and page tokens. A page token is opaque to callers: the id of the last event sent
  and a fingerprint of the filter, so that a token is refused with another filter rather than
  silently listing something else.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from dataclasses import replace

from briefing.v1 import orchestrator_pb2

from services.common.audit import AuditDetails, AuditEvent, AuditQuery
from services.common.errors import InvalidArgument
from services.common.limits import (
    DEFAULT_AUDIT_PAGE_SIZE,
    MAX_AUDIT_PAGE_SIZE,
    MAX_SUBJECT_CHARS,
    PATIENT_ID,
)
from services.orchestrator.agent.domain import Agent, AgentMode

BRIEF_UNAUDITED = (
    "the briefing was not sent: its access could not be recorded in the audit trail; retry later"
)
_MODES = {
    AgentMode.OFFLINE.value: orchestrator_pb2.AGENT_MODE_OFFLINE,
    AgentMode.CLAUDE.value: orchestrator_pb2.AGENT_MODE_CLAUDE,
}
_TOKEN_VERSION = 1


def audited_patient_id(requested: str) -> str:
    """The id a briefing's row records: the requested one when valid, else empty (an invalid id
    may be anything a caller typed, a name included)."""
    return requested if PATIENT_ID.fullmatch(requested) else ""


def record_agent(details: AuditDetails, agent: Agent) -> None:
    """The agent chosen for the briefing, before it runs."""
    details.agent_mode = agent.mode.value
    details.model = agent.model


def record_briefing(details: AuditDetails, briefing: orchestrator_pb2.PatientBriefing) -> None:
    """What the served briefing was: its model as the API named it, and its cited passages."""
    details.model = briefing.model
    details.cited_chunk_ids = [source.chunk_id for source in briefing.sources]


def _fingerprint(query: AuditQuery) -> str:
    key = json.dumps([query.patient_id, query.subject])
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def page_token(query: AuditQuery, last_event_id: int) -> str:
    """The token of the page after the one that ended with ``last_event_id``."""
    payload = {"v": _TOKEN_VERSION, "before": last_event_id, "filter": _fingerprint(query)}
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()


def _before_id(token: str, query: AuditQuery) -> int:
    try:
        payload = json.loads(base64.urlsafe_b64decode(token.encode()))
        before, fingerprint = int(payload["before"]), str(payload["filter"])
        valid = payload["v"] == _TOKEN_VERSION and before > 0
    except (binascii.Error, ValueError, TypeError, KeyError, UnicodeDecodeError):
        valid = False
    if not valid:
        raise InvalidArgument(
            "page_token is not a token this service issued; send the next_page_token of the "
            "previous page, or none for the first page"
        )
    if fingerprint != _fingerprint(query):
        raise InvalidArgument(
            "page_token belongs to a listing with another patient_id or subject; send those of "
            "the first page with it"
        )
    return before


def list_query(request: orchestrator_pb2.ListAuditEventsRequest) -> AuditQuery:
    """The query of a ListAuditEvents request, or InvalidArgument saying what to fix."""
    if not request.patient_id and not request.subject:
        raise InvalidArgument("set patient_id or subject (or both): which events to list")
    if request.patient_id and not PATIENT_ID.fullmatch(request.patient_id):
        raise InvalidArgument(
            "patient_id must be 1 to 64 characters of letters, digits, '-', '_' or '.'"
        )
    if len(request.subject) > MAX_SUBJECT_CHARS:
        raise InvalidArgument(f"subject must be at most {MAX_SUBJECT_CHARS} characters")
    if not 0 <= request.page_size <= MAX_AUDIT_PAGE_SIZE:
        raise InvalidArgument(
            f"page_size must be 0 to {MAX_AUDIT_PAGE_SIZE} (0: {DEFAULT_AUDIT_PAGE_SIZE})"
        )
    query = AuditQuery(
        patient_id=request.patient_id or None,
        subject=request.subject or None,
        limit=request.page_size or DEFAULT_AUDIT_PAGE_SIZE,
    )
    if not request.page_token:
        return query
    return replace(query, before_id=_before_id(request.page_token, query))


def event_message(event: AuditEvent) -> orchestrator_pb2.AuditEvent:
    message = orchestrator_pb2.AuditEvent(
        event_id=event.id,
        duration_ms=event.duration_ms,
        method=event.method,
        subject=event.subject,
        patient_id=event.patient_id,
        outcome=event.outcome,
        agent_mode=_MODES.get(event.agent_mode, orchestrator_pb2.AGENT_MODE_UNSPECIFIED),
        model=event.model,
        cited_chunk_ids=event.cited_chunk_ids,
        document_ids=event.document_ids,
        trace_id=event.trace_id,
    )
    message.started_at.FromDatetime(event.started_at)
    return message


def lookahead(query: AuditQuery) -> AuditQuery:
    """``query`` asking for one event more than a page, to tell whether another page follows."""
    return replace(query, limit=query.limit + 1)


def list_response(
    query: AuditQuery, found: Sequence[AuditEvent]
) -> orchestrator_pb2.ListAuditEventsResponse:
    """A page of the events ``lookahead(query)`` found, with a next token when more follow."""
    page = found[: query.limit]
    next_token = page_token(query, page[-1].id) if len(found) > query.limit else ""
    return orchestrator_pb2.ListAuditEventsResponse(
        events=[event_message(event) for event in page], next_page_token=next_token
    )
