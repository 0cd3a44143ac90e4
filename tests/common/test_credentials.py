"""Transport credentials, built in one place, through a real server and channel on loopback."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import grpc

from services.common.config import SecuritySettings
from services.common.credentials import TransportCredentials, build_credentials
from services.common.interceptors import Context

SERVICE = "test.v1.Peer"


async def _describe_peer(request: bytes, context: Context) -> bytes:
    """Answers how the call reached the server: its transport security and its bearer token."""
    security = b",".join(context.auth_context()["transport_security_type"]).decode()
    token = dict(context.invocation_metadata() or ()).get("authorization", "none")
    return f"{security}; {token}".encode()


@contextlib.asynccontextmanager
async def peer_channel(credentials: TransportCredentials) -> AsyncIterator[grpc.aio.Channel]:
    """A server whose port ``credentials`` bound, and a channel to it that they opened."""
    server = grpc.aio.server()
    handlers = {"Describe": grpc.unary_unary_rpc_method_handler(_describe_peer)}
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(SERVICE, handlers)])
    port = credentials.add_port(server, "127.0.0.1:0")
    await server.start()
    try:
        async with credentials.open_channel(f"127.0.0.1:{port}") as channel:
            yield channel
    finally:
        await server.stop(None)


async def _how_the_server_saw_us(channel: grpc.aio.Channel) -> str:
    describe = channel.unary_unary(
        f"/{SERVICE}/Describe", request_serializer=None, response_deserializer=None
    )
    return bytes(await describe(b"", timeout=5)).decode()


async def test_without_tls_files_the_project_speaks_plaintext() -> None:
    async with peer_channel(build_credentials(SecuritySettings())) as channel:
        assert await _how_the_server_saw_us(channel) == "insecure; none"


async def test_given_credentials_secure_both_sides() -> None:
    # Local credentials (loopback only) stand in for TLS. The server shows that it applied
    # them in its auth context; the channel, by sending the token of its call credentials,
    # which gRPC only sends over a secured channel.
    credentials = TransportCredentials(
        server=grpc.local_server_credentials(),
        channel=grpc.composite_channel_credentials(
            grpc.local_channel_credentials(), grpc.access_token_call_credentials("test-token")
        ),
    )
    async with peer_channel(credentials) as channel:
        assert await _how_the_server_saw_us(channel) == "local; Bearer test-token"
