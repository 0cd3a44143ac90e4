"""Honest degradation: a briefing says how complete it is in ``completeness``, the gateway in a
``Briefing-Completeness`` header (HTTP 200), the terminal client at the top.

The gateway runs in this process in front of a stand-in Orchestrator on loopback that answers
each patient id with a briefing of one completeness, so that every value crosses real HTTP and
gRPC. The Orchestrator's own choice of the value is tested on its function here, and on the
real stack in tests/orchestrator (the Retriever stopped: NO_GUIDELINES).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import grpc
import pytest
from briefing.v1 import orchestrator_pb2

from services.orchestrator.agent.domain import SearchCall, SearchOutcome
from services.orchestrator.briefing import GUIDELINES_UNAVAILABLE, completeness
from services.orchestrator.client import render_briefing
from services.orchestrator.gateway import COMPLETENESS_HEADER
from tests.orchestrator.conftest import serve_gateway

pb = orchestrator_pb2
BY_PATIENT = {
    "whole-001": pb.BRIEFING_COMPLETENESS_COMPLETE,
    "part-002": pb.BRIEFING_COMPLETENESS_PARTIAL_GUIDELINES,
    "none-003": pb.BRIEFING_COMPLETENESS_NO_GUIDELINES,
}


def outcome(call_id: str, ok: bool) -> SearchOutcome:
    call = SearchCall(call_id=call_id, query="metformin egfr", max_results=5)
    return SearchOutcome(call=call) if ok else SearchOutcome(call=call, error="search failed")


@pytest.mark.parametrize(
    ("oks", "expected"),
    [
        ((True, True, True), pb.BRIEFING_COMPLETENESS_COMPLETE),
        ((True, False, True), pb.BRIEFING_COMPLETENESS_PARTIAL_GUIDELINES),
        ((False, False), pb.BRIEFING_COMPLETENESS_NO_GUIDELINES),
        ((), pb.BRIEFING_COMPLETENESS_NO_GUIDELINES),
    ],
)
def test_completeness_follows_the_searches(oks: tuple[bool, ...], expected: int) -> None:
    outcomes = [outcome(f"call-{i}", ok) for i, ok in enumerate(oks)]
    assert completeness(outcomes) == expected


def briefing_of(patient_id: str) -> pb.PatientBriefing:
    """A briefing with two searches, as complete as BY_PATIENT says."""
    level = BY_PATIENT[patient_id]
    failed = {
        pb.BRIEFING_COMPLETENESS_COMPLETE: 0,
        pb.BRIEFING_COMPLETENESS_PARTIAL_GUIDELINES: 1,
        pb.BRIEFING_COMPLETENESS_NO_GUIDELINES: 2,
    }[level]
    return pb.PatientBriefing(
        patient_id=patient_id,
        summary="A summary.",
        mode=pb.AGENT_MODE_OFFLINE,
        turns_used=1,
        guidelines_available=failed < 2,
        completeness=level,
        searches=[
            pb.GuidelineSearch(turn=1, tool_call_id=f"call-{i}", query="q", ok=i >= failed)
            for i in range(2)
        ],
        warnings=[GUIDELINES_UNAVAILABLE] if failed == 2 else [],
    )


async def stand_in_brief(
    request: pb.BriefRequest, context: grpc.aio.ServicerContext[Any, Any]
) -> pb.BriefResponse:
    """Orchestrator.Brief of the stand-in: the briefing BY_PATIENT names."""
    return pb.BriefResponse(briefing=briefing_of(request.patient_id))


STAND_IN = grpc.method_handlers_generic_handler(
    "briefing.v1.Orchestrator",
    {
        "Brief": grpc.unary_unary_rpc_method_handler(
            stand_in_brief,
            request_deserializer=pb.BriefRequest.FromString,
            response_serializer=pb.BriefResponse.SerializeToString,
        )
    },
)


@pytest.fixture
async def gateway() -> AsyncIterator[str]:
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((STAND_IN,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with serve_gateway(f"127.0.0.1:{port}", brief_timeout_s=10) as url:
            yield url
    finally:
        await server.stop(None)


@pytest.mark.parametrize(
    ("patient_id", "header", "field"),
    [
        ("whole-001", "complete", "BRIEFING_COMPLETENESS_COMPLETE"),
        ("part-002", "partial-guidelines", "BRIEFING_COMPLETENESS_PARTIAL_GUIDELINES"),
        ("none-003", "no-guidelines", "BRIEFING_COMPLETENESS_NO_GUIDELINES"),
    ],
)
async def test_the_gateway_answers_200_with_the_completeness_header(
    gateway: str, patient_id: str, header: str, field: str
) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{gateway}/api/v1/patients/{patient_id}/briefing") as response,
    ):
        assert response.status == 200
        assert response.headers[COMPLETENESS_HEADER] == header
        body = await response.json()
    assert body["completeness"] == field


def test_the_client_says_first_that_a_briefing_is_partial() -> None:
    text = render_briefing(briefing_of("part-002"))
    top = text.split("\nSummary")[0]
    assert "!! Partial guidelines: 1 of 2 guideline searches failed" in top


def test_the_client_says_first_that_a_briefing_has_no_guidelines() -> None:
    text = render_briefing(briefing_of("none-003"))
    top = " ".join(text.split("\nSummary")[0].split())  # the notice is wrapped
    assert f"!! {GUIDELINES_UNAVAILABLE}" in top
    assert "!!" not in render_briefing(briefing_of("whole-001"))
