"""Starts the three services as separate processes, for `make run`, `make ingest`, the demo
and the tests.

Each service is started with ``--port 0`` (or a given port) and is ready once it prints its
``ready`` log line, which names the address it bound; the address is then handed to the
services that depend on it (``EMBEDDER_ADDR``, ``RETRIEVER_ADDR``). They run on loopback with
no balancer in front, so they stop without a drain period (``SHUTDOWN_DRAIN_S=0``) unless the
environment sets one.

    python -m services.launcher                 # run all three until Ctrl-C
    python -m services.launcher -- CMD ARGS     # run CMD with *_ADDR set, then stop them
    python -m services.launcher --tls-dir var/dev-ca   # each with its own certificate

The launcher watches its children: when one of them exits on its own, it says which one, its
process id and its exit code or signal (with the service's last log lines when they were not
echoed), stops the others and exits 1 (a command it was running is stopped too). It does not
restart the child: on this one machine a crash is a bug or a broken set-up to see at once, a
restarted service would come back on another port (``--port 0``) that its callers do not
know, and a crash loop behind a restart would only hide it. Orchestrators that restart
services (Kubernetes, compose) do so with their own backoff.

Run without a command (``make run``), it writes the services' addresses and process ids to a
run file (``var/run/launcher.json``), removed when it stops, so that ``make ingest`` finds the
running Retriever instead of starting a second one on the same store.

With ``--tls-dir`` (a folder laid out by ``python -m scripts.dev_ca``) each service gets its own
certificate, ``NAME.pem`` and ``NAME-key.pem``, and the CA bundle ``ca.pem``, so the services
speak TLS and call each other with mutual TLS; auth follows the AUTH_* variables.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

READY_TIMEOUT_S = 120.0
RUN_FILE = Path("var/run/launcher.json")
LAST_LOG_LINES = 10


class LaunchError(Exception):
    """A service exited or stayed silent before it was ready."""


@dataclass
class ServiceProcess:
    """A running service process and the address it listens on."""

    name: str
    process: asyncio.subprocess.Process
    address: str
    log_lines: list[str] = field(default_factory=list)

    async def stop(self, timeout_s: float = 30.0) -> int:
        """Sends SIGTERM and waits for a graceful exit (SIGKILL after ``timeout_s``)."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), timeout_s)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        return self.process.returncode or 0


async def _pump(stream: asyncio.StreamReader, sink: list[str], echo: bool) -> None:
    async for raw in stream:
        line = raw.decode(errors="replace").rstrip("\n")
        sink.append(line)
        if echo:
            print(line, file=sys.stderr, flush=True)


async def start_service(
    name: str,
    env: Mapping[str, str] | None = None,
    port: int = 0,
    host: str = "127.0.0.1",
    echo: bool = False,
) -> ServiceProcess:
    """Starts ``python -m services.<name>`` and returns once it logged ``ready``."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        f"services.{name}",
        "--host",
        host,
        "--port",
        str(port),
        env={"SHUTDOWN_DRAIN_S": "0", **os.environ, **(env or {})},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        # Its own process group: a Ctrl-C in the terminal reaches only this process, which then
        # stops the service with one SIGTERM (a second signal would force the service's exit).
        process_group=0,
    )
    assert process.stderr is not None
    lines: list[str] = []

    async def wait_ready() -> str:
        assert process.stderr is not None
        async for raw in process.stderr:
            line = raw.decode(errors="replace").rstrip("\n")
            lines.append(line)
            if echo:
                print(line, file=sys.stderr, flush=True)
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if isinstance(record, dict) and record.get("event") == "ready":
                    return str(record["address"])
        raise LaunchError(f"{name} exited with {await process.wait()}:\n" + "\n".join(lines[-30:]))

    try:
        address = await asyncio.wait_for(wait_ready(), READY_TIMEOUT_S)
    except (TimeoutError, LaunchError):
        if process.returncode is None:
            process.kill()
            await process.wait()
        raise
    # Keep draining stderr so the child never blocks on a full pipe.
    asyncio.get_running_loop().create_task(_pump(process.stderr, lines, echo))
    return ServiceProcess(name=name, process=process, address=address, log_lines=lines)


def run_program(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` for a program that starts services (the demo, the benchmarks and
    evaluations, the launcher): SIGTERM cancels ``main`` as Ctrl-C does, and the program then
    exits with 143 (128 + SIGTERM); unless ``main`` handles SIGTERM itself, as the launcher
    without a command does.

    Each service runs in a process group of its own (:func:`start_service`), so only its
    parent's ``finally`` blocks stop it; Python's own SIGTERM ends the parent without running
    them, and its services would run on (a ``timeout`` around ``make eval``, a cancelled job).
    """

    terminated = False

    async def cancelled_by_sigterm() -> T:
        task = asyncio.current_task()
        assert task is not None

        def terminate() -> None:
            nonlocal terminated
            terminated = True
            task.cancel()

        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, terminate)
        try:
            return await main
        finally:
            loop.remove_signal_handler(signal.SIGTERM)

    try:
        return asyncio.run(cancelled_by_sigterm())
    except asyncio.CancelledError:
        if terminated:
            raise SystemExit(128 + signal.SIGTERM) from None
        raise


def tls_env(tls_dir: Path, name: str) -> dict[str, str]:
    """The TLS_* variables of service ``name`` (e.g. ``orchestrator.gateway``: its last part
    names its files) from a folder laid out by ``python -m scripts.dev_ca``."""
    identity = name.rsplit(".", 1)[-1]
    return {
        "TLS_CERT_FILE": str(tls_dir / f"{identity}.pem"),
        "TLS_KEY_FILE": str(tls_dir / f"{identity}-key.pem"),
        "TLS_CA_FILE": str(tls_dir / "ca.pem"),
    }


@contextlib.asynccontextmanager
async def running_stack(
    env: Mapping[str, str] | None = None,
    services: Sequence[str] = ("embedder", "retriever", "orchestrator"),
    ports: Mapping[str, int] | None = None,
    echo: bool = False,
    tls_dir: Path | None = None,
) -> AsyncIterator[dict[str, ServiceProcess]]:
    """Starts the services in dependency order, each told where the previous ones are (and,
    with ``tls_dir``, given its own certificate)."""
    env_now = dict(env or {})
    started: dict[str, ServiceProcess] = {}
    try:
        for name in services:
            own = tls_env(tls_dir, name) if tls_dir else {}
            port = (ports or {}).get(name, 0)
            proc = await start_service(name, {**env_now, **own}, port, echo=echo)
            started[name] = proc
            env_now[f"{name.upper()}_ADDR"] = proc.address
        yield started
    finally:
        for proc in reversed(list(started.values())):
            await proc.stop()


def stack_env(started: Mapping[str, ServiceProcess]) -> dict[str, str]:
    """``*_ADDR`` variables pointing at the started services."""
    return {f"{name.upper()}_ADDR": proc.address for name, proc in started.items()}


def describe_exit(returncode: int) -> str:
    """``exited with code 3`` or ``was killed by signal SIGKILL`` (asyncio reports a death by
    signal N as -N)."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = str(-returncode)
        return f"was killed by signal {name}"
    return f"exited with code {returncode}"


async def first_exit(started: Mapping[str, ServiceProcess]) -> ServiceProcess:
    """Waits until one of the services exits, and returns it."""
    waits = {asyncio.ensure_future(proc.process.wait()): proc for proc in started.values()}
    try:
        done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
    return waits[next(iter(done))]


def write_run_file(path: Path, started: Mapping[str, ServiceProcess]) -> None:
    """Records this launcher's process id and its services' addresses and process ids."""
    record = {
        "pid": os.getpid(),
        "services": {
            name: {"address": proc.address, "pid": proc.process.pid}
            for name, proc in started.items()
        },
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(record, indent=2) + "\n")
    temporary.replace(path)  # readers never see half a file


def remove_run_file(path: Path) -> None:
    """Removes the run file if it is still this launcher's."""
    with contextlib.suppress(FileNotFoundError, ValueError, KeyError):
        if json.loads(path.read_text())["pid"] == os.getpid():
            path.unlink()


def running_addresses(path: Path = RUN_FILE) -> dict[str, str]:
    """The services' addresses from the run file of a launcher that is still running (an empty
    mapping when there is none, or the file is stale: its launcher is gone)."""
    try:
        record = json.loads(path.read_text())
        os.kill(int(record["pid"]), 0)  # signal 0: only asks whether the process exists
        return {str(name): str(entry["address"]) for name, entry in record["services"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def _report_exit(dead: ServiceProcess, echoed: bool) -> None:
    returncode = dead.process.returncode
    assert returncode is not None
    print(
        f"launcher: {dead.name} (pid {dead.process.pid}) {describe_exit(returncode)}; "
        "stopping the other services",
        file=sys.stderr,
        flush=True,
    )
    if not echoed and dead.log_lines:
        print(f"launcher: last lines of {dead.name}:", file=sys.stderr)
        for line in dead.log_lines[-LAST_LOG_LINES:]:
            print(f"  {line}", file=sys.stderr)
        sys.stderr.flush()


async def _stop_command(child: asyncio.subprocess.Process, timeout_s: float = 10.0) -> None:
    if child.returncode is None:
        child.terminate()
        try:
            await asyncio.wait_for(child.wait(), timeout_s)
        except TimeoutError:
            child.kill()
            await child.wait()


async def _main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.launcher")
    parser.add_argument("--services", default="embedder,retriever,orchestrator")
    parser.add_argument("--base-port", type=int, default=int(os.environ.get("BASE_PORT", "0")))
    parser.add_argument("--tls-dir", type=Path, help="certificates by service (scripts.dev_ca)")
    parser.add_argument(
        "--run-file",
        type=Path,
        default=RUN_FILE,
        help="where to record the services' addresses while running without a command",
    )
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    names = [n for n in args.services.split(",") if n]
    ports = {n: (args.base_port + i if args.base_port else 0) for i, n in enumerate(names)}
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    echo = not command
    async with running_stack(
        services=names, ports=ports, echo=echo, tls_dir=args.tls_dir
    ) as started:
        env = stack_env(started)
        for name, proc in started.items():
            print(f"{name:<13} {proc.address}", file=sys.stderr, flush=True)
        died = asyncio.ensure_future(first_exit(started))
        child: asyncio.subprocess.Process | None = None
        if command:
            child = await asyncio.create_subprocess_exec(*command, env={**os.environ, **env})
            finished: asyncio.Future[object] = asyncio.ensure_future(child.wait())
        else:
            write_run_file(args.run_file, started)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop.set)
            finished = asyncio.ensure_future(stop.wait())
        try:
            waited: list[asyncio.Future[Any]] = [died, finished]
            await asyncio.wait(waited, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not command:
                remove_run_file(args.run_file)
        if not died.done():
            died.cancel()
            return (child.returncode or 0) if child else 0
        finished.cancel()
        _report_exit(died.result(), echo)
        if child:
            await _stop_command(child)
        return 1


if __name__ == "__main__":
    sys.exit(run_program(_main(sys.argv[1:])))
