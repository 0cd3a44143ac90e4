"""What metrics cost on the Brief path: the services' CPU per briefing with metrics on and off.

Two stacks run at once, alike but for metrics (embedder, retriever with a small ingested
corpus, orchestrator with seeded patients, offline agent, plaintext on loopback): one exports
none, the other serves a Prometheus endpoint per service (RPC metrics interceptor, loop-lag
probe, every instrument recording) and is scraped once per round, as Prometheus would every
15 s. Rounds alternate between the stacks, so that load from elsewhere on the machine falls on
both alike. Each round runs Orchestrator.Brief one at a time over the patients; the CPU time of
the three service processes (user + system, from /proc) over the round, divided by its
briefings, is the cost per briefing.

Target: under 2% more CPU per briefing with metrics on (the medians of the rounds).
Results: bench/results/metrics.{json,png}, naming the machine and the commit.

    python -m bench metrics
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import tempfile
from pathlib import Path
from typing import Any

import grpc
import httpx
from briefing.v1 import orchestrator_pb2, orchestrator_pb2_grpc

from bench.security import RESULTS, commit, machine, stack, timed
from services.launcher import ServiceProcess, run_program

ROUNDS = 8
BRIEFS_PER_ROUND = 12
TARGET = 0.02
SERVICES = ("embedder", "retriever", "orchestrator")
# One Embed batch at a time while ingesting: on a busy machine four at once pass their deadline.
STACK_ENV = {"RETRIEVER_INGEST_CONCURRENCY": "1"}
METRICS_ENV = {**STACK_ENV, **{f"{name.upper()}_METRICS_PORT": "0" for name in SERVICES}}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_s(services: dict[str, ServiceProcess]) -> float:
    """User and system CPU seconds the service processes have used so far."""
    total = 0
    for service in services.values():
        fields = Path(f"/proc/{service.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / CLOCK_TICKS


def metrics_urls(services: dict[str, ServiceProcess]) -> list[str]:
    urls = []
    for service in services.values():
        for line in service.log_lines:
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if isinstance(record, dict) and record.get("event") == "metrics_ready":
                    urls.append(f"http://{record['address']}/metrics")
    assert len(urls) == len(services), "a service serves no metrics"
    return urls


async def run(folder: Path) -> dict[str, Any]:
    load_before = os.getloadavg()
    print("starting the stacks without and with metrics", flush=True)
    async with (
        stack(folder / "off", STACK_ENV, None, {}) as off,
        stack(folder / "on", METRICS_ENV, None, {}) as on,
        grpc.aio.insecure_channel(off["orchestrator"].address) as off_channel,
        grpc.aio.insecure_channel(on["orchestrator"].address) as on_channel,
        httpx.AsyncClient(timeout=30) as http,
    ):
        urls = metrics_urls(on)
        patients = [f"bench-{number:04d}" for number in range(BRIEFS_PER_ROUND)]
        stacks = {
            "metrics_off": (off, orchestrator_pb2_grpc.OrchestratorStub(off_channel)),
            "metrics_on": (on, orchestrator_pb2_grpc.OrchestratorStub(on_channel)),
        }

        async def briefs(stub: orchestrator_pb2_grpc.OrchestratorAsyncStub) -> list[float]:
            queue = iter(patients)

            async def one() -> object:
                request = orchestrator_pb2.BriefRequest(patient_id=next(queue))
                return await stub.Brief(request, timeout=120)

            return await timed(one, len(patients))

        for _, stub in stacks.values():
            await briefs(stub)  # every patient once: caches warm alike
        cpu_ms: dict[str, list[float]] = {name: [] for name in stacks}
        brief_ms: dict[str, list[float]] = {name: [] for name in stacks}
        scraped_bytes = 0
        for number in range(ROUNDS):
            order = list(stacks) if number % 2 == 0 else list(reversed(stacks))
            for name in order:
                services, stub = stacks[name]
                before = cpu_s(services)
                brief_ms[name] += await briefs(stub)
                if name == "metrics_on":  # the scrape's cost is part of the price
                    for response in await asyncio.gather(*(http.get(url) for url in urls)):
                        response.raise_for_status()
                        scraped_bytes = max(scraped_bytes, len(response.content))
                cpu_ms[name].append((cpu_s(services) - before) * 1000 / BRIEFS_PER_ROUND)
            print(
                f"round {number + 1}/{ROUNDS}: CPU per briefing "
                + ", ".join(f"{n} {v[-1]:.1f} ms" for n, v in cpu_ms.items()),
                flush=True,
            )
    return summarise(cpu_ms, brief_ms, scraped_bytes, load_before, os.getloadavg())


def summarise(
    cpu_ms: dict[str, list[float]],
    brief_ms: dict[str, list[float]],
    scraped_bytes: int,
    load_before: tuple[float, float, float],
    load_after: tuple[float, float, float],
) -> dict[str, Any]:
    cpu = {name: statistics.median(values) for name, values in cpu_ms.items()}
    extra = cpu["metrics_on"] / cpu["metrics_off"] - 1
    # Round by round (alternating, so each pair shares the machine's load at the time).
    paired = [
        on / off - 1 for on, off in zip(cpu_ms["metrics_on"], cpu_ms["metrics_off"], strict=True)
    ]
    return {
        "cpu_ms_per_briefing_median": cpu,
        "cpu_ms_per_briefing_by_round": cpu_ms,
        "cpu_extra_fraction": extra,
        "cpu_extra_fraction_by_round_median": statistics.median(paired),
        "brief_p50_ms": {name: statistics.median(values) for name, values in brief_ms.items()},
        "largest_scrape_bytes": scraped_bytes,
        "targets": {f"CPU extra < {TARGET:.0%}": extra < TARGET},
        "settings": {"rounds": ROUNDS, "briefs_per_round": BRIEFS_PER_ROUND, "agent": "offline"},
        "machine": {
            **machine(),
            "load_average_before": load_before,
            "load_average_after": load_after,
        },
        "commit": commit(),
    }


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib  # noqa: PLC0415 - only for the figure

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    by_round = results["cpu_ms_per_briefing_by_round"]
    for name, color in (("metrics_off", "#999999"), ("metrics_on", "#2a6fb0")):
        left.plot(range(1, len(by_round[name]) + 1), by_round[name], "o-", color=color, label=name)
    left.set_xlabel("round")
    left.set_ylabel("service CPU ms per briefing")
    left.set_title("CPU per briefing, round by round")
    left.legend()
    median = results["cpu_ms_per_briefing_median"]
    names = list(median)
    values = [median[name] for name in names]
    right.bar(names, values, color=["#999999", "#2a6fb0"])
    right.set_ylabel("median CPU ms per briefing")
    right.set_title(f"Metrics cost {results['cpu_extra_fraction']:+.1%} CPU (target < 2%)")
    for x, value in enumerate(values):
        right.text(x, value, f"{value:.1f}", ha="center", va="bottom")
    where = results["machine"]
    figure.suptitle(
        f"{where['node']} ({where['cpu']}, {where['cpus']} CPUs), commit {results['commit'][:12]}",
        fontsize=9,
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-metrics-") as folder:
        results = run_program(run(Path(folder)))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "metrics.json").write_text(json.dumps(results, indent=2) + "\n")
    plot(results, RESULTS / "metrics.png")
    print(
        json.dumps(
            {
                k: results[k]
                for k in ("cpu_ms_per_briefing_median", "cpu_extra_fraction", "targets")
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
