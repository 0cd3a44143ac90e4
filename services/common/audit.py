"""The access audit trail: one append-only row in PostgreSQL (``audit_events``) per audited call.

The orchestrator audits every Brief and BriefStream, the retriever every Ingest and
DeleteDocument. A handler runs its work inside :meth:`AuditTrail.audited` and fills in the
:class:`AuditDetails` it learns on the way (the patient, the agent, the sources cited, the
documents). When the block ends the row is written, whatever happened:

- the block succeeded: the row says OK; if it cannot be written the block's result must not
  reach the caller, so :class:`AuditUnavailable` (UNAVAILABLE) is raised instead;
- the block failed: the row says how (the gRPC status of the error, CANCELLED or
  DEADLINE_EXCEEDED when the call went away); if it cannot be written, the error is logged and
  the block's own error goes to the caller, who was served nothing.

The write runs in a task of its own under :func:`asyncio.shield`, so a call cancelled while its
row is being written still leaves its row. A row holds who (the principal's subject), what (the
method, the patient id, document ids, cited chunk ids), how it ended, when, how long, and the
trace id; no other patient data. Log lines about the trail carry the method and an error type.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import grpc
from opentelemetry import metrics, trace

from services.common.errors import Unavailable
from services.common.logging import get_logger
from services.common.outcome import outcome_of
from services.common.principal import current_principal

log = get_logger(__name__)
# One per row attempted: by method, the call's outcome, and whether the row was written.
AUDIT_WRITES = metrics.get_meter(__name__).create_counter(
    "audit.writes", unit="{row}", description="Audit rows attempted, by method and outcome."
)

Context = grpc.aio.ServicerContext[Any, Any]

_INSERT = """
INSERT INTO audit_events (started_at, duration_ms, method, subject, patient_id, outcome,
                          agent_mode, model, cited_chunk_ids, document_ids, trace_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
"""
_COLUMNS = (
    "id, started_at, duration_ms, method, subject, patient_id, outcome, agent_mode, model, "
    "cited_chunk_ids, document_ids, trace_id"
)


class AuditUnavailable(Unavailable):
    """The audit row could not be written, so the call's result is withheld."""


@dataclass
class AuditDetails:
    """What a handler learns about its call as it runs; written with the call's outcome."""

    patient_id: str = ""
    agent_mode: str = ""
    model: str = ""
    cited_chunk_ids: Sequence[str] = ()
    document_ids: Sequence[str] = ()


@dataclass(frozen=True)
class AuditEvent:
    """One row of the audit trail."""

    id: int
    started_at: datetime
    duration_ms: float
    method: str
    subject: str
    patient_id: str
    outcome: str
    agent_mode: str
    model: str
    cited_chunk_ids: tuple[str, ...]
    document_ids: tuple[str, ...]
    trace_id: str


@dataclass(frozen=True)
class AuditQuery:
    """Which events to list: by patient and/or by caller, newest first, before an event id."""

    patient_id: str | None = None
    subject: str | None = None
    before_id: int | None = None
    limit: int = 50


def current_trace_id() -> str:
    """The running span's trace id in hex, or empty when no span is recorded."""
    span_context = trace.get_current_span().get_span_context()
    return format(span_context.trace_id, "032x") if span_context.is_valid else ""


class AuditTrail:
    """Writes and reads ``audit_events`` through a pool (the table refuses changes)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        # Writes whose caller was cancelled finish on their own; held here until they do.
        self._writes: set[asyncio.Task[None]] = set()

    @contextlib.asynccontextmanager
    async def audited(
        self, method: str, context: Context, unaudited: str
    ) -> AsyncIterator[AuditDetails]:
        """Runs the block as one audited call of ``method``; see the module docstring.

        ``unaudited`` is the caller's message when the row of a successful call cannot be
        written: it says what became of the call's result.
        """
        started_at = datetime.now(UTC)
        started = time.perf_counter()
        subject = current_principal().subject
        trace_id = current_trace_id()
        details = AuditDetails()

        async def write(outcome: str) -> None:
            row = (
                started_at,
                (time.perf_counter() - started) * 1000.0,
                method,
                subject,
                details.patient_id,
                outcome,
                details.agent_mode,
                details.model,
                list(details.cited_chunk_ids),
                list(details.document_ids),
                trace_id,
            )
            task = asyncio.ensure_future(self._insert(method, outcome, row))
            self._writes.add(task)
            task.add_done_callback(self._writes.discard)
            await asyncio.shield(task)

        try:
            yield details
        except BaseException as error:
            with contextlib.suppress(AuditUnavailable):  # logged; the call's own error stands
                await write(outcome_of(error, context))
            raise
        try:
            await write(grpc.StatusCode.OK.name)
        except AuditUnavailable:
            raise AuditUnavailable(unaudited) from None

    async def _insert(self, method: str, outcome: str, row: tuple[Any, ...]) -> None:
        try:
            await self._pool.execute(_INSERT, *row)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            AUDIT_WRITES.add(
                1, {"audit.method": method, "audit.outcome": outcome, "audit.written": False}
            )
            # The type only: a database message may quote the row.
            log.error(
                "audit_write_failed", method=method, outcome=outcome, error=type(exc).__name__
            )
            raise AuditUnavailable("the audit trail could not be written") from None
        AUDIT_WRITES.add(
            1, {"audit.method": method, "audit.outcome": outcome, "audit.written": True}
        )

    async def events(self, query: AuditQuery) -> list[AuditEvent]:
        """The events matching ``query``, newest first."""
        conditions: list[str] = []
        values: list[object] = []
        for column, value in (
            ("patient_id =", query.patient_id),
            ("subject =", query.subject),
            ("id <", query.before_id),
        ):
            if value is not None:
                values.append(value)
                conditions.append(f"{column} ${len(values)}")
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        values.append(query.limit)
        sql = f"SELECT {_COLUMNS} FROM audit_events {where} ORDER BY id DESC LIMIT ${len(values)}"
        try:
            rows = await self._pool.fetch(sql, *values)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.error("audit_read_failed", error=type(exc).__name__)
            raise Unavailable("the audit trail cannot be read now; retry later") from None
        return [
            AuditEvent(
                **{
                    **dict(row),
                    "cited_chunk_ids": tuple(row["cited_chunk_ids"]),
                    "document_ids": tuple(row["document_ids"]),
                }
            )
            for row in rows
        ]
