"""Secure by default, and a busy port, through real service processes.

The retriever stands for every service (they share the bootstrap); it starts in seconds with an
embedder address it never calls. The gateway, which has its own start-up, is checked too.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.common.exposure import is_loopback
from services.launcher import LaunchError, start_service
from tests.security.support import Pki, TokenMint


def _retriever_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "RETRIEVER_QDRANT_PATH": str(tmp_path / "qdrant"),
        "EMBEDDER_ADDR": "127.0.0.1:9",  # never called here
        "LOG_FORMAT": "json",
        **extra,
    }


def _events(lines: list[str]) -> list[dict[str, object]]:
    events = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            events.append(record)
    return events


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.0.1", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.5", False),
        ("briefing.internal", False),
    ],
)
def test_loopback_is_told_apart(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


async def test_beyond_loopback_without_tls_and_auth_a_service_refuses_to_start(
    tmp_path: Path,
) -> None:
    with pytest.raises(LaunchError) as refused:
        await start_service("retriever", _retriever_env(tmp_path), host="0.0.0.0")
    message = str(refused.value)
    assert "exited with 2" in message
    for setting in ("TLS_CERT_FILE", "TLS_KEY_FILE", "TLS_CA_FILE", "AUTH_JWT_PUBLIC_KEY_FILE"):
        assert setting in message
    assert "ALLOW_INSECURE=true" in message


async def test_tls_alone_is_not_enough_beyond_loopback(tmp_path: Path, pki: Pki) -> None:
    env = _retriever_env(tmp_path, **pki.env("retriever"))
    with pytest.raises(LaunchError) as refused:
        await start_service("retriever", env, host="0.0.0.0")
    assert "without auth (AUTH_JWT_PUBLIC_KEY_FILE" in str(refused.value)
    assert "TLS_CERT_FILE" not in str(refused.value)


async def test_allow_insecure_starts_with_a_warning(tmp_path: Path) -> None:
    env = _retriever_env(tmp_path, ALLOW_INSECURE="true")
    service = await start_service("retriever", env, host="0.0.0.0")
    try:
        warnings = [e for e in _events(service.log_lines) if e["event"] == "insecure_exposed"]
        assert len(warnings) == 1
        assert warnings[0]["level"] == "warning"
        assert "ALLOW_INSECURE=true" in str(warnings[0]["detail"])
    finally:
        assert await service.stop() == 0


async def test_with_tls_and_auth_a_service_listens_beyond_loopback(
    tmp_path: Path, pki: Pki, mint: TokenMint
) -> None:
    env = _retriever_env(tmp_path, **pki.env("retriever"), **mint.env())
    service = await start_service("retriever", env, host="0.0.0.0")
    try:
        events = [e["event"] for e in _events(service.log_lines)]
        assert "secured" in events
        assert "insecure_exposed" not in events
    finally:
        assert await service.stop() == 0


async def test_on_loopback_the_development_mode_is_one_log_line(tmp_path: Path) -> None:
    service = await start_service("retriever", _retriever_env(tmp_path))
    try:
        notes = [e for e in _events(service.log_lines) if e["event"] == "insecure_loopback"]
        assert len(notes) == 1
        assert notes[0]["tls"] is False and notes[0]["auth"] is False
    finally:
        assert await service.stop() == 0


async def test_a_second_server_on_a_busy_port_fails_to_start(tmp_path: Path) -> None:
    first = await start_service("retriever", _retriever_env(tmp_path / "first"))
    try:
        port = int(first.address.rsplit(":", 1)[1])
        with pytest.raises(LaunchError) as refused:
            await start_service("retriever", _retriever_env(tmp_path / "second"), port=port)
        assert "exited with 1" in str(refused.value)
        assert f"cannot listen on 127.0.0.1:{port}: the port is in use" in str(refused.value)
    finally:
        assert await first.stop() == 0


async def test_the_gateway_refuses_beyond_loopback_without_tls_and_auth() -> None:
    with pytest.raises(LaunchError) as refused:
        await start_service("orchestrator.gateway", {"LOG_FORMAT": "json"}, host="0.0.0.0")
    assert "exited with 2" in str(refused.value)
    assert "refusing to run the gateway on 0.0.0.0" in str(refused.value)


async def test_a_busy_gateway_port_fails_to_start() -> None:
    first = await start_service("orchestrator.gateway", {"LOG_FORMAT": "json"})
    try:
        port = int(first.address.rsplit(":", 1)[1])
        with pytest.raises(LaunchError) as refused:
            await start_service("orchestrator.gateway", {"LOG_FORMAT": "json"}, port=port)
        assert f"cannot listen on 127.0.0.1:{port}" in str(refused.value)
    finally:
        await first.stop()
