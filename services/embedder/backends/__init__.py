"""Embedding backends: ``local`` (sentence-transformers in this process) and ``vertex``."""

from __future__ import annotations

from services.embedder.backends.base import EmbeddingBackend
from services.embedder.config import EmbedderSettings


async def create_backend(settings: EmbedderSettings) -> EmbeddingBackend:
    """The backend ``settings.backend`` names, ready to embed.

    Each backend's module is imported only when chosen: torch and sentence-transformers take
    seconds to import and a Vertex deployment never needs them (nor the local one the SDK).
    """
    if settings.backend == "vertex":
        from services.embedder.backends.vertex import VertexBackend  # noqa: PLC0415

        return VertexBackend(settings)
    from services.embedder.backends.local import LocalBackend  # noqa: PLC0415

    return await LocalBackend.load(settings.model_path, settings.torch_threads)
