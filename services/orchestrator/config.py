"""Settings of the Orchestrator (``ORCHESTRATOR_`` prefix, the Claude agent's unprefixed ones)
and of its HTTP gateway (``GATEWAY_``).

Every variable is declared once: :class:`ClaudeSettings` declares ``ANTHROPIC_*`` and
``CLAUDE_*``, :class:`~services.common.config.DatabaseSettings` the database's, and
:class:`OrchestratorSettings` inherits both, so that the bootstrap loads and validates all of
them at start-up. A bad value stops start-up with the variable named (see
``services.common.config.load_settings``).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common.config import (
    DatabaseSettings,
    OptionalSecret,
    OptionalStr,
    ServerSettings,
    ServiceAddresses,
)
from services.common.limits import MAX_AGENT_TURNS, MAX_RESULTS_PER_SEARCH

DEFAULT_MODEL = "claude-sonnet-5-5"


class ClaudeSettings(BaseSettings):
    """The Claude agent, on when ANTHROPIC_API_KEY is set: how it reaches the Messages API and
    how far one briefing may go. The variables carry no prefix (the SDK's own names); the
    aliases keep them so inside the prefixed orchestrator settings."""

    model_config = SettingsConfigDict(extra="ignore")

    anthropic_api_key: OptionalSecret = Field(
        default=None,
        validation_alias="ANTHROPIC_API_KEY",
        description="When set, briefings are written by the Claude agent; else the offline one.",
    )
    anthropic_base_url: OptionalStr = Field(
        default=None,
        validation_alias="ANTHROPIC_BASE_URL",
        description="Messages API base URL; the SDK's default when unset.",
    )
    claude_model: str = Field(
        default=DEFAULT_MODEL,
        min_length=1,
        max_length=200,
        pattern=r"^[A-Za-z0-9._:@/-]+$",
        validation_alias="CLAUDE_MODEL",
        description="Model of the Claude agent.",
    )
    claude_max_tokens: int = Field(
        default=4096,
        ge=256,
        le=64_000,
        validation_alias="CLAUDE_MAX_TOKENS",
        description="Output tokens per model turn.",
    )
    claude_max_turns: int = Field(
        default=MAX_AGENT_TURNS,
        ge=1,
        le=MAX_AGENT_TURNS,
        validation_alias="CLAUDE_MAX_TURNS",
        description="Model turns per briefing; the last one must submit the briefing.",
    )
    claude_timeout_s: float = Field(
        default=60.0,
        gt=0,
        le=600,
        validation_alias="CLAUDE_TIMEOUT_S",
        description="Timeout of one Messages API request.",
    )
    claude_max_retries: int = Field(
        default=2,
        ge=0,
        le=10,
        validation_alias="CLAUDE_MAX_RETRIES",
        description="SDK retries of a failed request (408, 409, 429, 5xx, 529).",
    )
    claude_max_connections: int = Field(
        default=1000,
        ge=1,
        le=10_000,
        validation_alias="CLAUDE_MAX_CONNECTIONS",
        description="HTTP connections to the API at most, kept alive between turns (one per "
        "call in flight); split over clients of up to 64 connections each.",
    )

    @field_validator("anthropic_api_key")
    @classmethod
    def _key_not_blank(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        secret = value.get_secret_value()
        if not secret.strip() or secret != secret.strip():
            raise ValueError("must be a non-empty key without surrounding whitespace")
        return value

    @field_validator("anthropic_base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError("must be an http:// or https:// URL with a host")
        return value


class OrchestratorSettings(ServerSettings, ServiceAddresses, DatabaseSettings, ClaudeSettings):
    """``python -m services.orchestrator``; the database settings are the shared ones
    (``DATABASE_URL`` or the embedded server in ``PG_DATA_DIR``), the agent's from
    :class:`ClaudeSettings`."""

    model_config = SettingsConfigDict(env_prefix="ORCHESTRATOR_", extra="ignore")

    port: int = Field(
        default=50053, ge=0, le=65535, description="Port to listen on; 0 picks a free one."
    )
    max_turns: int = Field(
        default=MAX_AGENT_TURNS,
        ge=1,
        le=MAX_AGENT_TURNS,
        description="Default agent turns per briefing.",
    )
    max_results_per_search: int = Field(
        default=5, ge=1, le=MAX_RESULTS_PER_SEARCH, description="Default hits per guideline search."
    )
    brief_timeout_s: float = Field(
        default=120.0, gt=0, le=600, description="Bound on a briefing when the caller sets none."
    )
    grounding_min_similarity: float = Field(
        default=0.5,
        ge=-1,
        le=1,
        description="A recommendation whose best cosine similarity to its cited passages is "
        "below this is flagged as weakly supported (README: Grounding checks).",
    )
    deadline_margin_s: float = Field(
        default=0.05,
        ge=0,
        le=5,
        description="Time kept back from the caller's deadline to answer DEADLINE_EXCEEDED.",
    )


class GatewaySettings(ServiceAddresses):
    """``python -m services.orchestrator.gateway``: the HTTP front of Orchestrator.Brief."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    host: str = Field(default="127.0.0.1", min_length=1, description="Interface to listen on.")
    port: int = Field(
        default=8080, ge=0, le=65535, description="Port to listen on; 0 picks a free one."
    )
    brief_timeout_s: float = Field(
        default=120.0, gt=0, le=600, description="Deadline of the Brief call behind a request."
    )
    max_body_bytes: int = Field(
        default=64 * 1024,
        ge=1024,
        le=16 * 1024 * 1024,
        description="Largest request body; a longer one is refused with 413 before it is read.",
    )
    header_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=3600,
        description="Longest wait for a request's headers (and between requests on a kept-alive "
        "connection) before the connection is closed.",
    )
    body_timeout_s: float = Field(
        default=10.0, gt=0, le=600, description="Longest wait for a request's body; then 408."
    )
