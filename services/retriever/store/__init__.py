"""The Retriever's vector store: one interface (:mod:`.base`) and its engines (:mod:`.qdrant`)."""

from __future__ import annotations

from services.retriever.config import RetrieverSettings
from services.retriever.store.base import ChunkStore


def open_store(settings: RetrieverSettings) -> ChunkStore:
    """The configured engine's store, open; raises FailedPrecondition when it cannot open.

    The engine's module is imported only here, so the interface's callers never load an
    engine's client library.
    """
    from services.retriever.store.qdrant import QdrantStore, open_client  # noqa: PLC0415

    return QdrantStore(open_client(settings), settings.collection, settings.qdrant_url is None)
