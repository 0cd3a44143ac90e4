"""The audit trail names the authenticated caller: on the secure stack (TLS and auth on), each
briefing and each change of the corpus is recorded under the subject of the caller's token, and
read back by a caller holding ``audit:read``, whose own reading leaves no row."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import grpc
import pytest
from briefing.v1 import orchestrator_pb2, orchestrator_pb2_grpc, retriever_pb2, retriever_pb2_grpc

from tests.orchestrator.brief_support import RICH_ID
from tests.security.conftest import SecureStack
from tests.security.support import Pki, TokenMint

pb = orchestrator_pb2


def bearer(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)


@pytest.fixture
async def channels(
    secure_stack: SecureStack, pki: Pki
) -> AsyncIterator[tuple[grpc.aio.Channel, grpc.aio.Channel]]:
    """The orchestrator's (TLS) and the retriever's (mutual TLS) channels of an outside caller."""
    orchestrator = grpc.aio.secure_channel(
        secure_stack.address("orchestrator"), pki.channel_credentials(None)
    )
    retriever = grpc.aio.secure_channel(
        secure_stack.address("retriever"), pki.channel_credentials("client")
    )
    yield orchestrator, retriever
    await orchestrator.close(None)
    await retriever.close(None)


async def test_each_call_is_recorded_under_its_callers_subject(
    channels: tuple[grpc.aio.Channel, grpc.aio.Channel], mint: TokenMint
) -> None:
    orchestrator, retriever = channels
    briefings = orchestrator_pb2_grpc.OrchestratorStub(orchestrator)
    corpus = retriever_pb2_grpc.RetrieverStub(retriever)
    clinician = f"dr-{secrets.token_hex(4)}"
    auditor = f"auditor-{secrets.token_hex(4)}"
    missing = f"nobody-{secrets.token_hex(4)}"
    document = f"no-such-guideline-{secrets.token_hex(4)}"

    served = await briefings.Brief(
        pb.BriefRequest(patient_id=RICH_ID),
        metadata=bearer(mint.token("briefing:read", sub=clinician)),
        timeout=120,
    )
    with pytest.raises(grpc.aio.AioRpcError) as not_found:
        await briefings.Brief(
            pb.BriefRequest(patient_id=missing),
            metadata=bearer(mint.token("briefing:read", sub=clinician)),
            timeout=60,
        )
    assert not_found.value.code() == grpc.StatusCode.NOT_FOUND
    deleted = await corpus.DeleteDocument(
        retriever_pb2.DeleteDocumentRequest(document_id=document),
        metadata=bearer(mint.token("guidelines:write", sub=clinician)),
        timeout=30,
    )
    assert deleted.chunks_deleted == 0

    read_as_auditor = bearer(mint.token("audit:read", sub=auditor))
    listing = await briefings.ListAuditEvents(
        pb.ListAuditEventsRequest(subject=clinician), metadata=read_as_auditor, timeout=30
    )
    assert [
        (event.method, event.subject, event.patient_id, event.outcome, list(event.document_ids))
        for event in listing.events
    ] == [  # newest first
        ("/briefing.v1.Retriever/DeleteDocument", clinician, "", "OK", [document]),
        ("/briefing.v1.Orchestrator/Brief", clinician, missing, "NOT_FOUND", []),
        ("/briefing.v1.Orchestrator/Brief", clinician, RICH_ID, "OK", []),
    ]
    cited = [source.chunk_id for source in served.briefing.sources]
    assert cited and list(listing.events[-1].cited_chunk_ids) == cited

    # By patient, the same served briefing is there under the clinician's name.
    by_patient = await briefings.ListAuditEvents(
        pb.ListAuditEventsRequest(patient_id=RICH_ID, subject=clinician),
        metadata=read_as_auditor,
        timeout=30,
    )
    assert [event.event_id for event in by_patient.events] == [listing.events[-1].event_id]
    # Reading the trail is not an audited access: the auditor has no row of its own.
    own = await briefings.ListAuditEvents(
        pb.ListAuditEventsRequest(subject=auditor), metadata=read_as_auditor, timeout=30
    )
    assert list(own.events) == []
