"""Settings of the Retriever, read from ``RETRIEVER_*`` and a few unprefixed variables.

By default the vector store is embedded, in a folder (``RETRIEVER_QDRANT_PATH``): Qdrant's engine
in-process (qdrant-edge) for a new folder, Qdrant's local mode for a folder that local mode
already holds (``RETRIEVER_STORE`` chooses explicitly). Either locks its folder to one process.
Set ``QDRANT_URL`` to use a Qdrant server or cluster instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.common import limits
from services.common.config import (
    DatabaseSettings,
    OptionalSecret,
    OptionalStr,
    ServerSettings,
    ServiceAddresses,
)

#: The synonym file of the project's corpus, relative to the working directory as var/qdrant is.
DEFAULT_SYNONYMS = Path("data/guidelines/synonyms.yaml")

EmbeddedEngine = Literal["edge", "local"]
#: The file Qdrant's local mode keeps at the top of its folder, even while it holds nothing.
LOCAL_MODE_MARKER = "meta.json"
#: The sub-folder holding the edge engine's shards, one per collection.
EDGE_FOLDER = "edge"


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
        default=Path("var/qdrant"), description="Folder of the embedded store (without QDRANT_URL)."
    )
    store: Literal["auto", "edge", "local"] = Field(
        default="auto",
        description="Embedded engine (without QDRANT_URL): edge (Qdrant's engine, in a child "
        "process), local (Qdrant's local mode), or auto: local for a folder local mode already "
        "holds, else edge.",
    )
    store_searches_in_flight: int = Field(
        default=2,
        ge=1,
        le=64,
        description="Searches sent to the edge engine's process at once (it computes one at a "
        "time, the next waits ready); more wait their turn in the Retriever.",
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
    # Bounds on one request, checked before any work is done (services.retriever.bounds). Each
    # may be set lower than the contract's bound (services.common.limits), never higher.
    max_filter_values: int = Field(
        default=limits.MAX_FILTER_VALUES,
        ge=1,
        le=limits.MAX_FILTER_VALUES,
        description="Values in each list of a search filter (document_ids, topics, issuers).",
    )
    max_keyword_chars: int = Field(
        default=limits.MAX_KEYWORD_CHARS,
        ge=1,
        le=limits.MAX_KEYWORD_CHARS,
        description="Characters of a filter value, and of a chunk's document_id, issuer, "
        "content_hash and each topic.",
    )
    max_chunk_chars: int = Field(
        default=limits.MAX_CHUNK_TEXT_CHARS,
        ge=1,
        le=limits.MAX_CHUNK_TEXT_CHARS,
        description="Characters of an ingested chunk's passage.",
    )
    max_context_chars: int = Field(
        default=limits.MAX_CHUNK_CONTEXT_CHARS,
        ge=1,
        le=limits.MAX_CHUNK_CONTEXT_CHARS,
        description="Characters of an ingested chunk's heading line (context).",
    )
    max_title_chars: int = Field(
        default=limits.MAX_TITLE_CHARS,
        ge=1,
        le=limits.MAX_TITLE_CHARS,
        description="Characters of a document's title.",
    )
    max_source_field_chars: int = Field(
        default=limits.MAX_SOURCE_FIELD_CHARS,
        ge=1,
        le=limits.MAX_SOURCE_FIELD_CHARS,
        description="Characters of a chunk's url, guideline and each section heading.",
    )
    max_source_list_items: int = Field(
        default=limits.MAX_SOURCE_LIST_ITEMS,
        ge=1,
        le=limits.MAX_SOURCE_LIST_ITEMS,
        description="Items of a chunk's section_path and of its topics.",
    )
    max_chunks_per_document: int = Field(
        default=limits.MAX_CHUNKS_PER_DOCUMENT,
        ge=1,
        le=limits.MAX_CHUNKS_PER_DOCUMENT,
        description="Chunks a document may declare (chunk_count); more is refused up front.",
    )
    max_chunks_per_stream: int = Field(
        default=100_000,
        ge=1,
        description="Chunks one Ingest stream may carry; send more in further streams.",
    )
    hybrid_fusion: Literal["dbsf", "rrf"] = Field(
        default="dbsf",
        description="How hybrid search fuses its dense and lexical candidates: dbsf (by their "
        "score distributions) or rrf (by reciprocal rank).",
    )
    synonyms: OptionalStr = Field(
        default=str(DEFAULT_SYNONYMS),
        description="YAML synonym file for the lexical side of queries (brand to generic names, "
        "abbreviations); empty: none. The default is skipped, with a warning, when absent.",
    )

    def embedded_engine(self) -> EmbeddedEngine:
        """The engine for ``qdrant_path``: ``store`` when set, else what the folder holds.

        A folder Qdrant's local mode already holds stays with local mode (until migrated with
        ``python -m services.retriever.migrate_store``); any other folder gets edge.
        """
        if self.store != "auto":
            return self.store
        return "local" if (self.qdrant_path / LOCAL_MODE_MARKER).exists() else "edge"

    @property
    def store_engine(self) -> str:
        """``server`` with QDRANT_URL, else the embedded engine (``edge`` or ``local``)."""
        return "server" if self.qdrant_url else self.embedded_engine()

    @property
    def store_description(self) -> str:
        """``edge:<absolute folder>``, ``local:<absolute folder>`` or the server URL (never the
        API key)."""
        if self.qdrant_url:
            return self.qdrant_url
        return f"{self.embedded_engine()}:{self.qdrant_path.resolve()}"
