"""The real path under test: an Embedder and a Retriever as separate processes on loopback, the
ingestion CLI as a third, and ``Retriever.Search`` over gRPC.

Search modes are a list the harness iterates (``MODES``); :func:`search_request` is the one place
that puts a mode into a request, and every response must say that mode ran.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from briefing.v1 import retriever_pb2, retriever_pb2_grpc
from google.protobuf.json_format import MessageToDict

from eval.retrieval.chunks import ChunkKey
from services.launcher import ServiceProcess, start_service
from services.retriever.client import RetrieverClient

MODES = ("dense", "sparse", "hybrid")
_MODE_VALUES = {
    "dense": retriever_pb2.SEARCH_MODE_DENSE,
    "sparse": retriever_pb2.SEARCH_MODE_SPARSE,
    "hybrid": retriever_pb2.SEARCH_MODE_HYBRID,
}
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
# No query cache: a query asked again (the same question in another mode, or a duplicate
# question) must cost what a new one costs, so that latencies compare.
EMBEDDER_ENV = {**OFFLINE, "EMBEDDER_CACHE_SIZE": "0"}
# One small Embed call in flight while ingesting: this run measures retrieval, not ingestion
# speed, and on a loaded shared machine four calls of 32 chunks at once can outlast the Embed
# call's 30 s deadline.
RETRIEVER_INGEST_ENV = {"RETRIEVER_INGEST_CONCURRENCY": "1", "RETRIEVER_INGEST_BATCH_SIZE": "16"}
READY_TIMEOUT_S = 60.0
INGEST_TIMEOUT_S = 3600.0


class EvalError(RuntimeError):
    """The run cannot go on; the message says why."""


def search_request(query: str, mode: str, limit: int) -> retriever_pb2.SearchRequest:
    """The request for one search in ``mode`` (one of ``MODES``)."""
    if mode not in _MODE_VALUES:
        raise ValueError(f"search mode {mode!r} is not one of {MODES}")
    return retriever_pb2.SearchRequest(query=query, limit=limit, mode=_MODE_VALUES[mode])


@dataclass(frozen=True)
class Searched:
    """One search's ranked chunks, its latency (round trip seen by the client, and the
    Retriever's own embedding and store times) and the synonyms it added."""

    keys: tuple[ChunkKey, ...]
    round_trip_ms: float
    embed_ms: float
    search_ms: float
    expansions: tuple[dict[str, object], ...] = ()


class Engine:
    """A running Retriever (with its own store) and a client to it."""

    def __init__(self, process: ServiceProcess, client: RetrieverClient) -> None:
        self.process = process
        self._client = client
        self._stub = retriever_pb2_grpc.RetrieverStub(client.channel)

    async def search(self, query: str, mode: str, limit: int) -> Searched:
        """Ranked chunk keys for ``query``."""
        request = search_request(query, mode, limit)
        started = time.perf_counter()
        response = await self._client.call(self._stub.Search(request))
        round_trip = (time.perf_counter() - started) * 1000.0
        if response.mode != request.mode:
            ran = retriever_pb2.SearchMode.Name(response.mode)
            raise EvalError(f"asked for a {mode} search, the Retriever ran {ran}")
        keys = tuple((hit.source.document_id, hit.source.chunk_index) for hit in response.hits)
        expansions = tuple(MessageToDict(e) for e in response.expansions)
        return Searched(keys, round_trip, response.embed_ms, response.search_ms, expansions)

    async def points(self) -> int:
        """Chunks stored in the collection."""
        return int((await self._client.collection_info()).points_count)


@contextlib.asynccontextmanager
async def running_embedder() -> AsyncIterator[ServiceProcess]:
    """An Embedder process (local model, no query cache) for the whole run."""
    process = await start_service("embedder", EMBEDDER_ENV)
    try:
        yield process
    finally:
        await process.stop()


@contextlib.asynccontextmanager
async def running_engine(
    embedder: ServiceProcess, qdrant_path: Path, synonyms: Path | None, fusion: str | None = None
) -> AsyncIterator[Engine]:
    """A Retriever process storing in ``qdrant_path`` (the default embedded engine), expanding
    queries with the ``synonyms`` file (none when None), fusing hybrid searches with ``fusion``
    (the Retriever's default when None), ready to serve."""
    env = {
        **OFFLINE,
        **RETRIEVER_INGEST_ENV,
        "EMBEDDER_ADDR": embedder.address,
        "RETRIEVER_QDRANT_PATH": str(qdrant_path),
        "RETRIEVER_SYNONYMS": "" if synonyms is None else str(synonyms),
        **({} if fusion is None else {"RETRIEVER_HYBRID_FUSION": fusion}),
    }
    process = await start_service("retriever", env)
    try:
        async with RetrieverClient(process.address) as client:
            await client.wait_until_serving(READY_TIMEOUT_S)
            yield Engine(process, client)
    finally:
        await process.stop()


async def ingest_with_cli(
    paths: Sequence[Path], retriever_address: str, extra_env: Mapping[str, str] | None = None
) -> str:
    """Runs ``python -m services.retriever.ingest PATHS`` against the Retriever; returns its
    summary. Its progress bar goes to this process's stderr."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.retriever.ingest",
        *(str(path) for path in paths),
        env={**os.environ, **OFFLINE, **(extra_env or {}), "RETRIEVER_ADDR": retriever_address},
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        stdout, _ = await asyncio.wait_for(process.communicate(), INGEST_TIMEOUT_S)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise EvalError(f"the ingestion CLI took more than {INGEST_TIMEOUT_S:.0f} s") from None
    summary = stdout.decode(errors="replace").strip()
    if process.returncode != 0:
        raise EvalError(
            f"the ingestion CLI exited with {process.returncode} (its messages are above)"
            + (f":\n{summary}" if summary else "")
        )
    return summary
