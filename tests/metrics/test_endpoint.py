"""The Prometheus endpoint's exposure rule, on real sockets: plain HTTP on loopback, HTTPS with a
client certificate from the CA once TLS is configured, refused beyond loopback without TLS
unless ALLOW_INSECURE, and a start-up refused with a message when its port is taken."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import ssl
import sys
from collections.abc import Iterator
from pathlib import Path
from wsgiref.simple_server import WSGIServer

import httpx
import pytest

from services.common.config import ConfigError, SecuritySettings
from services.common.metrics import ScrapeTls, scrape_tls, serve_prometheus
from tests.security.support import Pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki.create(tmp_path_factory.mktemp("metrics-pki"), ("embedder", "prometheus", "client"))


def tls_settings(pki: Pki) -> SecuritySettings:
    return SecuritySettings(
        tls_cert_file=pki.cert("embedder"), tls_key_file=pki.key("embedder"), tls_ca_file=pki.ca
    )


@contextlib.contextmanager
def endpoint(tls: ScrapeTls | None) -> Iterator[WSGIServer]:
    _, server = serve_prometheus("127.0.0.1", 0, tls, "embedder")
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def client_context(pki: Pki, certificate: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.ca))
    if certificate:
        context.load_cert_chain(pki.cert(certificate), pki.key(certificate))
    return context


def test_loopback_serves_plain_http_without_tls() -> None:
    assert scrape_tls("127.0.0.1", 9464, SecuritySettings(), "embedder") is None
    assert scrape_tls("localhost", 9464, SecuritySettings(), "embedder") is None
    with endpoint(None) as server:
        response = httpx.get(f"http://127.0.0.1:{server.server_port}/metrics", timeout=10)
    assert response.status_code == 200
    assert "process_cpu_seconds_total" in response.text


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "embedder.internal"])
def test_beyond_loopback_without_tls_is_refused_saying_what_to_set(host: str) -> None:
    with pytest.raises(ConfigError) as refused:
        scrape_tls(host, 9464, SecuritySettings(), "embedder")
    message = str(refused.value)
    assert f"embedder's metrics on {host}:9464" in message
    for setting in ("TLS_CERT_FILE", "127.0.0.1", "ALLOW_INSECURE=true"):
        assert setting in message


def test_allow_insecure_lets_plain_http_out() -> None:
    assert scrape_tls("0.0.0.0", 9464, SecuritySettings(allow_insecure=True), "embedder") is None


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0"])
def test_with_tls_it_serves_the_services_certificate_and_asks_for_the_callers(
    host: str, pki: Pki
) -> None:
    tls = scrape_tls(host, 9464, tls_settings(pki), "embedder")
    assert tls == ScrapeTls(str(pki.cert("embedder")), str(pki.key("embedder")), str(pki.ca))


def test_a_scraper_needs_a_client_certificate_from_the_ca(pki: Pki, tmp_path: Path) -> None:
    tls = scrape_tls("127.0.0.1", 0, tls_settings(pki), "embedder")
    with endpoint(tls) as server:
        url = f"https://127.0.0.1:{server.server_port}/metrics"
        # The development certificates are valid for 127.0.0.1 too: verified as usual.
        response = httpx.get(url, verify=client_context(pki, "prometheus"), timeout=10)
        assert response.status_code == 200
        assert "process_cpu_seconds_total" in response.text
        with pytest.raises(httpx.TransportError):  # no client certificate: the handshake fails
            httpx.get(url, verify=client_context(pki, None), timeout=10).raise_for_status()
        # A certificate from another CA is refused too.
        other = Pki.create(tmp_path / "other", ("prometheus",))
        foreign = ssl.create_default_context(cafile=str(pki.ca))
        foreign.load_cert_chain(other.cert("prometheus"), other.key("prometheus"))
        with pytest.raises(httpx.TransportError):
            httpx.get(url, verify=foreign, timeout=10).raise_for_status()
        with pytest.raises(httpx.TransportError):  # plain HTTP gets no answer
            httpx.get(f"http://127.0.0.1:{server.server_port}/metrics", timeout=10)


async def test_a_service_whose_metrics_port_is_taken_refuses_to_start() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "services.embedder", "--port", "0"),
            env={**os.environ, "EMBEDDER_METRICS_PORT": str(port), "LOG_FORMAT": "json"},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 2, output.decode()
    assert f"cannot serve the embedder's metrics on 127.0.0.1:{port}" in output.decode()
