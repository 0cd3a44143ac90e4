"""Runs the health checks a deployment file declares, exactly as declared, against its parts
started on loopback with the deployment's own variables (TLS and auth on, certificates from the
files the deployment mounts) and again once they are stopped.

A declared check runs as the container would run it: its command word for word, with the
container's variables only (its mounted paths turned into the host files mounted there), and
``python`` found on the PATH as in the image. The parts it asks are started with the same
variables, changed only where loopback needs it (see :func:`server_env`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from services.launcher import ServiceProcess, start_service
from tests.deploy.parts import PARTS
from tests.orchestrator.conftest import scratch_dir, stop_embedded_postgres

ROOT = Path(__file__).resolve().parents[2]
# What the image sets for every process (Dockerfile) and a check needs here too.
IMAGE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONDONTWRITEBYTECODE": "1"}
CHECK_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class DeclaredCheck:
    """A health check as a deployment file declares it."""

    where: str  # which file and entry declares it, for the failure message
    command: tuple[str, ...]


@dataclass(frozen=True)
class DeclaredPart:
    """A server part as a deployment runs it, and the checks declared for it."""

    part: str  # a key of tests.deploy.parts.PARTS
    env: Mapping[str, str]  # the container's variables, mounted paths turned into host files
    checks: Sequence[DeclaredCheck]

    @property
    def port_variable(self) -> str:
        variable = PARTS[self.part].port_variable
        assert variable, f"{self.part} serves nothing"
        return variable


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def container_env(declared: DeclaredPart, port: int) -> dict[str, str]:
    """The variables the part's container has, listening on ``port``."""
    return {**declared.env, declared.port_variable: str(port)}


def server_env(
    declared: DeclaredPart,
    ports: Mapping[str, int],
    scratch: Path,
    vertex: str,
    collector: str | None = None,
) -> dict[str, str]:
    """The container's variables, changed where a part on loopback needs it: JSON logs (the
    launcher reads its ``ready`` line), local stores in ``scratch`` instead of the servers,
    dependencies at their loopback ports, metrics on free ports, the trace collector at
    ``collector`` (none without it), and the embedder's model backend a Vertex stand-in at
    ``vertex`` (it starts in seconds; no health check touches the backend). The security
    settings, port and certificates, and those of the collector's connection, are the
    deployment's."""
    removed = {"DATABASE_URL", "QDRANT_URL", "QDRANT_API_KEY"}
    env = {
        name: value
        for name, value in container_env(declared, ports[declared.part]).items()
        if name not in removed and (collector or not name.startswith("OTEL_"))
    }
    env["LOG_FORMAT"] = "json"
    # Each container has a network of its own, so every part serves metrics on the same port;
    # on one loopback each takes a free one instead.
    env.update({name: "0" for name in env if name.endswith("_METRICS_PORT")})
    if collector and "OTEL_EXPORTER_OTLP_ENDPOINT" in env:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = collector
        env["OTEL_BSP_SCHEDULE_DELAY"] = "200"
    loopback = {
        "embedder": {
            "EMBEDDER_BACKEND": "vertex",
            "EMBEDDER_VERTEX_PROJECT": "health-check-test",
            "EMBEDDER_VERTEX_ENDPOINT": vertex,
            "EMBEDDER_VERTEX_INSECURE": "true",
        },
        "retriever": {
            "RETRIEVER_QDRANT_PATH": str(scratch / "qdrant"),
            "EMBEDDER_ADDR": f"127.0.0.1:{ports.get('embedder', 0)}",
        },
        "orchestrator": {
            "ORCHESTRATOR_PG_DATA_DIR": str(scratch / "pg"),
            "RETRIEVER_ADDR": f"127.0.0.1:{ports.get('retriever', 0)}",
            "EMBEDDER_ADDR": f"127.0.0.1:{ports.get('embedder', 0)}",
            "ANTHROPIC_API_KEY": "",
        },
        "gateway": {"ORCHESTRATOR_ADDR": f"127.0.0.1:{ports.get('orchestrator', 0)}"},
    }
    return {**env, **loopback[declared.part]}


async def run_check(check: DeclaredCheck, env: Mapping[str, str]) -> tuple[int, str]:
    """Runs the declared command with the container's variables ``env`` and nothing else from
    this process but a PATH on which ``python`` is this virtualenv's; its code and output."""
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    process = await asyncio.create_subprocess_exec(
        *check.command,
        cwd=ROOT,
        env={"PATH": path, **IMAGE_ENV, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), CHECK_TIMEOUT_S)
    assert process.returncode is not None
    return process.returncode, output.decode(errors="replace")


@contextlib.asynccontextmanager
async def running(
    deployment: Sequence[DeclaredPart],
    ports: Mapping[str, int],
    vertex: str,
    collector: str | None = None,
) -> AsyncIterator[dict[str, ServiceProcess]]:
    """The deployment's parts started on loopback at ``ports``, all at once (the orchestrator
    waits for the retriever itself, as it does in a deployment), stopped on exit; their spans
    to ``collector`` when given."""
    with scratch_dir("deploy-health-") as scratch:
        names = [declared.part for declared in deployment]
        outcomes = await asyncio.gather(
            *(
                start_service(
                    PARTS[declared.part].module.removeprefix("services."),
                    server_env(declared, ports, scratch, vertex, collector),
                    port=ports[declared.part],
                )
                for declared in deployment
            ),
            return_exceptions=True,
        )
        started = {
            name: outcome
            for name, outcome in zip(names, outcomes, strict=True)
            if isinstance(outcome, ServiceProcess)
        }
        try:
            for outcome in outcomes:
                if isinstance(outcome, BaseException):
                    raise outcome
            yield started
        finally:
            for service in started.values():
                await service.stop()
            await stop_embedded_postgres(scratch / "pg")


async def run_checks(
    deployment: Sequence[DeclaredPart], ports: Mapping[str, int]
) -> list[tuple[DeclaredPart, DeclaredCheck, int, str]]:
    """Runs every declared check of the deployment at once (each takes seconds, mostly imports);
    (part, check, exit code, output) of each."""
    runs = [(declared, check) for declared in deployment for check in declared.checks]
    results = await asyncio.gather(
        *(
            run_check(check, container_env(declared, ports[declared.part]))
            for declared, check in runs
        )
    )
    return [
        (declared, check, code, output)
        for (declared, check), (code, output) in zip(runs, results, strict=True)
    ]


async def assert_checks_follow_the_parts(
    served: Sequence[DeclaredPart],
    vertex: str,
    checked: Sequence[DeclaredPart] = (),
    collector: str | None = None,
) -> None:
    """Every check declared for the ``served`` parts (and in ``checked``: the same parts as
    another file declares them, such as another overlay of the same manifests, with its own
    variables) passes while its part serves, and fails once it is stopped. The parts send their
    spans to ``collector`` when given."""
    deployment = [*served, *checked]
    ports = {declared.part: free_port() for declared in served}
    async with running(served, ports, vertex, collector):
        serving = await run_checks(deployment, ports)
    for _, check, code, output in serving:
        assert code == 0, f"{check.where}: {list(check.command)} -> {code}\n{output}"
    for declared, check, code, output in await run_checks(deployment, ports):
        assert code == 1, f"{check.where} with {declared.part} stopped -> {code}\n{output}"
