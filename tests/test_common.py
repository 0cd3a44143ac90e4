"""The shared bootstrap: settings errors, error mapping, and the channel's retry policy."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import grpc
import pytest
from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict
from structlog.testing import capture_logs

from services.common.channels import MethodPolicy, create_channel, service_config
from services.common.config import ConfigError, ServerSettings, load_settings
from services.common.errors import ErrorMappingInterceptor, NotFound

SERVICE = "test.v1.Echo"


class _EchoSettings(ServerSettings):
    model_config = SettingsConfigDict(env_prefix="ECHO_", extra="ignore")


def test_bad_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECHO_PORT", "70000")
    with pytest.raises(ConfigError, match=r"ECHO_PORT='70000'.*65535"):
        load_settings(_EchoSettings)


class _SecretSettings(ServerSettings):
    model_config = SettingsConfigDict(env_prefix="ECHO_", extra="ignore")
    api_key: SecretStr = Field(min_length=20)


def test_bad_secret_is_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECHO_API_KEY", "hunter2")
    with pytest.raises(ConfigError, match="ECHO_API_KEY=<hidden>") as err:
        load_settings(_SecretSettings)
    assert "hunter2" not in str(err.value)


def test_service_config_retries_only_idempotent_methods() -> None:
    config = json.loads(
        service_config(
            SERVICE,
            {"Get": MethodPolicy(timeout_s=2, idempotent=True), "Put": MethodPolicy(5, False)},
        )
    )
    by_method = {c["name"][0]["method"]: c for c in config["methodConfig"]}
    assert by_method["Get"]["retryPolicy"]["retryableStatusCodes"] == ["UNAVAILABLE"]
    assert "retryPolicy" not in by_method["Put"]
    assert by_method["Put"]["timeout"] == "5.000s"


class _Behaviour:
    """Unary handlers for a generic service: fails as told, counting calls."""

    def __init__(self) -> None:
        self.calls = 0

    async def flaky(self, request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        self.calls += 1
        if self.calls == 1:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "warming up")
        return request

    async def missing(
        self, request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]
    ) -> bytes:
        raise NotFound("patient not found")

    async def broken(
        self, request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]
    ) -> bytes:
        raise RuntimeError("secret detail that must not leak")


@pytest.fixture
async def echo_server() -> AsyncIterator[tuple[str, _Behaviour]]:
    behaviour = _Behaviour()
    handlers = {
        name: grpc.unary_unary_rpc_method_handler(getattr(behaviour, name.lower()))
        for name in ("Flaky", "Missing", "Broken")
    }
    server = grpc.aio.server(interceptors=[ErrorMappingInterceptor()])
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(SERVICE, handlers)])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}", behaviour
    finally:
        await server.stop(None)


async def _call(target: str, method: str, idempotent: bool = True) -> bytes:
    policy = {method: MethodPolicy(timeout_s=5, idempotent=idempotent)}
    async with create_channel(target, SERVICE, policy) as channel:
        call = channel.unary_unary(
            f"/{SERVICE}/{method}", request_serializer=None, response_deserializer=None
        )
        return bytes(await call(b"ping"))


async def test_idempotent_call_is_retried_on_unavailable(
    echo_server: tuple[str, _Behaviour],
) -> None:
    target, behaviour = echo_server
    assert await _call(target, "Flaky") == b"ping"
    assert behaviour.calls == 2


async def test_non_idempotent_call_is_not_retried(echo_server: tuple[str, _Behaviour]) -> None:
    target, behaviour = echo_server
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await _call(target, "Flaky", idempotent=False)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert behaviour.calls == 1


async def test_domain_error_maps_to_its_status(echo_server: tuple[str, _Behaviour]) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await _call(echo_server[0], "Missing")
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert err.value.details() == "patient not found"


async def test_unexpected_error_is_internal_without_details(
    echo_server: tuple[str, _Behaviour],
) -> None:
    with capture_logs() as logs, pytest.raises(grpc.aio.AioRpcError) as err:
        await _call(echo_server[0], "Broken")
    assert [entry["event"] for entry in logs] == ["unhandled_error"]
    assert logs[0]["error_type"] == "RuntimeError"
    assert "secret" not in repr(logs), "the exception message may quote request data"
    assert err.value.code() == grpc.StatusCode.INTERNAL
    assert "secret" not in (err.value.details() or "")
    assert "reference" in (err.value.details() or "")
