"""Settings of the Claude agent, read from the environment (no prefix: the SDK's own names).

``ANTHROPIC_API_KEY`` is required; the orchestrator uses the Claude agent only when it is set.
``ANTHROPIC_BASE_URL`` points the SDK elsewhere (a proxy, or the loopback stand-in of the tests
and the benchmark). A bad value stops start-up with the variable named (see
``services.common.config.load_settings``).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common.limits import MAX_AGENT_TURNS

DEFAULT_MODEL = "claude-sonnet-5-5"


class ClaudeSettings(BaseSettings):
    """How the Claude agent reaches the Messages API and how far one briefing may go."""

    model_config = SettingsConfigDict(extra="ignore")

    anthropic_api_key: SecretStr = Field(description="API key sent as a bearer token.")
    anthropic_base_url: str | None = Field(
        default=None, description="Messages API base URL; the SDK's default when unset."
    )
    claude_model: str = Field(
        default=DEFAULT_MODEL, min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:@/-]+$"
    )
    claude_max_tokens: int = Field(
        default=4096, ge=256, le=64_000, description="Output tokens per model turn."
    )
    claude_max_turns: int = Field(
        default=MAX_AGENT_TURNS,
        ge=1,
        le=MAX_AGENT_TURNS,
        description="Model turns per briefing; the last one must submit the briefing.",
    )
    claude_timeout_s: float = Field(
        default=60.0, gt=0, le=600, description="Timeout of one Messages API request."
    )
    claude_max_retries: int = Field(
        default=2,
        ge=0,
        le=10,
        description="SDK retries of a failed request (408, 409, 429, 5xx, 529).",
    )
    claude_max_connections: int = Field(
        default=1000,
        ge=1,
        le=10_000,
        description="HTTP connections to the API at most, kept alive between turns (one per "
        "call in flight); split over clients of up to 64 connections each.",
    )

    @field_validator("anthropic_api_key")
    @classmethod
    def _key_not_blank(cls, value: SecretStr) -> SecretStr:
        secret = value.get_secret_value()
        if not secret.strip() or secret != secret.strip():
            raise ValueError("must be a non-empty key without surrounding whitespace")
        return value

    @field_validator("anthropic_base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError("must be an http:// or https:// URL with a host")
        return value
