"""The auth interceptor on a real grpc.aio server over mutual TLS, in this process.

The test service answers with the principal its handler runs as (what the audit trail reads),
so each test shows who the call was admitted as, or how it was refused.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import grpc
import pytest
from briefing.v1 import embedder_pb2
from grpc_health.v1 import _async as health_aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.common.auth import AuthInterceptor
from services.common.config import ConfigError, SecuritySettings
from services.common.credentials import build_credentials
from services.common.errors import ErrorMappingInterceptor
from services.common.interceptors import Context
from services.common.principal import current_principal
from services.common.scopes import ServiceAccess
from services.common.server import check_declared_scopes
from services.common.tokens import TokenVerifier
from tests.security.support import AUDIENCE, ISSUER, Pki, TokenMint

SERVICE = "test.v1.Whoami"
HEALTH = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
EMBEDDER = embedder_pb2.DESCRIPTOR.services_by_name["Embedder"].full_name


async def _whoami(request: bytes, context: Context) -> bytes:
    principal = current_principal()
    scopes = ",".join(sorted(principal.scopes))
    return f"{principal.subject}|{principal.authenticated_by}|{scopes}".encode()


async def _whoami_stream(request: bytes, context: Context) -> AsyncIterator[bytes]:
    for _ in range(2):
        yield await _whoami(request, context)


@pytest.fixture(scope="module")
async def address(pki: Pki, mint: TokenMint) -> AsyncIterator[str]:
    settings = SecuritySettings(
        tls_cert_file=pki.cert("embedder"),
        tls_key_file=pki.key("embedder"),
        tls_ca_file=pki.ca,
        auth_jwt_public_key_file=mint.public_key_file,
        auth_issuer=ISSUER,
        auth_audience=AUDIENCE,
        auth_certificate_scopes={"retriever": ["read"]},
    )
    verifier = TokenVerifier.from_settings(settings)
    assert verifier is not None
    auth = AuthInterceptor(verifier, settings.auth_certificate_scopes, [HEALTH])
    # "Secret" is registered with the server but declares no scope: nobody may call it.
    auth.register([ServiceAccess(SERVICE, {"Read": "read", "ReadStream": "read"})])
    server = grpc.aio.server(interceptors=[ErrorMappingInterceptor(), auth])
    handlers = {
        "Read": grpc.unary_unary_rpc_method_handler(_whoami),
        "ReadStream": grpc.unary_stream_rpc_method_handler(_whoami_stream),
        "Secret": grpc.unary_unary_rpc_method_handler(_whoami),
    }
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(SERVICE, handlers)])
    health = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    port = build_credentials(settings).add_port(server, "127.0.0.1:0")
    await server.start()
    yield f"127.0.0.1:{port}"
    await server.stop(None)


@contextlib.asynccontextmanager
async def channel_as(pki: Pki, address: str, name: str) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.secure_channel(address, pki.channel_credentials(name)) as channel:
        yield channel


async def _read(channel: grpc.aio.Channel, token: str | None = None, method: str = "Read") -> str:
    metadata = (("authorization", f"Bearer {token}"),) if token else None
    call = channel.unary_unary(f"/{SERVICE}/{method}", None, None)
    return bytes(await call(b"", metadata=metadata, timeout=5)).decode()


async def test_a_token_holder_is_served_as_the_token_names(
    pki: Pki, mint: TokenMint, address: str
) -> None:
    async with channel_as(pki, address, "client") as channel:
        assert await _read(channel, mint.token("read other")) == "dr-test|token|other,read"


async def test_a_streaming_handler_runs_as_the_caller_too(
    pki: Pki, mint: TokenMint, address: str
) -> None:
    async with channel_as(pki, address, "client") as channel:
        stream = channel.unary_stream(f"/{SERVICE}/ReadStream", None, None)
        metadata = (("authorization", f"Bearer {mint.token('read')}"),)
        replies = [bytes(r).decode() async for r in stream(b"", metadata=metadata, timeout=5)]
    assert replies == ["dr-test|token|read"] * 2


async def test_a_service_is_known_by_its_certificate(pki: Pki, address: str) -> None:
    async with channel_as(pki, address, "retriever") as channel:
        assert await _read(channel) == "retriever|certificate|read"


async def test_a_sent_token_decides_even_with_a_known_certificate(
    pki: Pki, mint: TokenMint, address: str
) -> None:
    async with channel_as(pki, address, "retriever") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await _read(channel, mint.token("read", exp=1))
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "has expired" in (refused.value.details() or "")


async def test_a_certificate_without_scopes_must_send_a_token(pki: Pki, address: str) -> None:
    async with channel_as(pki, address, "client") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await _read(channel)
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "missing bearer token" in (refused.value.details() or "")


async def test_a_method_without_a_declared_scope_is_refused_to_all(
    pki: Pki, mint: TokenMint, address: str
) -> None:
    async with channel_as(pki, address, "client") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await _read(channel, mint.token("read"), method="Secret")
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "no caller holds" in (refused.value.details() or "")


async def test_two_authorization_values_are_refused(
    pki: Pki, mint: TokenMint, address: str
) -> None:
    token = mint.token("read")
    metadata = (("authorization", f"Bearer {token}"), ("authorization", f"Bearer {token}"))
    async with channel_as(pki, address, "client") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await channel.unary_unary(f"/{SERVICE}/Read", None, None)(
                b"", metadata=metadata, timeout=5
            )
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "more than once" in (refused.value.details() or "")


async def test_health_is_open_without_credentials(pki: Pki, address: str) -> None:
    async with channel_as(pki, address, "client") as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=5
        )
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_a_service_without_a_scope_for_each_method_does_not_start() -> None:
    partial = ServiceAccess(EMBEDDER, {"Embed": "embeddings"})
    with pytest.raises(ConfigError, match="declares no scope for GetModelInfo"):
        check_declared_scopes([partial])
    check_declared_scopes([ServiceAccess(EMBEDDER, {"Embed": "x", "GetModelInfo": "x"})])
