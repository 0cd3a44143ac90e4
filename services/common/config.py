"""Typed settings read from environment variables, shared by every service.

Each service subclasses :class:`ServerSettings` with its own ``env_prefix`` (``EMBEDDER_``,
``RETRIEVER_``, ``ORCHESTRATOR_``); settings common to all of them (logging, telemetry, shutdown)
live in :class:`CommonSettings` and carry no prefix. A bad value stops start-up with a
:class:`ConfigError` that names the environment variable, the value and what is wrong with it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
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
    shutdown_drain_s: float = Field(
        default=5.0,
        ge=0,
        le=300,
        description="Seconds a service keeps serving on SIGTERM while its health says "
        "NOT_SERVING, so that balancers and pollers move away before it stops taking calls.",
    )
    shutdown_grace_s: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="Seconds in-flight calls get to finish once the drain is over; a second "
        "signal ends it.",
    )
    health_check_interval_s: float = Field(
        default=5.0,
        gt=0,
        le=300,
        description="How often a service checks the dependencies it cannot serve without (how "
        "long a result is trusted).",
    )
    health_check_timeout_s: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="A dependency that does not answer its check within this is unhealthy.",
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
        description="Calls served at once, health and reflection not counted; more are refused "
        "at once with RESOURCE_EXHAUSTED.",
    )

    @property
    def address(self) -> str:
        """The ``host:port`` the server binds."""
        return f"{self.host}:{self.port}"


class DatabaseSettings(BaseSettings):
    """The PostgreSQL database of the orchestrator (patients, audit) and the retriever (audit).

    Unprefixed, so that both services reach the same database: ``DATABASE_URL``, or else the
    embedded server in ``PG_DATA_DIR``, which the first service to start runs and the others
    join (see :mod:`services.common.database`).
    """

    model_config = SettingsConfigDict(extra="ignore")

    # A secret so that printing the settings never shows a password.
    database_url: SecretStr | None = Field(
        default=None,
        validation_alias="DATABASE_URL",
        description="postgresql://user:password@host:port/db; unset starts the embedded server.",
    )
    pg_data_dir: Path = Field(
        default=Path("var/postgres"),
        validation_alias="PG_DATA_DIR",
        description="Data folder of the embedded PostgreSQL (ignored with DATABASE_URL).",
    )
    pg_pool_min_size: int = Field(
        default=1,
        ge=0,
        le=100,
        validation_alias="PG_POOL_MIN_SIZE",
        description="Connections each service keeps open.",
    )
    pg_pool_max_size: int = Field(
        default=10,
        ge=1,
        le=100,
        validation_alias="PG_POOL_MAX_SIZE",
        description="Connections each service opens at most.",
    )
    pg_connect_timeout_s: float = Field(
        default=5.0,
        gt=0,
        le=120,
        validation_alias="PG_CONNECT_TIMEOUT_S",
        description="Seconds to open a connection.",
    )
    pg_command_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=600,
        validation_alias="PG_COMMAND_TIMEOUT_S",
        description="Seconds one statement may run.",
    )

    @field_validator("pg_pool_max_size")
    @classmethod
    def _at_least_min_size(cls, value: int, info: ValidationInfo) -> int:
        minimum = info.data.get("pg_pool_min_size")
        if minimum is not None and value < minimum:
            raise ValueError(f"must be at least PG_POOL_MIN_SIZE ({minimum})")
        return value


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
