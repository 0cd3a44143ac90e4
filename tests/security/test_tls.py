"""TLS and mutual TLS as :func:`build_credentials` sets them up, on real servers on loopback.

Who is refused (a plaintext client, a client without a certificate or with one from another
CA), who is not (any TLS client of a server that asks for no certificate), and certificate
rotation: new connections present the renewed certificate without a restart, for gRPC servers
and for the gateway's HTTPS.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import _async as health_aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from scripts import dev_ca
from services.common.certificates import HttpsContext, IdentityFiles
from services.common.config import ConfigError, SecuritySettings
from services.common.credentials import PLAINTEXT, TransportCredentials, build_credentials
from services.common.healthcheck import probe
from tests.security.support import Pki


@pytest.fixture(scope="module")
def other_pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """Another CA, whose certificates the services must not accept."""
    return Pki.create(tmp_path_factory.mktemp("other-pki"), names=("client",))


def _settings(pki: Pki, name: str) -> SecuritySettings:
    return SecuritySettings(
        tls_cert_file=pki.cert(name), tls_key_file=pki.key(name), tls_ca_file=pki.ca
    )


@contextlib.asynccontextmanager
async def health_server(credentials: TransportCredentials) -> AsyncIterator[int]:
    """A server with a health service, bound with ``credentials``; yields its port."""
    server = grpc.aio.server()
    health_pb2_grpc.add_HealthServicer_to_server(health_aio.HealthServicer(), server)
    port = credentials.add_port(server, "127.0.0.1:0")
    await server.start()
    try:
        yield port
    finally:
        await server.stop(None)


async def _healthy(channel: grpc.aio.Channel) -> bool:
    try:
        await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=3)
    except grpc.aio.AioRpcError as exc:
        assert exc.code() == grpc.StatusCode.UNAVAILABLE
        return False
    return True


async def _check(port: int, credentials: grpc.ChannelCredentials | None) -> bool:
    target = f"127.0.0.1:{port}"
    if credentials is None:
        async with grpc.aio.insecure_channel(target) as channel:
            return await _healthy(channel)
    async with grpc.aio.secure_channel(target, credentials) as channel:
        return await _healthy(channel)


async def test_mutual_tls_admits_a_client_certificate_of_the_ca(pki: Pki) -> None:
    async with health_server(build_credentials(_settings(pki, "embedder"))) as port:
        assert await _check(port, pki.channel_credentials("retriever"))


async def test_a_plaintext_client_is_refused(pki: Pki) -> None:
    async with health_server(build_credentials(_settings(pki, "embedder"))) as port:
        assert not await _check(port, None)


async def test_a_client_without_a_certificate_is_refused(pki: Pki) -> None:
    async with health_server(build_credentials(_settings(pki, "embedder"))) as port:
        assert not await _check(port, pki.channel_credentials(None))


async def test_a_client_certificate_from_another_ca_is_refused(pki: Pki, other_pki: Pki) -> None:
    stranger = grpc.ssl_channel_credentials(
        pki.ca.read_bytes(),  # it trusts our server, but its own certificate is not ours
        other_pki.key("client").read_bytes(),
        other_pki.cert("client").read_bytes(),
    )
    async with health_server(build_credentials(_settings(pki, "embedder"))) as port:
        assert not await _check(port, stranger)


async def test_a_server_of_another_ca_is_refused_by_our_channels(pki: Pki, other_pki: Pki) -> None:
    impostor = SecuritySettings(
        tls_cert_file=other_pki.cert("client"),
        tls_key_file=other_pki.key("client"),
        tls_ca_file=pki.ca,
    )
    credentials = build_credentials(impostor, require_client_certificate=False)
    async with health_server(credentials) as port:
        assert not await _check(port, pki.channel_credentials("orchestrator"))


async def test_without_client_certificates_any_tls_client_is_served(pki: Pki) -> None:
    """The orchestrator's case: its callers prove themselves by token, not certificate."""
    credentials = build_credentials(
        _settings(pki, "orchestrator"), require_client_certificate=False
    )
    async with health_server(credentials) as port:
        assert await _check(port, pki.channel_credentials(None))
        assert not await _check(port, None)


async def test_a_service_probes_itself_on_loopback_by_its_certificate_name(pki: Pki) -> None:
    """Its certificate names "embedder" first: the probe of 127.0.0.1 checks that name."""
    credentials = build_credentials(_settings(pki, "embedder"))
    assert credentials.server_name == "embedder"
    async with health_server(credentials) as port, credentials.open_own_channel(port) as channel:
        assert await probe(channel)


def test_a_certificate_that_does_not_match_its_key_stops_start_up(pki: Pki) -> None:
    mismatched = SecuritySettings(
        tls_cert_file=pki.cert("embedder"), tls_key_file=pki.key("retriever"), tls_ca_file=pki.ca
    )
    with pytest.raises(ConfigError, match="does not match the private key"):
        build_credentials(mismatched)


def test_a_token_is_never_sent_in_clear() -> None:
    with pytest.raises(ConfigError, match="over TLS only"):
        PLAINTEXT.with_token("secret-token")


async def _presented_name(port: int, pki: Pki, alpn: str | None = "h2") -> str:
    """The common name of the certificate a new TLS connection to ``port`` is shown."""
    context = ssl.create_default_context(cafile=pki.ca)
    context.load_cert_chain(pki.cert("client"), pki.key("client"))
    if alpn:
        context.set_alpn_protocols([alpn])
    _, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=context, server_hostname="localhost"
    )
    certificate = writer.get_extra_info("peercert")
    writer.close()
    with contextlib.suppress(ssl.SSLError, ConnectionError):
        await writer.wait_closed()
    subject = dict(item for rdn in certificate["subject"] for item in rdn)
    return str(subject["commonName"])


def _renew(pki: Pki, folder: Path, name: str, renewed_name: str) -> tuple[bytes, bytes]:
    """A new certificate and key for ``renewed_name`` from the same CA, as PEM."""
    ca = dev_ca.load_or_create_ca(pki.folder)
    cert, key = dev_ca.issue(ca, folder, renewed_name)
    return cert.read_bytes(), key.read_bytes()


@pytest.fixture
def rotating(pki: Pki, tmp_path: Path) -> Pki:
    """A copy of the PKI whose files a test may replace."""
    copy = tmp_path / "rotating"
    shutil.copytree(pki.folder, copy)
    return Pki(copy)


async def test_renewed_certificates_are_served_to_new_connections(
    rotating: Pki, tmp_path: Path
) -> None:
    credentials = build_credentials(_settings(rotating, "embedder"))
    async with health_server(credentials) as port:
        assert await _presented_name(port, rotating) == "embedder"
        before = grpc.aio.secure_channel(f"127.0.0.1:{port}", rotating.channel_credentials())
        assert await _healthy(before)
        cert, key = _renew(rotating, tmp_path, "embedder", "embedder-renewed")
        rotating.cert("embedder").write_bytes(cert)
        rotating.key("embedder").write_bytes(key)
        assert await _presented_name(port, rotating) == "embedder-renewed"
        assert await _check(port, rotating.channel_credentials())  # new channels work
        assert await _healthy(before)  # and the connection made before still does
        await before.close(None)


async def test_a_half_written_renewal_keeps_the_previous_certificate(
    rotating: Pki, tmp_path: Path
) -> None:
    credentials = build_credentials(_settings(rotating, "embedder"))
    async with health_server(credentials) as port:
        cert, key = _renew(rotating, tmp_path, "embedder", "embedder-renewed")
        rotating.cert("embedder").write_bytes(cert)  # the key is not written yet
        assert await _presented_name(port, rotating) == "embedder"
        assert await _check(port, rotating.channel_credentials())
        rotating.key("embedder").write_bytes(key)
        assert await _presented_name(port, rotating) == "embedder-renewed"


async def test_the_gateway_https_context_serves_renewed_certificates(
    rotating: Pki, tmp_path: Path
) -> None:
    files = IdentityFiles(rotating.cert("gateway"), rotating.key("gateway"), rotating.ca)
    https = HttpsContext(files)

    async def close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(close, "127.0.0.1", 0, ssl=https.context)
    port = server.sockets[0].getsockname()[1]
    try:
        assert await _presented_name(port, rotating, alpn=None) == "gateway"
        cert, key = _renew(rotating, tmp_path, "gateway", "gateway-renewed")
        rotating.cert("gateway").write_bytes(cert)
        rotating.key("gateway").write_bytes(key)
        assert await _presented_name(port, rotating, alpn=None) == "gateway-renewed"
    finally:
        server.close()
        await server.wait_closed()
