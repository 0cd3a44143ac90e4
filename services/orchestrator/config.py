"""Settings of the Orchestrator service (``ORCHESTRATOR_`` prefix) and of its HTTP gateway."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common.config import OptionalSecret, ServerSettings
from services.common.limits import MAX_AGENT_TURNS, MAX_RESULTS_PER_SEARCH
from services.orchestrator.patients.settings import PatientDatabaseSettings


class OrchestratorSettings(ServerSettings, PatientDatabaseSettings):
    """``python -m services.orchestrator``; the database settings come from the patient store
    (``DATABASE_URL`` or the embedded server in ``ORCHESTRATOR_PG_DATA_DIR``)."""

    model_config = SettingsConfigDict(env_prefix="ORCHESTRATOR_", extra="ignore")

    port: int = Field(
        default=50053, ge=0, le=65535, description="Port to listen on; 0 picks a free one."
    )
    retriever_addr: str = Field(
        default="127.0.0.1:50052",
        min_length=1,
        validation_alias="RETRIEVER_ADDR",
        description="Retriever address: host:port, or dns:///name:port to balance over replicas.",
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
    deadline_margin_s: float = Field(
        default=0.05,
        ge=0,
        le=5,
        description="Time kept back from the caller's deadline to answer DEADLINE_EXCEEDED.",
    )
    anthropic_api_key: OptionalSecret = Field(
        default=None,
        validation_alias="ANTHROPIC_API_KEY",
        description="When set, briefings are written by the Claude agent; else the offline one.",
    )


class GatewaySettings(BaseSettings):
    """``python -m services.orchestrator.gateway``: the HTTP front of Orchestrator.Brief."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    host: str = Field(default="127.0.0.1", min_length=1, description="Interface to listen on.")
    port: int = Field(
        default=8080, ge=0, le=65535, description="Port to listen on; 0 picks a free one."
    )
    orchestrator_addr: str = Field(
        default="127.0.0.1:50053",
        min_length=1,
        validation_alias="ORCHESTRATOR_ADDR",
        description="Orchestrator address: host:port, or dns:///name:port.",
    )
    brief_timeout_s: float = Field(
        default=120.0, gt=0, le=600, description="Deadline of the Brief call behind a request."
    )
