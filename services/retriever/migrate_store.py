"""Copies a Qdrant local-mode store into an edge store, then checks the counts:
``python -m services.retriever.migrate_store --source var/qdrant --target var/qdrant-edge``.

Every chunk is copied with its vectors (dense and lexical) and its payload, under the same id,
and the analyzer recorded for the lexical vectors with them; the edge store's HNSW index is built
at the end, so a Retriever opening the target serves at once. The copy can be run
again (the same ids are overwritten). Stop the Retriever first: each store allows one process.
Then point ``RETRIEVER_QDRANT_PATH`` at the target.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from services.common.config import ConfigError, load_settings
from services.common.errors import FailedPrecondition
from services.retriever.config import LOCAL_MODE_MARKER, RetrieverSettings
from services.retriever.store.base import CollectionInfo
from services.retriever.store.edge import EdgeStore
from services.retriever.store.engines import open_store

BATCH_SIZE = 512


class MigrationError(Exception):
    """The migration cannot start or did not copy everything; the message says why."""


def check_folders(source: Path, target: Path) -> None:
    """The source must be local mode, the target another folder that is not local mode."""
    if not (source / LOCAL_MODE_MARKER).exists():
        raise MigrationError(f"{source} is not a Qdrant local-mode folder (no {LOCAL_MODE_MARKER})")
    if source.resolve() == target.resolve():
        raise MigrationError("the target must be another folder than the source")
    if (target / LOCAL_MODE_MARKER).exists():
        raise MigrationError(f"{target} is a Qdrant local-mode folder; choose a new folder")


async def migrate(source: Path, target: Path, collection: str, batch_size: int) -> CollectionInfo:
    """Copies ``collection`` from the local-mode folder ``source`` into the edge folder
    ``target`` (see :func:`check_folders`); returns the target's info once its counts match the
    source's."""
    source_settings = load_settings(
        RetrieverSettings, qdrant_path=source, store="local", collection=collection
    )
    reader = open_store(source_settings)
    try:
        expected = await reader.info()
        if not expected.dimension:
            raise MigrationError(f"{source} has no collection {collection}")
        target_settings = load_settings(
            RetrieverSettings, qdrant_path=target, store="edge", collection=collection
        )
        writer = EdgeStore.open(target, collection, target_settings.store_searches_in_flight)
        try:
            await writer.ensure_collection(
                expected.dimension,
                f"the source's {expected.dimension}-dimensional vectors",
                expected.lexical_analyzer,
            )
            copied = 0
            started = time.perf_counter()
            async for batch in reader.records(batch_size):
                await writer.upsert(batch)
                copied += len(batch)
                print(f"copied {copied} of {expected.points_count} chunks", file=sys.stderr)
            print(
                f"building the index ({time.perf_counter() - started:.1f} s so far)",
                file=sys.stderr,
            )
            await writer.build_index()
            found = await writer.info()
        finally:
            await writer.close()
    finally:
        await reader.close()
    if (found.points_count, found.documents_count, found.lexical_analyzer) != (
        expected.points_count,
        expected.documents_count,
        expected.lexical_analyzer,
    ):
        raise MigrationError(
            f"counts differ after the copy: the source has {expected.points_count} chunks of "
            f"{expected.documents_count} documents, the target {found.points_count} of "
            f"{found.documents_count}; the target folder held other chunks, or the source "
            "changed during the copy: migrate into an empty folder with no Retriever running"
        )
    return found


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m services.retriever.migrate_store",
        description="Copy a Qdrant local-mode store into an edge store and check the counts.",
    )
    parser.add_argument("--source", type=Path, required=True, help="local-mode folder")
    parser.add_argument("--target", type=Path, required=True, help="new edge folder")
    parser.add_argument("--collection", help="collection to copy (default RETRIEVER_COLLECTION)")
    parser.add_argument("--batch-size", type=_positive, default=BATCH_SIZE, help="chunks per write")
    args = parser.parse_args(argv)
    try:
        collection = args.collection or load_settings(RetrieverSettings).collection
        check_folders(args.source, args.target)
        info = asyncio.run(migrate(args.source, args.target, collection, args.batch_size))
    except (MigrationError, FailedPrecondition, ConfigError) as exc:
        print(f"migrate_store: {exc}", file=sys.stderr)
        return 1
    print(
        f"copied {info.points_count} chunks of {info.documents_count} documents "
        f"({info.dimension} dimensions) into {args.target}; counts match. "
        f"Now set RETRIEVER_QDRANT_PATH={args.target}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
