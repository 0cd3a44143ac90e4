"""The engines the store suite runs against, each opened on a folder of its own.

- ``edge``: qdrant-edge, the embedded default (``RETRIEVER_STORE=edge``);
- ``qdrant-local``: Qdrant's local mode (``RETRIEVER_STORE=local``);
- ``qdrant-server-api``: the code path a Qdrant server gets (``QdrantStore`` as opened with
  ``QDRANT_URL``: payload indexes created, nothing local-mode specific), over local mode, since
  the async client speaks the same API to both.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from services.common.config import load_settings
from services.retriever.config import RetrieverSettings
from services.retriever.store.base import ChunkStore
from services.retriever.store.engines import open_store


def open_edge(folder: Path) -> ChunkStore:
    return open_store(load_settings(RetrieverSettings, qdrant_path=folder, store="edge"))


def open_local_mode(folder: Path) -> ChunkStore:
    return open_store(load_settings(RetrieverSettings, qdrant_path=folder, store="local"))


def open_server_api(folder: Path) -> ChunkStore:
    # Imported here: the edge engine's crash-test writer never loads qdrant-client (seconds).
    from qdrant_client import AsyncQdrantClient  # noqa: PLC0415

    from services.retriever.store.qdrant import QdrantStore  # noqa: PLC0415

    collection = load_settings(RetrieverSettings).collection
    return QdrantStore(AsyncQdrantClient(path=str(folder)), collection, local=False)


ENGINES: dict[str, Callable[[Path], ChunkStore]] = {
    "edge": open_edge,
    "qdrant-local": open_local_mode,
    "qdrant-server-api": open_server_api,
}
