"""The access audit trail on the session's stack: one row per Brief and BriefStream whatever the
outcome, one per Ingest and DeleteDocument, read back through ListAuditEvents; a row that cannot
be written withholds the briefing; the table refuses changes.

The session's services export spans, so each call here carries its own ``traceparent`` and its
row is found by that trace id (other tests brief the same patients). Rows are read through the
RPC; the database is used directly only to inject a failure, to add rows of other callers (auth
is off here, so every call is "anonymous") and to try to change the trail.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import asyncpg
import grpc
import pytest
from briefing.v1 import (
    common_pb2,
    orchestrator_pb2,
    orchestrator_pb2_grpc,
    retriever_pb2,
    retriever_pb2_grpc,
)

from services.common.database import start_embedded
from services.common.errors import InvalidArgument
from services.launcher import start_service
from services.orchestrator.audit import BRIEF_UNAUDITED
from services.orchestrator.deadline import DEADLINE_MESSAGE
from services.retriever.client import RetrieverClient
from services.retriever.servicer import CHANGE_UNAUDITED
from tests.orchestrator.brief_support import PLAIN_ID, RICH_ID
from tests.orchestrator.conftest import BriefingStack

if TYPE_CHECKING:
    from briefing.v1.orchestrator_pb2_grpc import OrchestratorAsyncStub

pb = orchestrator_pb2
BRIEF = "/briefing.v1.Orchestrator/Brief"
BRIEF_STREAM = "/briefing.v1.Orchestrator/BriefStream"


def traced() -> tuple[str, tuple[tuple[str, str]]]:
    """A fresh trace id, and the metadata that makes the call part of it."""
    trace_id = secrets.token_hex(16)
    return trace_id, (("traceparent", f"00-{trace_id}-{secrets.token_hex(8)}-01"),)


async def events_of(
    stub: OrchestratorAsyncStub, trace_id: str, *, patient_id: str = "", subject: str = ""
) -> list[pb.AuditEvent]:
    """The events of one trace, among the newest of the patient or the caller."""
    request = pb.ListAuditEventsRequest(patient_id=patient_id, subject=subject, page_size=200)
    response = await stub.ListAuditEvents(request, timeout=30)
    return [event for event in response.events if event.trace_id == trace_id]


async def failure(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    return caught.value


@pytest.fixture(scope="module")
async def database(briefing_stack: BriefingStack) -> AsyncIterator[asyncpg.Connection]:
    """A connection to the session's database (the test process joins its embedded server)."""
    dsn = await asyncio.to_thread(start_embedded, briefing_stack.tmp / "pg")
    connection = await asyncpg.connect(dsn)
    yield connection
    await connection.close()


async def test_a_served_briefing_is_audited_with_what_it_cited(
    orchestrator_stub: OrchestratorAsyncStub,
) -> None:
    trace_id, metadata = traced()
    before = datetime.now(UTC)
    response = await orchestrator_stub.Brief(
        pb.BriefRequest(patient_id=RICH_ID), timeout=60, metadata=metadata
    )
    [event] = await events_of(orchestrator_stub, trace_id, patient_id=RICH_ID)

    assert (event.method, event.subject, event.patient_id, event.outcome) == (
        BRIEF,
        "anonymous",
        RICH_ID,
        "OK",
    )
    assert (event.agent_mode, event.model) == (pb.AGENT_MODE_OFFLINE, "")
    cited = [source.chunk_id for source in response.briefing.sources]
    assert cited and list(event.cited_chunk_ids) == cited
    assert list(event.document_ids) == []
    started = event.started_at.ToDatetime(tzinfo=UTC)
    assert before - timedelta(seconds=1) <= started <= datetime.now(UTC)
    assert 0 < event.duration_ms < 60_000


async def test_a_streamed_briefing_is_audited_once(
    orchestrator_stub: OrchestratorAsyncStub,
) -> None:
    trace_id, metadata = traced()
    messages = [
        message
        async for message in orchestrator_stub.BriefStream(
            pb.BriefStreamRequest(patient_id=PLAIN_ID), timeout=60, metadata=metadata
        )
    ]
    assert messages[-1].HasField("briefing")
    [event] = await events_of(orchestrator_stub, trace_id, patient_id=PLAIN_ID)
    assert (event.method, event.patient_id, event.outcome) == (BRIEF_STREAM, PLAIN_ID, "OK")
    assert list(event.cited_chunk_ids) == [s.chunk_id for s in messages[-1].briefing.sources]


async def test_failed_briefings_are_audited_as_failed(
    orchestrator_stub: OrchestratorAsyncStub,
) -> None:
    missing = f"audit-missing-{secrets.token_hex(4)}"
    trace_id, metadata = traced()
    error = await failure(
        orchestrator_stub.Brief(pb.BriefRequest(patient_id=missing), timeout=30, metadata=metadata)
    )
    assert error.code() == grpc.StatusCode.NOT_FOUND
    response = await orchestrator_stub.ListAuditEvents(
        pb.ListAuditEventsRequest(patient_id=missing), timeout=30
    )
    [event] = response.events
    assert (event.method, event.outcome, event.trace_id) == (BRIEF, "NOT_FOUND", trace_id)
    assert event.agent_mode == pb.AGENT_MODE_OFFLINE  # chosen before the record was read
    assert list(event.cited_chunk_ids) == []

    # An invalid id is audited without it: it may be anything a caller typed, a name included.
    trace_id, metadata = traced()
    error = await failure(
        orchestrator_stub.BriefStream(
            pb.BriefStreamRequest(patient_id="Margarethe Quillfeather"),
            timeout=30,
            metadata=metadata,
        ).read()
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    [event] = await events_of(orchestrator_stub, trace_id, subject="anonymous")
    assert (event.method, event.patient_id, event.outcome) == (
        BRIEF_STREAM,
        "",
        "INVALID_ARGUMENT",
    )
    assert event.agent_mode == pb.AGENT_MODE_UNSPECIFIED


async def test_a_briefing_past_its_deadline_is_audited_as_such(
    briefing_stack: BriefingStack,
) -> None:
    # An orchestrator keeping 5 s of the caller's deadline back answers DEADLINE_EXCEEDED itself
    # when the caller allows less (as in test_brief_degraded).
    orchestrator = await start_service(
        "orchestrator",
        {
            **briefing_stack.env,  # its database, and spans exported (the row's trace id)
            "RETRIEVER_ADDR": briefing_stack.retriever,
            "ORCHESTRATOR_DEADLINE_MARGIN_S": "5",
        },
    )
    try:
        async with grpc.aio.insecure_channel(orchestrator.address) as channel:
            stub = orchestrator_pb2_grpc.OrchestratorStub(channel)
            trace_id, metadata = traced()
            error = await failure(
                stub.Brief(pb.BriefRequest(patient_id=RICH_ID), timeout=2.5, metadata=metadata)
            )
            assert (error.code(), error.details()) == (
                grpc.StatusCode.DEADLINE_EXCEEDED,
                DEADLINE_MESSAGE,
            )
            [event] = await events_of(stub, trace_id, patient_id=RICH_ID)
    finally:
        await orchestrator.stop()
    assert (event.method, event.outcome) == (BRIEF, "DEADLINE_EXCEEDED")


@contextlib.asynccontextmanager
async def audit_writes_failing(database: asyncpg.Connection) -> AsyncIterator[None]:
    """Every insert into the trail fails, as a database refusing writes would."""
    await database.execute(
        """
        CREATE FUNCTION test_refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'injected audit failure'; END; $$;
        CREATE TRIGGER test_refuse_audit BEFORE INSERT ON audit_events
            FOR EACH ROW EXECUTE FUNCTION test_refuse_audit();
        """
    )
    try:
        yield
    finally:
        await database.execute(
            "DROP TRIGGER test_refuse_audit ON audit_events; DROP FUNCTION test_refuse_audit();"
        )


async def test_a_briefing_whose_row_cannot_be_written_is_not_served(
    briefing_stack: BriefingStack,
    orchestrator_stub: OrchestratorAsyncStub,
    database: asyncpg.Connection,
) -> None:
    logs = briefing_stack.services["orchestrator"].log_lines
    logged_before = len(logs)
    async with audit_writes_failing(database):
        error = await failure(orchestrator_stub.Brief(pb.BriefRequest(patient_id=RICH_ID)))
        assert (error.code(), error.details()) == (grpc.StatusCode.UNAVAILABLE, BRIEF_UNAUDITED)

        received: list[pb.BriefStreamResponse] = []

        async def stream() -> None:
            request = pb.BriefStreamRequest(patient_id=RICH_ID)
            async for message in orchestrator_stub.BriefStream(request, timeout=60):
                received.append(message)

        error = await failure(stream())
        assert (error.code(), error.details()) == (grpc.StatusCode.UNAVAILABLE, BRIEF_UNAUDITED)
        assert received, "progress events come before the audit row"
        assert not any(message.HasField("briefing") for message in received)
        assert received[-1].progress.type == pb.PROGRESS_EVENT_TYPE_BRIEFING_READY

    for _ in range(100):  # the launcher reads the service's log as it comes
        failures = [line for line in logs[logged_before:] if "audit_write_failed" in line]
        if len(failures) == 2:
            break
        await asyncio.sleep(0.05)
    assert len(failures) == 2
    assert not any(RICH_ID in line or "injected" in line for line in failures)
    # Writable again: the next briefing is served and audited.
    trace_id, metadata = traced()
    await orchestrator_stub.Brief(pb.BriefRequest(patient_id=RICH_ID), metadata=metadata)
    assert len(await events_of(orchestrator_stub, trace_id, patient_id=RICH_ID)) == 1


async def test_a_change_whose_row_cannot_be_written_says_so(
    briefing_stack: BriefingStack, database: asyncpg.Connection
) -> None:
    document_id = f"audit-unwritten-{secrets.token_hex(4)}"
    # A plain stub: the client's retry of an idempotent call would only repeat the failure.
    async with grpc.aio.insecure_channel(briefing_stack.retriever) as channel:
        stub = retriever_pb2_grpc.RetrieverStub(channel)
        async with audit_writes_failing(database):
            error = await failure(
                stub.DeleteDocument(
                    retriever_pb2.DeleteDocumentRequest(document_id=document_id), timeout=30
                )
            )
    assert (error.code(), error.details()) == (grpc.StatusCode.UNAVAILABLE, CHANGE_UNAUDITED)
    rows = await database.fetchval(
        "SELECT count(*) FROM audit_events WHERE $1 = ANY(document_ids)", document_id
    )
    assert rows == 0


async def test_a_caller_that_goes_away_leaves_a_cancelled_row(
    orchestrator_stub: OrchestratorAsyncStub,
) -> None:
    trace_id, metadata = traced()
    call = orchestrator_stub.BriefStream(
        pb.BriefStreamRequest(patient_id=RICH_ID), timeout=60, metadata=metadata
    )
    first = await call.read()
    assert isinstance(first, pb.BriefStreamResponse) and first.HasField("progress")
    call.cancel()  # mid-briefing: the handler is cancelled, its row is written all the same
    events: list[pb.AuditEvent] = []
    for _ in range(100):
        events = await events_of(orchestrator_stub, trace_id, patient_id=RICH_ID)
        if events:
            break
        await asyncio.sleep(0.1)
    [event] = events
    assert (event.method, event.patient_id, event.outcome) == (BRIEF_STREAM, RICH_ID, "CANCELLED")
    assert list(event.cited_chunk_ids) == []


def chunk(document_id: str) -> retriever_pb2.IngestChunk:
    return retriever_pb2.IngestChunk(
        source=common_pb2.Source(document_id=document_id, title="Audit test", chunk_index=0),
        text="A passage written only to be ingested and deleted again.",
        content_hash=secrets.token_hex(8),
        chunk_count=1,
    )


async def _chunks(document_ids: Sequence[str]) -> AsyncIterator[retriever_pb2.IngestChunk]:
    for document_id in document_ids:
        yield chunk(document_id)


async def test_ingest_and_delete_are_audited_with_their_documents(
    briefing_stack: BriefingStack, orchestrator_stub: OrchestratorAsyncStub
) -> None:
    documents = [f"audit-doc-{secrets.token_hex(4)}" for _ in range(2)]
    async with RetrieverClient(briefing_stack.retriever) as retriever:
        ingested = await retriever.ingest(_chunks(documents))
        assert ingested.documents_written == 2
        for document_id in documents:
            assert await retriever.delete_document(document_id) == 1
        with pytest.raises(InvalidArgument, match="document_id is required"):
            await retriever.delete_document(" ")

    response = await orchestrator_stub.ListAuditEvents(
        pb.ListAuditEventsRequest(subject="anonymous", page_size=20), timeout=30
    )
    retriever_events = [e for e in response.events if e.method.startswith("/briefing.v1.Retr")]
    assert [(e.method, list(e.document_ids), e.outcome) for e in retriever_events[:4]] == [
        ("/briefing.v1.Retriever/DeleteDocument", [], "INVALID_ARGUMENT"),
        ("/briefing.v1.Retriever/DeleteDocument", [documents[1]], "OK"),
        ("/briefing.v1.Retriever/DeleteDocument", [documents[0]], "OK"),
        ("/briefing.v1.Retriever/Ingest", documents, "OK"),
    ]
    assert all(e.subject == "anonymous" and e.patient_id == "" for e in retriever_events[:4])


async def _add_rows(database: asyncpg.Connection, subject: str, patients: Sequence[str]) -> None:
    await database.executemany(
        "INSERT INTO audit_events (started_at, duration_ms, method, subject, patient_id, outcome)"
        " VALUES (now(), 1.0, $1, $2, $3, 'OK')",
        [(BRIEF, subject, patient) for patient in patients],
    )


async def _pages(
    stub: OrchestratorAsyncStub, request: pb.ListAuditEventsRequest
) -> list[list[pb.AuditEvent]]:
    pages = []
    while True:
        response = await stub.ListAuditEvents(request, timeout=30)
        pages.append(list(response.events))
        if not response.next_page_token:
            return pages
        request.page_token = response.next_page_token


async def test_events_are_listed_by_caller_and_by_patient_a_page_at_a_time(
    orchestrator_stub: OrchestratorAsyncStub, database: asyncpg.Connection
) -> None:
    alice, bob = (f"dr-{name}-{secrets.token_hex(3)}" for name in ("alice", "bob"))
    first, second = (f"audit-pt-{secrets.token_hex(3)}" for _ in range(2))
    await _add_rows(database, alice, [first, second, first, second, first])
    await _add_rows(database, bob, [first, second])

    pages = await _pages(orchestrator_stub, pb.ListAuditEventsRequest(subject=alice, page_size=2))
    assert [len(page) for page in pages] == [2, 2, 1]
    listed = [event for page in pages for event in page]
    ids = [event.event_id for event in listed]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 5  # newest first, no repeats
    assert {event.subject for event in listed} == {alice}
    assert [event.patient_id for event in listed] == [first, second, first, second, first]

    by_patient = await _pages(orchestrator_stub, pb.ListAuditEventsRequest(patient_id=first))
    assert [(e.subject, e.patient_id) for e in by_patient[0]] == [
        (bob, first),
        (alice, first),
        (alice, first),
        (alice, first),
    ]
    both = await _pages(
        orchestrator_stub, pb.ListAuditEventsRequest(patient_id=second, subject=bob)
    )
    assert [(e.subject, e.patient_id) for e in both[0]] == [(bob, second)]

    # A page holding the last events has no next token, even when it is full.
    exact = await _pages(orchestrator_stub, pb.ListAuditEventsRequest(subject=bob, page_size=2))
    assert [len(page) for page in exact] == [2]


@pytest.mark.parametrize(
    ("request_fields", "message"),
    [
        ({}, "set patient_id or subject"),
        ({"patient_id": "not an id"}, "patient_id must be"),
        ({"subject": "s" * 257}, "subject must be at most 256"),
        ({"subject": "anonymous", "page_size": 501}, "page_size must be 0 to 500"),
        ({"subject": "anonymous", "page_token": "bm90IGEgdG9rZW4"}, "not a token"),
    ],
)
async def test_a_bad_listing_request_says_what_to_fix(
    orchestrator_stub: OrchestratorAsyncStub, request_fields: dict[str, Any], message: str
) -> None:
    error = await failure(
        orchestrator_stub.ListAuditEvents(pb.ListAuditEventsRequest(**request_fields), timeout=30)
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in str(error.details())


async def test_a_page_token_is_refused_with_another_filter(
    orchestrator_stub: OrchestratorAsyncStub, database: asyncpg.Connection
) -> None:
    subject = f"dr-carol-{secrets.token_hex(3)}"
    await _add_rows(database, subject, ["p1", "p2"])
    response = await orchestrator_stub.ListAuditEvents(
        pb.ListAuditEventsRequest(subject=subject, page_size=1), timeout=30
    )
    assert response.next_page_token
    error = await failure(
        orchestrator_stub.ListAuditEvents(
            pb.ListAuditEventsRequest(subject="anonymous", page_token=response.next_page_token),
            timeout=30,
        )
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "another patient_id or subject" in str(error.details())


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET outcome = 'OK'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
    ],
)
async def test_the_trail_refuses_changes(database: asyncpg.Connection, statement: str) -> None:
    count = await database.fetchval("SELECT count(*) FROM audit_events")
    assert count > 0
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await database.execute(statement)
    assert await database.fetchval("SELECT count(*) FROM audit_events") == count
