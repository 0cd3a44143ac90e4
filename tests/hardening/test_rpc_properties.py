"""Every RPC of every service, fed random and hostile requests: decodable or not, never INTERNAL
or UNKNOWN, always answered within a bound set from the request's size, and the service stays
SERVING.

Requests are sent as raw bytes, so that the same call path carries well-formed messages with
hostile fields (strategies.messages) and bytes that are no message at all. The bound is a hang
detector, not a speed target: a generous base for a loaded machine plus time per byte.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from briefing.v1 import (
    embedder_pb2,
    orchestrator_pb2,
    retriever_pb2,
)
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hardening.conftest import Stack, assert_serving
from tests.hardening.strategies import messages

#: Codes that mean the service failed, not the request.
SERVER_FAULTS = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}
BASE_BOUND_S = 60.0
SECONDS_PER_MB = 30.0
EXAMPLES = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def bound_s(size: int) -> float:
    return BASE_BOUND_S + SECONDS_PER_MB * size / 1_000_000


@dataclass(frozen=True)
class Rpc:
    """One method: its service, request message, streaming sides and which process serves it."""

    service: str
    method: str
    request: type[Message]
    address: Callable[[Stack], str]
    streaming_request: bool = False
    streaming_response: bool = False

    @property
    def path(self) -> str:
        return f"/briefing.v1.{self.service}/{self.method}"


def _embedder(stack: Stack) -> str:
    return stack.embedder


def _retriever(stack: Stack) -> str:
    return stack.retriever


def _orchestrator(stack: Stack) -> str:
    return stack.orchestrator


RPCS = [
    Rpc("Embedder", "Embed", embedder_pb2.EmbedRequest, _embedder),
    Rpc("Embedder", "GetModelInfo", embedder_pb2.GetModelInfoRequest, _embedder),
    Rpc("Retriever", "Search", retriever_pb2.SearchRequest, _retriever),
    Rpc("Retriever", "Ingest", retriever_pb2.IngestRequest, _retriever, streaming_request=True),
    Rpc("Retriever", "DeleteDocument", retriever_pb2.DeleteDocumentRequest, _retriever),
    Rpc("Retriever", "GetCollectionInfo", retriever_pb2.GetCollectionInfoRequest, _retriever),
    Rpc("Orchestrator", "Brief", orchestrator_pb2.BriefRequest, _orchestrator),
    Rpc(
        "Orchestrator",
        "BriefStream",
        orchestrator_pb2.BriefStreamRequest,
        _orchestrator,
        streaming_response=True,
    ),
    Rpc("Orchestrator", "ListAuditEvents", orchestrator_pb2.ListAuditEventsRequest, _orchestrator),
    Rpc("Orchestrator", "ListPatients", orchestrator_pb2.ListPatientsRequest, _orchestrator),
]
IDS = [f"{rpc.service}.{rpc.method}" for rpc in RPCS]


async def call_raw(stack: Stack, rpc: Rpc, payloads: list[bytes]) -> None:
    """Sends ``payloads`` (one message, or a stream of them) as raw bytes; returns when the call
    ends, successfully or not. Raises AssertionError for a server fault or a missed bound."""
    size = sum(len(p) for p in payloads)
    timeout = bound_s(size)
    raw: dict[str, Any] = {"request_serializer": None, "response_deserializer": None}
    options = [("grpc.max_send_message_length", 64 * 1024 * 1024)]
    async with grpc.aio.insecure_channel(rpc.address(stack), options=options) as channel:
        try:
            if rpc.streaming_request:
                await channel.stream_unary(rpc.path, **raw)(iter(payloads), timeout=timeout)
            elif rpc.streaming_response:
                async for _ in channel.unary_stream(rpc.path, **raw)(payloads[0], timeout=timeout):
                    pass
            else:
                await channel.unary_unary(rpc.path, **raw)(payloads[0], timeout=timeout)
        except grpc.aio.AioRpcError as error:
            details = error.details() or ""
            assert error.code() not in SERVER_FAULTS, f"{rpc.path}: {error.code()} {details}"
            assert error.code() != grpc.StatusCode.DEADLINE_EXCEEDED, (
                f"{rpc.path} took longer than {timeout:.0f} s for {size:,} bytes"
            )
            assert "Error" not in details, f"an exception class in the message: {details}"
    await assert_serving(rpc.address(stack))


@pytest.mark.parametrize("rpc", RPCS, ids=IDS)
@EXAMPLES
@given(data=st.data())
async def test_random_messages_are_answered_without_server_faults(
    stack: Stack, rpc: Rpc, data: st.DataObject
) -> None:
    batch = data.draw(st.lists(messages(rpc.request), min_size=1, max_size=3))
    await call_raw(stack, rpc, [message.SerializeToString() for message in batch])


@pytest.mark.parametrize("rpc", RPCS, ids=IDS)
@EXAMPLES
@given(payloads=st.lists(st.binary(min_size=1, max_size=256), min_size=1, max_size=3))
async def test_random_bytes_are_answered_without_server_faults(
    stack: Stack, rpc: Rpc, payloads: list[bytes]
) -> None:
    await call_raw(stack, rpc, payloads)
