"""Every RPC of every service, with TLS and auth on, refuses every bad caller correctly.

The methods come from the services' descriptors, so a method added to a contract is covered
here (and must appear in ``SCOPES``, the issue's table). Each call presents what an external
caller would: the embedder and the retriever get the operator's client certificate (mutual TLS;
its name maps to no scope), the orchestrator none. Then the good paths: a briefing with nothing
but ``briefing:read`` still searches the guidelines, since the orchestrator calls the retriever
(and the retriever the embedder) with its own certificate, never with the caller's token.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator

import grpc
import pytest
from briefing.v1 import embedder_pb2, orchestrator_pb2, orchestrator_pb2_grpc, retriever_pb2
from google.protobuf.descriptor import MethodDescriptor

from services.common.scopes import ALL_SCOPES
from tests.orchestrator.brief_support import RICH_ID
from tests.security.conftest import SecureStack
from tests.security.support import BAD_TOKENS, BadToken, Pki, TokenMint

SCOPES = {
    "briefing.v1.Embedder": {"Embed": "embeddings", "GetModelInfo": "embeddings"},
    "briefing.v1.Retriever": {
        "Search": "guidelines:read",
        "GetCollectionInfo": "guidelines:read",
        "Ingest": "guidelines:write",
        "DeleteDocument": "guidelines:write",
    },
    "briefing.v1.Orchestrator": {
        "Brief": "briefing:read",
        "BriefStream": "briefing:read",
        "ListPatients": "briefing:read",
        "ListAuditEvents": "audit:read",
    },
}
PROCESS = {
    "briefing.v1.Embedder": "embedder",
    "briefing.v1.Retriever": "retriever",
    "briefing.v1.Orchestrator": "orchestrator",
}
WITHOUT_SCOPE = BadToken(
    "valid without the scope",
    lambda mint, scope: f"Bearer {mint.token(' '.join(s for s in ALL_SCOPES if s != scope))}",
    "needs the scope",
)
DESCRIPTORS = (
    embedder_pb2.DESCRIPTOR.services_by_name["Embedder"],
    retriever_pb2.DESCRIPTOR.services_by_name["Retriever"],
    orchestrator_pb2.DESCRIPTOR.services_by_name["Orchestrator"],
)


def _methods() -> Iterator[MethodDescriptor]:
    for service in DESCRIPTORS:
        yield from service.methods


CASES = list(itertools.product(_methods(), [*BAD_TOKENS, WITHOUT_SCOPE]))


@pytest.fixture(scope="module")
async def channels(
    secure_stack: SecureStack, pki: Pki
) -> AsyncIterator[dict[str, grpc.aio.Channel]]:
    """One channel per service, as an external caller opens it."""
    opened = {
        name: grpc.aio.secure_channel(
            secure_stack.address(name),
            pki.channel_credentials(None if name == "orchestrator" else "client"),
        )
        for name in PROCESS.values()
    }
    yield opened
    for channel in opened.values():
        await channel.close(None)


async def _call(
    channel: grpc.aio.Channel, method: MethodDescriptor, authorization: str | None
) -> None:
    """Calls ``method`` with an empty request (or stream of one), reading every response."""
    path = f"/{method.containing_service.full_name}/{method.name}"
    metadata = (("authorization", authorization),) if authorization else None
    kind = (method.client_streaming, method.server_streaming)
    if kind == (False, False):
        await channel.unary_unary(path, None, None)(b"", metadata=metadata, timeout=30)
    elif kind == (False, True):
        async for _ in channel.unary_stream(path, None, None)(b"", metadata=metadata, timeout=30):
            pass
    elif kind == (True, False):
        await channel.stream_unary(path, None, None)(iter([b""]), metadata=metadata, timeout=30)
    else:
        async for _ in channel.stream_stream(path, None, None)(
            iter([b""]), metadata=metadata, timeout=30
        ):
            pass


@pytest.mark.parametrize(
    ("method", "bad"), CASES, ids=[f"{m.full_name}-{b.name}" for m, b in CASES]
)
async def test_each_rpc_refuses_each_bad_caller(
    method: MethodDescriptor,
    bad: BadToken,
    channels: dict[str, grpc.aio.Channel],
    mint: TokenMint,
) -> None:
    service = method.containing_service.full_name
    scope = SCOPES[service][method.name]
    authorization = bad.authorization(mint, scope)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _call(channels[PROCESS[service]], method, authorization)
    details = refused.value.details() or ""
    if bad is WITHOUT_SCOPE:
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED, details
        assert f"needs the scope '{scope}'" in details
    else:
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED, details
        assert bad.message in details
    token = (authorization or "").removeprefix("Bearer ")
    assert not any(len(part) > 8 and part in details for part in token.split("."))


async def test_a_briefing_with_briefing_read_alone_still_cites_guidelines(
    channels: dict[str, grpc.aio.Channel], mint: TokenMint
) -> None:
    """The caller's token could not search (no guidelines:read): the services use their own
    certificates downstream, so the briefing has its guidelines."""
    stub = orchestrator_pb2_grpc.OrchestratorStub(channels["orchestrator"])
    response = await stub.Brief(
        orchestrator_pb2.BriefRequest(patient_id=RICH_ID),
        metadata=(("authorization", f"Bearer {mint.token('briefing:read')}"),),
        timeout=120,
    )
    briefing = response.briefing
    assert briefing.guidelines_available, list(briefing.warnings)
    assert briefing.sources


async def test_an_unknown_patient_is_not_found_once_authenticated(
    channels: dict[str, grpc.aio.Channel], mint: TokenMint
) -> None:
    stub = orchestrator_pb2_grpc.OrchestratorStub(channels["orchestrator"])
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await stub.Brief(
            orchestrator_pb2.BriefRequest(patient_id="nobody-001"),
            metadata=(("authorization", f"Bearer {mint.token('briefing:read')}"),),
            timeout=60,
        )
    assert failed.value.code() == grpc.StatusCode.NOT_FOUND
