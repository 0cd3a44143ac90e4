"""``python -m services.retriever.reindex``: give a collection lexical vectors, in place.

A collection made before lexical search has dense vectors only, and the Retriever serves it in
dense mode. This adds the lexical (BM25) vector of every stored chunk, made from its stored text
by this Retriever's analyzer, keeping the dense vectors and payloads: no re-embedding, no
re-ingestion. It also redoes a collection whose lexical vectors another analyzer made, or whose
re-index was interrupted. The store is the one the Retriever's settings name
(``RETRIEVER_QDRANT_PATH`` or ``QDRANT_URL``, and ``RETRIEVER_COLLECTION``); in local mode the
Retriever must be stopped, since it holds the folder's lock. A Retriever serving from a server
picks the new vectors up within 30 seconds; ingest nothing through it meanwhile, since it writes
dense vectors only until then.

Exit codes: 0 done (or nothing to do), 1 the store cannot be opened or written.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from tqdm import tqdm

from services.common.config import ConfigError, load_settings
from services.common.errors import ServiceError
from services.retriever.config import RetrieverSettings
from services.retriever.lexical import ANALYZER, Analyzer
from services.retriever.store.engines import open_store

BATCH_SIZE = 256


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m services.retriever.reindex", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--force", action="store_true", help="redo it even when the vectors are current"
    )
    return parser.parse_args(argv)


async def reindex(settings: RetrieverSettings, force: bool) -> str:
    """Adds the lexical vectors; returns what was done, as a sentence."""
    store = open_store(settings)
    try:
        info = await store.info()
        where = f"collection {settings.collection} in {settings.store_description}"
        if not info.dimension:
            return f"{where} does not exist: nothing to re-index"
        if info.lexical_analyzer == ANALYZER and not force:
            return f"{where} already has lexical vectors made by {ANALYZER}: nothing to do"
        analyzer = Analyzer()
        with tqdm(total=info.points_count, unit="chunk", desc="reindex", file=sys.stderr) as bar:

            def progress(done: int) -> None:
                bar.update(done - bar.n)

            done = await store.add_lexical(
                analyzer.chunk_vector,
                ANALYZER,
                BATCH_SIZE,
                progress=progress,
            )
        return f"{where}: {done} chunks have lexical vectors made by {ANALYZER}"
    finally:
        await store.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        settings = load_settings(RetrieverSettings)
        print(asyncio.run(reindex(settings, args.force)))
    except (ConfigError, ServiceError) as exc:
        print(f"reindex failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
