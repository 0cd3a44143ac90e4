"""Benchmark: briefing throughput with 1 and 2 Embedder replicas on this machine.

Starts the real services as subprocesses: N embedders (N = 1, 2) behind the Retriever's static
address list (``EMBEDDER_ADDR=ipv4:127.0.0.1:P1,127.0.0.1:P2``, round-robin), one retriever
over a small ingested corpus, one orchestrator (offline agent) over the seeded synthetic
patients (data/patients). The Embedder's query cache is off (``EMBEDDER_CACHE_SIZE=0``), so
every briefing's queries are embedded. At each concurrency level it keeps that many Brief calls
in flight for a fixed number of briefings, and reports briefings per second and the p50 / p99
latency.

What 2 cores allow: every process here shares the same two cores, and a briefing's cost is
mostly CPU (the model's forward passes for the queries, the agent's planning and the gRPC
hops). A second embedder replica adds no core, so it can only help where one embedder leaves a
core idle (one Python event loop and one model thread pool); past that, two replicas compete
for the same cores and add their own overhead. The curve shows which one holds here; the gain
from replicas is real only when they run on more cores or machines.

    python -m bench scaling      # writes bench/results/scaling.json and scaling.png
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from briefing.v1 import orchestrator_pb2, orchestrator_pb2_grpc

from bench.security import commit, machine
from services.common.channels import MethodPolicy, create_channel
from services.launcher import ServiceProcess, run_program, start_service

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
CORPUS = sorted((ROOT / "data" / "guidelines").glob("*.md"))[:3]
PATIENTS = ROOT / "data" / "patients"
REPLICAS = (1, 2)
LEVELS = (1, 4, 8)
BRIEFINGS_PER_LEVEL = 12
BRIEF_POLICY = {"Brief": MethodPolicy(timeout_s=300.0, idempotent=False)}
OFFLINE = orchestrator_pb2.BriefOptions(mode=orchestrator_pb2.AGENT_MODE_OFFLINE)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _run_module(*args: str, env: dict[str, str]) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        *args,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"{args[0]} failed:\n{stderr.decode(errors='replace')[-2000:]}")


@contextlib.asynccontextmanager
async def stack(folder: Path, replicas: int) -> AsyncIterator[ServiceProcess]:
    """The services with ``replicas`` embedders; yields the orchestrator."""
    env = {
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "ANTHROPIC_API_KEY": "",
        "PG_DATA_DIR": str(folder / "pg"),
        "RETRIEVER_QDRANT_PATH": str(folder / "qdrant"),
        # Every briefing's queries reach the embedders: with the query-embedding cache, the
        # patients' repeated queries would be answered from it after the first level.
        "EMBEDDER_CACHE_SIZE": "0",
        # One Embed batch at a time while ingesting, so that none waits past its deadline on
        # a busy machine (as in the tests).
        "RETRIEVER_INGEST_CONCURRENCY": "1",
    }
    started: list[ServiceProcess] = []
    try:
        ports = [_free_port() for _ in range(replicas)]
        embedders = await asyncio.gather(*(start_service("embedder", env, port) for port in ports))
        started += embedders
        target = "ipv4:" + ",".join(f"127.0.0.1:{port}" for port in ports)
        retriever = await start_service("retriever", {**env, "EMBEDDER_ADDR": target})
        started.append(retriever)
        await _run_module(
            "services.retriever.ingest",
            *map(str, CORPUS),
            env={**env, "RETRIEVER_ADDR": retriever.address},
        )
        orchestrator = await start_service(
            "orchestrator", {**env, "RETRIEVER_ADDR": retriever.address}
        )
        started.append(orchestrator)
        yield orchestrator
    finally:
        for process in reversed(started):
            await process.stop()


def _patient_ids() -> list[str]:
    return sorted(path.stem for path in PATIENTS.glob("pt-*.json"))


async def level(
    stub: orchestrator_pb2_grpc.OrchestratorAsyncStub,
    concurrency: int,
    briefings: int = BRIEFINGS_PER_LEVEL,
) -> dict[str, Any]:
    """``briefings`` briefings with ``concurrency`` in flight at a time."""
    patients = _patient_ids()
    queue: asyncio.Queue[str] = asyncio.Queue()
    for n in range(briefings):
        queue.put_nowait(patients[n % len(patients)])
    latencies: list[float] = []
    errors = 0

    async def worker() -> None:
        nonlocal errors
        while not queue.empty():
            patient_id = queue.get_nowait()
            started = time.perf_counter()
            try:
                await stub.Brief(
                    orchestrator_pb2.BriefRequest(patient_id=patient_id, options=OFFLINE)
                )
                latencies.append((time.perf_counter() - started) * 1000)
            except Exception:  # counted, not raised: a benchmark reports its errors
                errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall_s = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "concurrency": concurrency,
        "briefings": len(latencies),
        "errors": errors,
        "wall_s": wall_s,
        "briefings_per_s": len(latencies) / wall_s,
        "p50_ms": statistics.median(ordered) if ordered else None,
        "p99_ms": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] if ordered else None,
    }


async def run() -> dict[str, Any]:
    curves: dict[str, list[dict[str, Any]]] = {}
    for replicas in REPLICAS:
        with tempfile.TemporaryDirectory(prefix="bench-scaling-") as name:
            folder = Path(name)
            await _run_module(
                "services.orchestrator.patients.seed",
                str(PATIENTS),
                env={"PG_DATA_DIR": str(folder / "pg")},
            )
            async with (
                stack(folder, replicas) as orchestrator,
                create_channel(
                    orchestrator.address, "briefing.v1.Orchestrator", BRIEF_POLICY
                ) as channel,
            ):
                stub = orchestrator_pb2_grpc.OrchestratorStub(channel)
                await level(stub, concurrency=2, briefings=2)  # warm-up: first connections
                curve = []
                for concurrency in LEVELS:
                    curve.append(await level(stub, concurrency))
                    print(f"embedders={replicas} {json.dumps(curve[-1])}", file=sys.stderr)
                curves[str(replicas)] = curve
    best = {
        name: max(point["briefings_per_s"] for point in curve) for name, curve in curves.items()
    }
    return {
        "commit": commit(),
        "machine": {**machine(), "load_average_after": os.getloadavg()},
        "setup": {
            "corpus_files": len(CORPUS),
            "patients": len(_patient_ids()),
            "briefings_per_level": BRIEFINGS_PER_LEVEL,
            "agent": "offline",
            "embedder_target": "ipv4:127.0.0.1:P1,127.0.0.1:P2 (round_robin)",
            "embedder_cache_size": 0,
        },
        "embedder_replicas": curves,
        "best_briefings_per_s": best,
        "two_over_one": best["2"] / best["1"],
    }


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib  # noqa: PLC0415 - only for the figure

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    figure, axis = plt.subplots(figsize=(7, 4.2))
    for replicas, curve in results["embedder_replicas"].items():
        axis.plot(
            [point["concurrency"] for point in curve],
            [point["briefings_per_s"] for point in curve],
            marker="o",
            label=f"{replicas} embedder replica{'s' if replicas != '1' else ''}",
        )
    axis.set_xlabel("briefings in flight")
    axis.set_ylabel("briefings / s (offline agent)")
    axis.set_ylim(bottom=0)
    axis.legend()
    where = results["machine"]
    axis.set_title(
        f"{where['node']} ({where['cpu']}, {where['cpus']} CPUs), commit {results['commit'][:12]}",
        fontsize=9,
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main() -> None:
    results = run_program(run())
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "scaling.json").write_text(json.dumps(results, indent=2) + "\n")
    plot(results, RESULTS / "scaling.png")
    print(json.dumps({k: results[k] for k in ("best_briefings_per_s", "two_over_one")}, indent=2))


if __name__ == "__main__":
    main()
