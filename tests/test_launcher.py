"""The launcher as `make run` runs it: `make ingest` uses its Retriever, and a child that dies
takes the launcher down with a message that names it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from services.launcher import running_addresses
from services.retriever.client import RetrieverClient
from tests.retriever.conftest import OFFLINE, ROOT, run_cli

START_TIMEOUT_S = 240.0


@dataclass
class RunningLauncher:
    process: asyncio.subprocess.Process
    run_file: Path
    stderr: list[str] = field(default_factory=list)
    # Done once the launcher's stderr is closed: everything it said is in ``stderr``.
    said_all: asyncio.Future[None] | None = None

    def record(self) -> dict[str, dict[str, object]]:
        services: dict[str, dict[str, object]] = json.loads(self.run_file.read_text())["services"]
        return services


async def _collect(stream: asyncio.StreamReader, sink: list[str]) -> None:
    async for raw in stream:
        sink.append(raw.decode(errors="replace").rstrip("\n"))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(scope="module")
async def launcher(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningLauncher]:
    """``python -m services.launcher`` with an Embedder and a Retriever (its own store folder),
    as `make run` starts it, recording its run file in a temporary folder."""
    tmp = tmp_path_factory.mktemp("launcher")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.launcher",
        "--services",
        "embedder,retriever",
        "--run-file",
        str(tmp / "run" / "launcher.json"),
        cwd=ROOT,
        env={**os.environ, **OFFLINE, "RETRIEVER_QDRANT_PATH": str(tmp / "qdrant")},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    running = RunningLauncher(process, tmp / "run" / "launcher.json")
    running.said_all = asyncio.ensure_future(_collect(process.stderr, running.stderr))
    deadline = time.monotonic() + START_TIMEOUT_S
    while not running.run_file.exists():
        assert process.returncode is None, "\n".join(running.stderr[-30:])
        assert time.monotonic() < deadline, "the launcher wrote no run file"
        await asyncio.sleep(0.2)
    yield running
    if process.returncode is None:
        process.send_signal(signal.SIGINT)
        await asyncio.wait_for(process.wait(), 60)
    await running.said_all


async def test_ingest_uses_the_running_launchers_retriever(
    launcher: RunningLauncher, tmp_path: Path
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "memo.md").write_text(
        "# Potassium memo\n\nCheck potassium within a week of starting an ACE inhibitor.\n"
    )
    run = await run_cli(str(folder), "--launcher-file", str(launcher.run_file), env={})
    address = str(launcher.record()["retriever"]["address"])
    assert run.code == 0, run.stderr
    assert f"using the running launcher's retriever at {address}" in run.stderr
    assert "starting an embedder" not in run.stderr
    assert "documents  1 (unchanged 0, written 1)" in run.stdout
    # The launcher's own Retriever stored it.
    async with RetrieverClient(address) as retriever:
        info = await retriever.collection_info()
    assert info.points_count > 0


def test_a_stale_run_file_names_no_running_services(tmp_path: Path) -> None:
    run_file = tmp_path / "launcher.json"
    gone = os.fork()
    if gone == 0:
        os._exit(0)
    os.waitpid(gone, 0)
    record = {"pid": gone, "services": {"retriever": {"address": "127.0.0.1:1", "pid": gone}}}
    run_file.write_text(json.dumps(record))
    assert running_addresses(run_file) == {}
    record["pid"] = os.getpid()
    run_file.write_text(json.dumps(record))
    assert running_addresses(run_file) == {"retriever": "127.0.0.1:1"}
    run_file.write_text("{half a fi")
    assert running_addresses(run_file) == {}


async def test_a_child_that_dies_is_named_and_the_launcher_stops_the_rest(
    launcher: RunningLauncher,
) -> None:
    services = launcher.record()
    retriever_pid = int(str(services["retriever"]["pid"]))
    embedder_pid = int(str(services["embedder"]["pid"]))
    os.kill(retriever_pid, signal.SIGKILL)
    code = await asyncio.wait_for(launcher.process.wait(), 60)
    assert code == 1
    assert launcher.said_all is not None
    await asyncio.wait_for(launcher.said_all, 30)
    said = "\n".join(launcher.stderr)
    assert (
        f"launcher: retriever (pid {retriever_pid}) was killed by signal SIGKILL; "
        "stopping the other services" in said
    )
    assert not _alive(embedder_pid)
    assert not launcher.run_file.exists()


# A program that starts a service, as the demo, the benchmarks and the evaluations do.
SERVICE_STARTING_PROGRAM = """
import asyncio, sys
from services.launcher import run_program, start_service

async def main() -> None:
    env = {"EMBEDDER_ADDR": "127.0.0.1:9", "RETRIEVER_QDRANT_PATH": sys.argv[1]}
    service = await start_service("retriever", env)
    try:
        print(service.process.pid, flush=True)
        await asyncio.sleep(3600)
    finally:
        await service.stop()

run_program(main())
"""


async def test_sigterm_ends_a_program_after_it_stopped_the_services_it_started(
    tmp_path: Path,
) -> None:
    program = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        SERVICE_STARTING_PROGRAM,
        str(tmp_path / "qdrant"),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    assert program.stdout is not None
    service_pid = int(await asyncio.wait_for(program.stdout.readline(), START_TIMEOUT_S))
    try:
        assert _alive(service_pid)
        program.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(program.wait(), 60) == 128 + signal.SIGTERM
        assert not _alive(service_pid)
    finally:
        if _alive(service_pid):
            os.kill(service_pid, signal.SIGKILL)
