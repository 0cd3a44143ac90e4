"""The gateway against hostile HTTP: random JSON, deep nesting, huge numbers, oversized and slow
bodies, slow headers, ``Expect: 100-continue``. Never a 500, always JSON with a message, and a
slow client is cut off by the gateway's own timeouts (2 s in this stack).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hardening.conftest import Stack

UNKNOWN_PATIENT = "nobody-0000"
LIMIT = 64 * 1024  # GATEWAY_MAX_BODY_BYTES's default
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
# Objects that look like BriefOptions: its field names with values of any type.
OPTION_LIKE = st.dictionaries(
    st.sampled_from(["mode", "max_turns", "max_results_per_search", "maxTurns", "unknown"]),
    JSON_VALUES | st.integers(min_value=-(10**30), max_value=10**30),
    max_size=3,
)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def briefing_url(stack: Stack, patient_id: str = UNKNOWN_PATIENT) -> str:
    return f"{stack.gateway}/api/v1/patients/{patient_id}/briefing"


async def post(http: aiohttp.ClientSession, url: str, body: bytes) -> tuple[int, Any, Any]:
    async with http.post(url, data=body, headers={"Content-Type": "application/json"}) as response:
        assert response.content_type == "application/json"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        return response.status, await response.json(), response.headers


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(payload=OPTION_LIKE | JSON_VALUES)
async def test_random_json_is_a_client_error_never_500(
    stack: Stack, http: aiohttp.ClientSession, payload: Any
) -> None:
    status, body, _ = await post(http, briefing_url(stack), json.dumps(payload).encode())
    # 404: valid options, and the patient is unknown; 400: options refused.
    assert status in (400, 404), body
    assert body["error"]["message"]


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=st.binary(max_size=512))
async def test_random_bytes_are_a_client_error_never_500(
    stack: Stack, http: aiohttp.ClientSession, body: bytes
) -> None:
    status, answer, _ = await post(http, briefing_url(stack), body)
    assert status in (400, 404), answer


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"[" * 30_000 + b"]" * 30_000, "nested too deeply"),
        (b'{"max_turns": ' + b"[" * 20_000 + b"]" * 20_000 + b"}", "nested too deeply"),
        (b'{"max_turns": 1e999}', "max_turns"),
        (b'{"max_turns": ' + b"9" * 5_000 + b"}", "not valid JSON"),
        (b'{"max_turns": 99999999999999999999}', "max_turns"),
        (b'{"max_turns": "four"}', "max_turns"),
        (b'{"mode": []}', "mode"),
        (b"[1, 2]", "JSON object"),
        (b"\xff\xfe{", "not valid JSON"),
    ],
    ids=[
        "nesting",
        "nested-field",
        "infinite",
        "long-number",
        "int-range",
        "string",
        "list",
        "array",
        "bytes",
    ],
)
async def test_hostile_json_is_400_with_a_message(
    stack: Stack, http: aiohttp.ClientSession, body: bytes, says: str
) -> None:
    status, answer, _ = await post(http, briefing_url(stack), body)
    assert status == 400
    assert answer["error"]["code"] == "INVALID_ARGUMENT"
    assert says in answer["error"]["message"]
    assert "Error" not in answer["error"]["message"]


async def test_a_body_over_the_limit_is_413(stack: Stack, http: aiohttp.ClientSession) -> None:
    status, answer, headers = await post(http, briefing_url(stack), b" " * (LIMIT + 1))
    assert status == 413
    assert "GATEWAY_MAX_BODY_BYTES" in answer["error"]["message"]
    assert headers["Cache-Control"] == "no-store"


async def _connect(stack: Stack) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    where = urlsplit(stack.gateway)
    assert where.hostname is not None and where.port is not None
    return await asyncio.open_connection(where.hostname, where.port)


async def test_expect_100_continue_with_an_oversize_length_is_413_before_the_body(
    stack: Stack,
) -> None:
    reader, writer = await _connect(stack)
    try:
        writer.write(
            f"POST /api/v1/patients/{UNKNOWN_PATIENT}/briefing HTTP/1.1\r\n"
            "Host: gateway\r\nContent-Type: application/json\r\n"
            f"Content-Length: {100 * 1024 * 1024}\r\nExpect: 100-continue\r\n\r\n".encode()
        )
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), timeout=30)
    finally:
        writer.close()
    assert status_line.startswith(b"HTTP/1.1 413"), status_line


async def test_expect_100_continue_within_the_limit_is_continued(stack: Stack) -> None:
    body = b'{"max_turns": 1}'
    reader, writer = await _connect(stack)
    try:
        writer.write(
            f"POST /api/v1/patients/{UNKNOWN_PATIENT}/briefing HTTP/1.1\r\n"
            "Host: gateway\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n".encode()
        )
        await writer.drain()
        first = await asyncio.wait_for(reader.readline(), timeout=30)
        writer.write(body)
        await writer.drain()
        await reader.readline()  # the blank line after 100 Continue
        final = await asyncio.wait_for(reader.readline(), timeout=60)
    finally:
        writer.close()
    assert first.startswith(b"HTTP/1.1 100"), first
    assert final.startswith(b"HTTP/1.1 404"), final  # reached the Orchestrator: unknown patient


async def test_slow_headers_are_cut_off(stack: Stack) -> None:
    reader, writer = await _connect(stack)
    try:
        writer.write(b"POST /api/v1/patients/x/briefing HTTP/1.1\r\nHost: gate")
        await writer.drain()
        # The header timeout is 2 s here; the connection must be closed well before 30 s.
        rest = await asyncio.wait_for(reader.read(), timeout=30)
    finally:
        writer.close()
    assert b"200" not in rest


async def test_a_slow_body_is_408(stack: Stack) -> None:
    reader, writer = await _connect(stack)
    try:
        writer.write(
            f"POST /api/v1/patients/{UNKNOWN_PATIENT}/briefing HTTP/1.1\r\n"
            "Host: gateway\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
            '{"max_turns":'.encode()
        )
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), timeout=30)
    finally:
        writer.close()
    assert status_line.startswith(b"HTTP/1.1 408"), status_line


async def test_every_response_says_nosniff(stack: Stack, http: aiohttp.ClientSession) -> None:
    for url in (f"{stack.gateway}/healthz", f"{stack.gateway}/no/such/page"):
        async with http.get(url) as response:
            assert response.headers["X-Content-Type-Options"] == "nosniff"
            assert "html" not in response.content_type
