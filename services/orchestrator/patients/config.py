"""Where the patient database is and how the orchestrator connects to it.

Without ``DATABASE_URL`` the orchestrator (and ``make seed``) start an embedded PostgreSQL in
``ORCHESTRATOR_PG_DATA_DIR``; with it, they use that server instead.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class PatientDatabaseSettings(BaseSettings):
    """Patient-store settings; the orchestrator's settings class may inherit from it."""

    model_config = SettingsConfigDict(env_prefix="ORCHESTRATOR_", extra="ignore")

    # A secret so that printing the settings never shows a password.
    database_url: SecretStr | None = Field(
        default=None,
        validation_alias="DATABASE_URL",
        description="postgresql://user:password@host:port/db; unset starts the embedded server.",
    )
    pg_data_dir: Path = Field(
        default=Path("var/postgres"),
        description="Data folder of the embedded PostgreSQL (ignored with DATABASE_URL).",
    )
    pg_pool_min_size: int = Field(default=1, ge=0, le=100)
    pg_pool_max_size: int = Field(default=10, ge=1, le=100)
    pg_connect_timeout_s: float = Field(default=5.0, gt=0, le=120)
    pg_command_timeout_s: float = Field(default=10.0, gt=0, le=600)

    @field_validator("pg_pool_max_size")
    @classmethod
    def _at_least_min_size(cls, value: int, info: ValidationInfo) -> int:
        minimum = info.data.get("pg_pool_min_size")
        if minimum is not None and value < minimum:
            raise ValueError(f"must be at least ORCHESTRATOR_PG_POOL_MIN_SIZE ({minimum})")
        return value
