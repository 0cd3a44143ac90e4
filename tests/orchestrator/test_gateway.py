"""POST /api/v1/patients/{id}/briefing and GET /healthz over real HTTP.

The gateway runs as its own process (``python -m services.orchestrator.gateway``, started by the
launcher like the gRPC services) in front of the session's Orchestrator; a second, in-process
gateway points at an address where nothing listens.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import grpc
import pytest
from briefing.v1 import orchestrator_pb2
from google.protobuf import json_format

from services.launcher import start_service
from services.orchestrator.gateway import HTTP_STATUS
from tests.orchestrator.brief_support import NAMED_ID, PLAIN_ID, RICH_ID
from tests.orchestrator.conftest import BASE_ENV, BriefingStack, serve_gateway


@pytest.fixture(scope="module")
async def gateway_url(briefing_stack: BriefingStack) -> AsyncIterator[str]:
    process = await start_service(
        "orchestrator.gateway", {**BASE_ENV, "ORCHESTRATOR_ADDR": briefing_stack.orchestrator}
    )
    try:
        yield f"http://{process.address}"
    finally:
        await process.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def _post(
    http: aiohttp.ClientSession, url: str, patient_id: str, body: Any = None
) -> tuple[int, Any]:
    kwargs: dict[str, Any] = {}
    if isinstance(body, str):
        kwargs["data"] = body
    elif body is not None:
        kwargs["json"] = body
    async with http.post(f"{url}/api/v1/patients/{patient_id}/briefing", **kwargs) as response:
        assert response.content_type == "application/json"
        return response.status, await response.json()


async def test_post_returns_the_briefing_as_json(
    gateway_url: str, http: aiohttp.ClientSession
) -> None:
    status, body = await _post(http, gateway_url, RICH_ID)
    assert status == 200
    assert body["patient_id"] == RICH_ID
    assert body["mode"] == "AGENT_MODE_OFFLINE"
    assert body["guidelines_available"] is True
    assert body["warnings"] == []
    cited = {i for r in body["recommendations"] for i in r["source_ids"]}
    assert cited and cited == {s["source_id"] for s in body["sources"]}
    assert body["timings"][-1]["stage"] == "total"
    # The JSON is the protobuf JSON mapping of a PatientBriefing.
    briefing = json_format.ParseDict(body, orchestrator_pb2.PatientBriefing())
    assert briefing.turns_used == 1


async def test_options_in_the_body_are_passed_on(
    gateway_url: str, http: aiohttp.ClientSession
) -> None:
    status, body = await _post(
        http, gateway_url, RICH_ID, {"mode": "AGENT_MODE_OFFLINE", "max_results_per_search": 1}
    )
    assert status == 200
    calls = [t for t in body["timings"] if t["stage"] == "tool_call"]
    assert 0 < len(body["sources"]) <= len(calls)


@pytest.mark.parametrize(
    ("patient_id", "body", "expected"),
    [
        ("no-such-patient", None, (404, "NOT_FOUND")),
        ("bad%20id", None, (400, "INVALID_ARGUMENT")),
        (RICH_ID, {"max_turns": 9}, (400, "INVALID_ARGUMENT")),
        (RICH_ID, {"mode": "AGENT_MODE_CLAUDE"}, (400, "FAILED_PRECONDITION")),
        (RICH_ID, {"no_such_option": 1}, (400, "INVALID_ARGUMENT")),
        (RICH_ID, "{not json", (400, "INVALID_ARGUMENT")),
        (RICH_ID, "[1, 2]", (400, "INVALID_ARGUMENT")),
    ],
)
async def test_errors_map_to_http_statuses_with_a_json_body(
    gateway_url: str,
    http: aiohttp.ClientSession,
    patient_id: str,
    body: Any,
    expected: tuple[int, str],
) -> None:
    status, got = await _post(http, gateway_url, patient_id, body)
    assert (status, got["error"]["code"]) == expected
    assert got["error"]["message"]
    assert "bad id" not in got["error"]["message"]


async def test_healthz_reports_the_orchestrator(
    gateway_url: str, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{gateway_url}/healthz") as response:
        assert response.status == 200
        assert await response.json() == {
            "status": "ok",
            "orchestrator": "SERVING",
            "guidelines": "SERVING",
        }


async def test_an_unreachable_orchestrator_is_503(http: aiohttp.ClientSession) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with serve_gateway(f"127.0.0.1:{port}") as url:
        status, body = await _post(http, url, RICH_ID)
        assert (status, body["error"]["code"]) == (503, "UNAVAILABLE")
        async with http.get(f"{url}/healthz") as response:
            assert response.status == 503
            assert await response.json() == {
                "status": "unavailable",
                "orchestrator": "UNAVAILABLE",
                "guidelines": "UNAVAILABLE",
            }


def test_the_status_table_covers_the_briefing_errors() -> None:
    expected = {
        grpc.StatusCode.INVALID_ARGUMENT: 400,
        grpc.StatusCode.NOT_FOUND: 404,
        grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
        grpc.StatusCode.UNAVAILABLE: 503,
        grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    }
    assert {code: HTTP_STATUS[code] for code in expected} == expected


async def test_get_patients_lists_who_can_be_briefed(
    gateway_url: str, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{gateway_url}/api/v1/patients", params={"page_size": "2"}) as response:
        assert response.status == 200
        first = await response.json()
    assert [p["patient_id"] for p in first["patients"]] == [NAMED_ID, PLAIN_ID]
    params = {"page_size": "2", "page_token": first["next_page_token"]}
    async with http.get(f"{gateway_url}/api/v1/patients", params=params) as response:
        second = await response.json()
    assert second == {
        "patients": [
            {
                "patient_id": RICH_ID,
                "given_name": "Margarethe",
                "family_name": "Quillfeather",
                "birth_date": "1943-05-14",
            }
        ],
        "next_page_token": "",
    }
    async with http.get(f"{gateway_url}/api/v1/patients?prefix=tobiah") as response:
        assert [p["patient_id"] for p in (await response.json())["patients"]] == [PLAIN_ID]


@pytest.mark.parametrize(
    "query", ["page_size=ten", "page_size=999", "page_token=xyz", "patient=Tobiah"]
)
async def test_get_patients_refuses_a_bad_query_with_400(
    gateway_url: str, http: aiohttp.ClientSession, query: str
) -> None:
    async with http.get(f"{gateway_url}/api/v1/patients?{query}") as response:
        assert response.status == 400
        body = await response.json()
    assert body["error"]["code"] == "INVALID_ARGUMENT"
    assert body["error"]["message"] and "Tobiah" not in body["error"]["message"]


def test_the_json_carries_each_recommendations_grounding_flags() -> None:
    from services.orchestrator.gateway import briefing_json  # noqa: PLC0415

    briefing = orchestrator_pb2.PatientBriefing(
        recommendations=[
            orchestrator_pb2.Recommendation(
                text="Start empagliflozin.",
                grounding_flags=[
                    orchestrator_pb2.GroundingFlag(
                        kind=orchestrator_pb2.GROUNDING_FLAG_KIND_UNSUPPORTED_DRUG,
                        unmatched=["empagliflozin"],
                    ),
                    orchestrator_pb2.GroundingFlag(
                        kind=orchestrator_pb2.GROUNDING_FLAG_KIND_WEAK_SUPPORT, similarity=0.125
                    ),
                ],
                support_similarity=0.125,
            ),
            orchestrator_pb2.Recommendation(text="Keep metformin."),
        ]
    )
    flagged, clean = briefing_json(briefing)["recommendations"]
    assert flagged["grounding_flags"] == [
        {"kind": "GROUNDING_FLAG_KIND_UNSUPPORTED_DRUG", "unmatched": ["empagliflozin"]},
        {"kind": "GROUNDING_FLAG_KIND_WEAK_SUPPORT", "unmatched": [], "similarity": 0.125},
    ]
    assert flagged["support_similarity"] == 0.125
    assert clean["grounding_flags"] == [] and "support_similarity" not in clean
