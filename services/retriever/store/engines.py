"""Which engine a store opens on: the edge engine for a new folder or one it holds, Qdrant's
local mode for a folder local mode holds, a Qdrant server when ``QDRANT_URL`` is set."""

from __future__ import annotations

from services.common.errors import FailedPrecondition
from services.common.logging import get_logger
from services.retriever.config import EDGE_FOLDER, LOCAL_MODE_MARKER, RetrieverSettings
from services.retriever.store.base import ChunkStore

log = get_logger(__name__)

MIGRATE_COMMAND = "python -m services.retriever.migrate_store"


def open_store(settings: RetrieverSettings) -> ChunkStore:
    """The configured engine's store, open; raises FailedPrecondition when it cannot open.

    The engine's module is imported only here, so the interface's callers never load an
    engine's client library.
    """
    if settings.qdrant_url is None and settings.embedded_engine() == "edge":
        from services.retriever.store.edge import EdgeStore  # noqa: PLC0415

        _refuse_local_mode_folder(settings)
        return EdgeStore.open(
            settings.qdrant_path, settings.collection, settings.store_searches_in_flight
        )
    from services.retriever.store.qdrant import QdrantStore, open_client  # noqa: PLC0415

    if settings.qdrant_url is None:
        _check_local_mode_folder(settings)
    return QdrantStore(open_client(settings), settings.collection, settings.qdrant_url is None)


def _refuse_local_mode_folder(settings: RetrieverSettings) -> None:
    """RETRIEVER_STORE=edge on a folder of local mode would hide its chunks: refused."""
    if (settings.qdrant_path / LOCAL_MODE_MARKER).exists():
        raise FailedPrecondition(
            f"{settings.qdrant_path.resolve()} holds a Qdrant local-mode store, which the edge "
            f"engine cannot read: copy it into a new folder with `{MIGRATE_COMMAND} --source "
            f"{settings.qdrant_path} --target NEW_FOLDER` and point RETRIEVER_QDRANT_PATH there, "
            "or set RETRIEVER_STORE=auto (or local) to keep using local mode"
        )


def _check_local_mode_folder(settings: RetrieverSettings) -> None:
    """Local mode on an edge folder would hide its chunks: refused. An existing local-mode folder
    picked by default works as before, with one line on how to move to the edge engine."""
    folder = settings.qdrant_path
    if (folder / EDGE_FOLDER).exists():
        raise FailedPrecondition(
            f"{folder.resolve()} holds an edge store, which Qdrant's local mode cannot read: "
            "set RETRIEVER_STORE=auto (or edge), or point RETRIEVER_QDRANT_PATH at "
            "another folder for local mode"
        )
    if settings.store == "auto":
        log.warning(
            "local_mode_store",
            folder=str(folder.resolve()),
            advice=f"this folder is Qdrant local mode (slow past 20,000 chunks, searches on the "
            f"event loop); move it to the edge engine with `{MIGRATE_COMMAND} --source {folder} "
            "--target NEW_FOLDER`, then set RETRIEVER_QDRANT_PATH=NEW_FOLDER",
        )
