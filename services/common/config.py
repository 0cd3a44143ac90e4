"""Typed settings read from environment variables, shared by every service.

Each service subclasses :class:`ServerSettings` with its own ``env_prefix`` (``EMBEDDER_``,
``RETRIEVER_``, ``ORCHESTRATOR_``); settings common to all of them (logging, telemetry, shutdown)
live in :class:`CommonSettings` and carry no prefix. A bad value stops start-up with a
:class:`ConfigError` that names the environment variable, the value and what is wrong with it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from pydantic import BeforeValidator, Field, SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, SettingsConfigDict

SettingsT = TypeVar("SettingsT", bound=BaseSettings)


def _unset_if_empty(value: object) -> object:
    return None if value == "" else value


# An optional variable that is set but empty (``QDRANT_URL=``, as compose files and shells
# leave them) counts as unset rather than as an invalid value.
OptionalStr = Annotated[str | None, BeforeValidator(_unset_if_empty)]
OptionalSecret = Annotated[SecretStr | None, BeforeValidator(_unset_if_empty)]


class ConfigError(Exception):
    """A configuration value was missing or invalid; the message names the variable."""


class CommonSettings(BaseSettings):
    """Settings every service reads, without a prefix."""

    model_config = SettingsConfigDict(extra="ignore")

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Least severe log level written."
    )
    log_format: Literal["json", "console"] = Field(
        default="json", description="One JSON object per line, or a readable console format."
    )
    otel_exporter_otlp_endpoint: str | None = Field(
        default=None, description="OTLP/gRPC collector address; spans are exported only when set."
    )
    shutdown_grace_s: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="Seconds in-flight calls get to finish on SIGTERM; a second signal ends it.",
    )
    dependency_wait_s: float = Field(
        default=30.0, gt=0, le=600, description="Seconds to wait at start-up for a dependency."
    )
    loop_lag_probe: bool = Field(
        default=False,
        description="Measure event-loop lag and log it (services.common.looplag); for benchmarks.",
    )
    gc_gen0_threshold: int = Field(
        default=20_000,
        ge=100,
        le=1_000_000,
        description="Allocations between young-generation garbage collections (Python's is 700).",
    )


class ServiceAddresses(BaseSettings):
    """Where each service is reached, for every program that calls one (services, CLIs, gateway).

    Unprefixed: the same variable means the same place to every caller. A target is
    ``host:port``, or ``dns:///name:port`` to balance calls over every address the name resolves
    to.
    """

    model_config = SettingsConfigDict(extra="ignore")

    embedder_addr: str = Field(
        default="127.0.0.1:50051",
        min_length=1,
        validation_alias="EMBEDDER_ADDR",
        description="Embedder address: host:port, or dns:///name:port to balance over replicas.",
    )
    retriever_addr: str = Field(
        default="127.0.0.1:50052",
        min_length=1,
        validation_alias="RETRIEVER_ADDR",
        description="Retriever address: host:port, or dns:///name:port to balance over replicas.",
    )
    orchestrator_addr: str = Field(
        default="127.0.0.1:50053",
        min_length=1,
        validation_alias="ORCHESTRATOR_ADDR",
        description="Orchestrator address: host:port, or dns:///name:port.",
    )


class ServerSettings(BaseSettings):
    """Where a service listens. Subclasses set ``env_prefix``."""

    model_config = SettingsConfigDict(extra="ignore")

    host: str = Field(
        default="127.0.0.1", min_length=1, description="Interface to listen on (0.0.0.0: all)."
    )
    port: int = Field(
        default=0, ge=0, le=65535, description="Port to listen on; 0 picks a free one."
    )
    max_concurrent_rpcs: int | None = Field(
        default=None,
        gt=0,
        description="Calls served at once; more get RESOURCE_EXHAUSTED.",
    )

    @property
    def address(self) -> str:
        """The ``host:port`` the server binds."""
        return f"{self.host}:{self.port}"


def _field(
    settings_cls: type[BaseSettings], location: tuple[int | str, ...]
) -> tuple[str, FieldInfo | None]:
    """The field an error is about; pydantic locates a field read by its alias at the alias."""
    key = str(location[0]) if location else "?"
    for name, field in settings_cls.model_fields.items():
        if key in (name, field.validation_alias):
            return name, field
    return key, None


def _shown_value(
    settings_cls: type[BaseSettings], location: tuple[int | str, ...], value: Any
) -> str:
    """The rejected value for the message, unless the field holds a secret."""
    _, field = _field(settings_cls, location)
    if field is not None and "Secret" in str(field.annotation):
        return "<hidden>"
    return repr(value)


def _variable_name(settings_cls: type[BaseSettings], location: tuple[int | str, ...]) -> str:
    name, field = _field(settings_cls, location)
    if field is not None and isinstance(field.validation_alias, str):
        return field.validation_alias.upper()
    prefix = str(settings_cls.model_config.get("env_prefix") or "")
    return f"{prefix}{name}".upper()


def load_settings(settings_cls: type[SettingsT], **overrides: Any) -> SettingsT:
    """Reads ``settings_cls`` from the environment (``overrides`` win) or raises ConfigError."""
    try:
        return settings_cls(**overrides)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = _variable_name(settings_cls, error["loc"])
            shown = _shown_value(settings_cls, error["loc"], error.get("input"))
            problems.append(f"{name}={shown}: {error['msg']}")
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None
