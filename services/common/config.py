"""Typed settings read from environment variables, shared by every service.

Each service subclasses :class:`ServerSettings` with its own ``env_prefix`` (``EMBEDDER_``,
``RETRIEVER_``, ``ORCHESTRATOR_``); settings common to all of them (logging, telemetry, shutdown)
live in :class:`CommonSettings` and carry no prefix. A bad value stops start-up with a
:class:`ConfigError` that names the environment variable, the value and what is wrong with it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Final, Literal, TypeVar

from pydantic import (
    BeforeValidator,
    Field,
    FilePath,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from services.common.scopes import EMBEDDINGS, GUIDELINES_READ

SettingsT = TypeVar("SettingsT", bound=BaseSettings)


def _unset_if_empty(value: object) -> object:
    return None if value == "" else value


# An optional variable that is set but empty (``QDRANT_URL=``, as compose files and shells
# leave them) counts as unset rather than as an invalid value.
OptionalStr = Annotated[str | None, BeforeValidator(_unset_if_empty)]
OptionalSecret = Annotated[SecretStr | None, BeforeValidator(_unset_if_empty)]
OptionalFile = Annotated[FilePath | None, BeforeValidator(_unset_if_empty)]


def _split_words(value: object) -> object:
    """``"RS256, ES256"`` or ``"RS256 ES256"`` as a list (a list passes through)."""
    return value.replace(",", " ").split() if isinstance(value, str) else value


#: The JWT signature algorithms that use a public key: the only ones a verifier may accept (an
#: HMAC algorithm would let anyone holding the verification key sign tokens).
ASYMMETRIC_ALGORITHMS: Final = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)


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
        default=None,
        description="OTLP/gRPC collector URL, http:// (plaintext) or https:// (TLS, see the "
        "exporter's OTEL_EXPORTER_OTLP_CERTIFICATE); spans and metrics are exported only when "
        "set.",
    )
    otel_metrics_exporter: Literal["otlp", "none"] = Field(
        default="otlp",
        description="none: push no metrics to OTEL_EXPORTER_OTLP_ENDPOINT (spans only), when "
        "Prometheus scrapes them instead.",
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
    grpc_reflection: bool = Field(
        default=True,
        description="Serve gRPC server reflection (open to every caller, like health checks).",
    )


class SecuritySettings(BaseSettings):
    """TLS and caller authentication, for every program of the project (services, gateway, CLIs).

    Unprefixed: a service is both a server and a client, with one identity. TLS is on for the
    channels a program opens once ``TLS_CA_FILE`` is set, and for the servers it runs once
    ``TLS_CERT_FILE`` and ``TLS_KEY_FILE`` are too; authentication is on once a public key or a
    JWKS file is set. A service listening beyond loopback needs both (services.common.exposure).
    """

    model_config = SettingsConfigDict(extra="ignore")

    tls_cert_file: OptionalFile = Field(
        default=None,
        description="PEM certificate chain this program serves with and presents to services "
        "that ask for a client certificate; re-read by servers when it changes.",
    )
    tls_key_file: OptionalFile = Field(
        default=None, validate_default=True, description="PEM private key of TLS_CERT_FILE."
    )
    tls_ca_file: OptionalFile = Field(
        default=None,
        validate_default=True,
        description="PEM CA bundle that verifies the servers this program calls and the client "
        "certificates its server asks for; setting it turns TLS on for channels.",
    )
    auth_jwt_public_key_file: OptionalFile = Field(
        default=None,
        description="PEM public key that verifies callers' bearer tokens (JWT); turns auth on.",
    )
    auth_jwks_file: OptionalFile = Field(
        default=None,
        validate_default=True,
        description="JWKS file of the keys that verify bearer tokens (instead of a PEM key; "
        "tokens name theirs by kid); turns auth on.",
    )
    auth_issuer: OptionalStr = Field(
        default=None,
        validate_default=True,
        description="The iss every bearer token must carry (required when auth is on).",
    )
    auth_audience: OptionalStr = Field(
        default=None,
        validate_default=True,
        description="The aud every bearer token must carry (required when auth is on).",
    )
    auth_algorithms: Annotated[list[str], NoDecode, BeforeValidator(_split_words)] = Field(
        default=["RS256", "ES256"],
        min_length=1,
        description="Signature algorithms accepted, comma-separated; asymmetric ones only.",
    )
    auth_leeway_s: float = Field(
        default=30.0, ge=0, le=300, description="Clock skew allowed on exp, nbf and iat."
    )
    auth_certificate_scopes: dict[str, list[str]] = Field(
        default={"orchestrator": [GUIDELINES_READ, EMBEDDINGS], "retriever": [EMBEDDINGS]},
        description="JSON: the scopes of a caller that sends no token, by the common name of "
        "its verified client certificate (how the services call each other).",
    )
    allow_insecure: bool = Field(
        default=False,
        description="Let a service listen beyond loopback without TLS or auth (logged as a "
        "warning at every start).",
    )

    @field_validator("tls_key_file")
    @classmethod
    def _key_with_certificate(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if (value is None) != (info.data.get("tls_cert_file") is None):
            raise ValueError("TLS_CERT_FILE and TLS_KEY_FILE are set together or not at all")
        return value

    @field_validator("tls_ca_file")
    @classmethod
    def _ca_with_certificate(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is None and info.data.get("tls_cert_file") is not None:
            raise ValueError("needed with TLS_CERT_FILE: the CA that signs the peers' certificates")
        return value

    @field_validator("auth_jwks_file")
    @classmethod
    def _one_key_source(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is not None and info.data.get("auth_jwt_public_key_file") is not None:
            raise ValueError("set AUTH_JWKS_FILE or AUTH_JWT_PUBLIC_KEY_FILE, not both")
        return value

    @field_validator("auth_issuer", "auth_audience")
    @classmethod
    def _claims_with_keys(cls, value: str | None, info: ValidationInfo) -> str | None:
        keys = info.data.get("auth_jwt_public_key_file") or info.data.get("auth_jwks_file")
        if value is None and keys is not None:
            raise ValueError("required when AUTH_JWT_PUBLIC_KEY_FILE or AUTH_JWKS_FILE is set")
        return value

    @field_validator("auth_algorithms")
    @classmethod
    def _asymmetric_only(cls, value: list[str]) -> list[str]:
        refused = [name for name in value if name not in ASYMMETRIC_ALGORITHMS]
        if refused:
            allowed = ", ".join(sorted(ASYMMETRIC_ALGORITHMS))
            raise ValueError(f"not asymmetric: {', '.join(refused)} (choose from {allowed})")
        return value

    @property
    def tls_server(self) -> bool:
        """Whether this program's servers speak TLS."""
        return self.tls_cert_file is not None

    @property
    def auth(self) -> bool:
        """Whether callers must authenticate."""
        return self.auth_jwt_public_key_file is not None or self.auth_jwks_file is not None


class CallerSettings(BaseSettings):
    """What the command-line clients send. Never read by a service: services call each other
    with their own certificates, never with a caller's token."""

    model_config = SettingsConfigDict(extra="ignore")

    auth_token: OptionalSecret = Field(
        default=None,
        description="Bearer token (JWT) the command-line clients send; `make token` mints a "
        "development one.",
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
    metrics_port: Annotated[int | None, BeforeValidator(_unset_if_empty)] = Field(
        default=None,
        ge=0,
        le=65535,
        description="Port of the Prometheus endpoint (GET /metrics) on the same host; 0 picks a "
        "free one; unset serves none. HTTPS with mutual TLS when TLS is configured "
        "(services.common.metrics).",
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
