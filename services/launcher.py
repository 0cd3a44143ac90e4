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
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

READY_TIMEOUT_S = 120.0


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


async def _main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.launcher")
    parser.add_argument("--services", default="embedder,retriever,orchestrator")
    parser.add_argument("--base-port", type=int, default=int(os.environ.get("BASE_PORT", "0")))
    parser.add_argument("--tls-dir", type=Path, help="certificates by service (scripts.dev_ca)")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    names = [n for n in args.services.split(",") if n]
    ports = {n: (args.base_port + i if args.base_port else 0) for i, n in enumerate(names)}
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    async with running_stack(
        services=names, ports=ports, echo=not command, tls_dir=args.tls_dir
    ) as started:
        env = stack_env(started)
        for name, proc in started.items():
            print(f"{name:<13} {proc.address}", file=sys.stderr, flush=True)
        if command:
            child = await asyncio.create_subprocess_exec(*command, env={**os.environ, **env})
            return await child.wait()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(_main(sys.argv[1:])))
