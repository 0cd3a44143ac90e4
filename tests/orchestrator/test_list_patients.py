"""Orchestrator.ListPatients over gRPC on the session's stack (seeded with brief_support's
RECORDS): prefix filter, pages and their tokens, bad requests."""

from __future__ import annotations

from typing import TYPE_CHECKING

import grpc
import pytest
from briefing.v1 import orchestrator_pb2 as pb

from services.common.limits import MAX_PATIENT_PAGE_SIZE, MAX_PATIENT_PREFIX_CHARS
from tests.orchestrator.brief_support import NAMED_ID, PLAIN, PLAIN_ID, RICH, RICH_ID

if TYPE_CHECKING:
    from briefing.v1.orchestrator_pb2_grpc import OrchestratorAsyncStub


async def test_pages_list_every_patient_once_by_id(
    orchestrator_stub: OrchestratorAsyncStub,
) -> None:
    first = await orchestrator_stub.ListPatients(pb.ListPatientsRequest(page_size=2))
    assert [p.patient_id for p in first.patients] == [NAMED_ID, PLAIN_ID]
    assert first.next_page_token
    second = await orchestrator_stub.ListPatients(
        pb.ListPatientsRequest(page_size=2, page_token=first.next_page_token)
    )
    assert [p.patient_id for p in second.patients] == [RICH_ID]
    assert second.next_page_token == ""
    everyone = await orchestrator_stub.ListPatients(pb.ListPatientsRequest())
    assert [p.patient_id for p in everyone.patients] == [NAMED_ID, PLAIN_ID, RICH_ID]
    assert everyone.next_page_token == ""


async def test_a_prefix_matches_a_name_or_an_id(orchestrator_stub: OrchestratorAsyncStub) -> None:
    by_name = await orchestrator_stub.ListPatients(pb.ListPatientsRequest(prefix="quillF"))
    assert list(by_name.patients) == [
        pb.PatientSummary(
            patient_id=RICH_ID,
            given_name=RICH.given_name,
            family_name=RICH.family_name,
            birth_date="1943-05-14",
        )
    ]
    by_id = await orchestrator_stub.ListPatients(pb.ListPatientsRequest(prefix="brief-plain"))
    assert [p.given_name for p in by_id.patients] == [PLAIN.given_name]
    none = await orchestrator_stub.ListPatients(pb.ListPatientsRequest(prefix="zz"))
    assert list(none.patients) == [] and none.next_page_token == ""


async def test_a_token_is_refused_with_another_prefix(
    orchestrator_stub: OrchestratorAsyncStub,
) -> None:
    first = await orchestrator_stub.ListPatients(pb.ListPatientsRequest(prefix="b", page_size=1))
    assert first.next_page_token
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await orchestrator_stub.ListPatients(
            pb.ListPatientsRequest(prefix="brief-r", page_token=first.next_page_token)
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "another prefix" in (refused.value.details() or "")
    assert "brief-r" not in (refused.value.details() or "")


@pytest.mark.parametrize(
    ("request_", "says"),
    [
        (pb.ListPatientsRequest(page_size=MAX_PATIENT_PAGE_SIZE + 1), "page_size must be 0 to"),
        (pb.ListPatientsRequest(page_size=-1), "page_size must be 0 to"),
        (pb.ListPatientsRequest(prefix="M" * (MAX_PATIENT_PREFIX_CHARS + 1)), "at most"),
        (pb.ListPatientsRequest(prefix="Marga\nret"), "control characters"),
        (pb.ListPatientsRequest(page_token="not-a-token"), "not a token this service issued"),
    ],
)
async def test_bad_requests_say_what_to_fix(
    orchestrator_stub: OrchestratorAsyncStub, request_: pb.ListPatientsRequest, says: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await orchestrator_stub.ListPatients(request_)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = refused.value.details() or ""
    assert says in details
    assert "Marga" not in details  # the prefix may be a name: never echoed


async def test_an_unknown_patient_says_how_to_seed_without_the_id(
    orchestrator_stub: OrchestratorAsyncStub,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await orchestrator_stub.Brief(pb.BriefRequest(patient_id="Quillfeather-Margarethe"))
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    details = refused.value.details() or ""
    assert "make seed" in details and "ListPatients" in details
    assert "Quillfeather" not in details
