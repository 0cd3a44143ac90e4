"""The address settings take the gRPC targets the channels balance over, and refuse the rest
with a message that names the variable and the forms it takes."""

from __future__ import annotations

import pytest

from services.common.config import ConfigError, ServiceAddresses, load_settings


@pytest.mark.parametrize(
    "target",
    [
        "127.0.0.1:50051",
        "embedder-headless:50051",
        "[::1]:50051",
        "dns:///embedder-headless:50051",
        "dns://10.0.0.10:53/embedder:50051",
        "ipv4:127.0.0.1:50051",
        "ipv4:127.0.0.1:50051,127.0.0.1:50061",
        "ipv6:[::1]:50051,[::1]:50061",
        "unix:/run/embedder.sock",
    ],
)
def test_accepted_targets(target: str) -> None:
    assert load_settings(ServiceAddresses, EMBEDDER_ADDR=target).embedder_addr == target


@pytest.mark.parametrize(
    ("target", "problem"),
    [
        ("localhost", "not a gRPC target"),
        ("http://127.0.0.1:50051", "not a gRPC target"),
        ("dns:///embedder", "not a gRPC target"),
        ("ipv4:127.0.0.1:50051;127.0.0.1:50061", "not a gRPC target"),
        ("ipv4:embedder:50051", "not a gRPC target"),
        ("", "not a gRPC target"),
        ("127.0.0.1:70000", "a port is out of range"),
        ("ipv4:127.0.0.1:50051,127.0.0.1:0", "a port is out of range"),
    ],
)
def test_refused_targets_name_the_variable_and_the_forms(target: str, problem: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(ServiceAddresses, RETRIEVER_ADDR=target)
    message = str(raised.value)
    assert f"RETRIEVER_ADDR={target!r}" in message
    assert problem in message
    if problem == "not a gRPC target":
        assert "dns:///name:port" in message and "ipv4:" in message
