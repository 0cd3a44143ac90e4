"""Settings of the Retriever, read from ``RETRIEVER_*`` and a few unprefixed variables.

By default the vector store is Qdrant's local mode in a folder (``RETRIEVER_QDRANT_PATH``). Local
mode locks that folder (one process at a time), computes searches on the event loop and is meant
for up to about 20,000 points; set ``QDRANT_URL`` to use a Qdrant server or cluster instead.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.common.config import (
    DatabaseSettings,
    OptionalSecret,
    OptionalStr,
    ServerSettings,
    ServiceAddresses,
)

#: The synonym file of the project's corpus, relative to the working directory as var/qdrant is.
DEFAULT_SYNONYMS = Path("data/guidelines/synonyms.yaml")


class RetrieverSettings(ServerSettings, ServiceAddresses, DatabaseSettings):
    """Where the Retriever listens, which store it uses and how it ingests; the database (the
    audit trail of Ingest and DeleteDocument) is the orchestrator's."""

    model_config = SettingsConfigDict(env_prefix="RETRIEVER_", extra="ignore")

    port: int = Field(
        default=50052, ge=0, le=65535, description="Port to listen on; 0 picks a free one."
    )
    collection: str = Field(
        default="clinical_guidelines",
        pattern=r"^[A-Za-z0-9_-]{1,128}$",
        description="Qdrant collection holding the guideline chunks.",
    )
    qdrant_path: Path = Field(
        default=Path("var/qdrant"), description="Folder of Qdrant local mode (without QDRANT_URL)."
    )
    qdrant_url: OptionalStr = Field(
        default=None,
        validation_alias="QDRANT_URL",
        description="Qdrant server, e.g. http://h:6333.",
    )
    qdrant_api_key: OptionalSecret = Field(
        default=None, validation_alias="QDRANT_API_KEY", description="API key of the server."
    )
    qdrant_prefer_grpc: bool = Field(
        default=False,
        validation_alias="QDRANT_PREFER_GRPC",
        description="Talk to the Qdrant server over gRPC (port 6334) instead of REST.",
    )
    query_batch_size: int = Field(
        default=64,
        ge=1,
        le=256,
        description="Most queries of concurrent searches sent in one Embed call.",
    )
    query_batch_wait_ms: float = Field(
        default=1.0,
        ge=0,
        le=100,
        description="How long a search waits for others to embed with; 0 is one loop turn.",
    )
    query_calls_in_flight: int = Field(
        default=2,
        ge=1,
        le=64,
        description="Embed calls for search queries at once; more queries wait and go together.",
    )
    ingest_batch_size: int = Field(
        default=32, ge=1, le=1024, description="Texts per Embed call while ingesting."
    )
    ingest_concurrency: int = Field(
        default=4, ge=1, le=64, description="Embed-and-upsert batches in flight while ingesting."
    )
    synonyms: OptionalStr = Field(
        default=str(DEFAULT_SYNONYMS),
        description="YAML synonym file for the lexical side of queries (brand to generic names, "
        "abbreviations); empty: none. The default is skipped, with a warning, when absent.",
    )

    @property
    def store_description(self) -> str:
        """``local:<absolute folder>`` or the server URL (never the API key)."""
        if self.qdrant_url:
            return self.qdrant_url
        return f"local:{self.qdrant_path.resolve()}"
