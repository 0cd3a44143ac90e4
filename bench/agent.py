"""Benchmark of the Claude agent path: concurrent briefings and a turn's concurrent tool calls.

Runs the real services as subprocesses (embedder, retriever with a small ingested corpus,
orchestrator with seeded patients) and points the orchestrator's Claude agent, through the real
Anthropic SDK, at the loopback stand-in of the Messages API, run as a process of its own
(bench/standin_process.py). The stand-in answers every request after a fixed latency
(TURN_LATENCY_S, like a model) and scripts each conversation (bench/agent_script.py): three
turns of two or three searches built from the patient's record, then the briefing, forced on
the fourth turn, citing what the searches returned.

1. N = 1, 10, 100, 500 concurrent Brief calls, each level REPEATS times: median wall time,
   wall(N)/wall(1) (target <= 1.2), p50 and p99 latency, errors, CPU per briefing of every
   process, the peak event-loop lag of each service in that phase (LOOP_LAG_PROBE=1), and
   per turn how long the stack took to send that turn for every briefing (first to last
   request at the Messages API stand-in).
2. One turn with 1, 2 and 5 tool calls through the orchestrator's tool path against the real
   Retriever: gathered (one GuidelineTools.search call) against one after another (target:
   gathered <= 1.1 x a single call). Twice: with the local model, where a query's embedding
   is CPU work (so the model's own cost of the extra queries, measured in-process, is reported
   as the floor), and with the Vertex AI backend against a loopback PredictionService stand-in
   that answers after VERTEX_LATENCY_S, where embedding is I/O as in production.

    python -m bench agent        # writes bench/results/agent.json and agent.png
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import matplotlib
import numpy as np
from briefing.v1 import orchestrator_pb2, orchestrator_pb2_grpc

from services.common.channels import MethodPolicy, create_channel
from services.common.config import DatabaseSettings
from services.common.logging import configure_logging
from services.common.looplag import LoopLagProbe
from services.launcher import ServiceProcess, run_program, running_stack
from services.orchestrator.agent.domain import SearchCall
from services.orchestrator.agent.tools import RetrieverTools
from services.orchestrator.patients.models import (
    Allergy,
    Coding,
    Condition,
    MedicationStatement,
    Observation,
    PatientRecord,
)
from services.orchestrator.patients.store import open_patient_store
from services.orchestrator.progress import RunObserver
from services.orchestrator.timings import Clock, Timings
from services.retriever.client import RetrieverClient
from tests.support.anthropic_standin import JSON
from tests.support.vertex_standin import VertexStandIn

matplotlib.use("Agg")
import matplotlib.pyplot as plt

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
CORPUS = sorted((ROOT / "data" / "guidelines").glob("*.md"))[:8]
LEVELS = (1, 10, 100, 500)
REPEATS = 5  # runs per level; the median wall time is reported
TURN_LATENCY_S = 2.0
PATIENTS = 50
TOOL_CALLS = (1, 2, 5)
TOOL_REPEATS = 31
VERTEX_LATENCY_S = 0.03  # a small Predict call to text-embedding-005, order of magnitude
TOPICS = [
    "metformin dosing in chronic kidney disease",
    "blood pressure target with albuminuria",
    "statin intensity after myocardial infarction",
    "anticoagulation dose for atrial fibrillation with low eGFR",
    "potassium monitoring with mineralocorticoid antagonists",
]
BRIEF_TIMEOUT_S = 300.0
API_KEY = "bench-key"

PROBLEMS = [
    ("44054006", "Type 2 diabetes mellitus"),
    ("700379002", "Chronic kidney disease stage 3b"),
    ("38341003", "Essential hypertension"),
    ("84114007", "Heart failure with reduced ejection fraction"),
    ("49436004", "Atrial fibrillation"),
    ("55822004", "Hyperlipidemia"),
]
MEDICATIONS = [
    ("861004", "Metformin 1000 MG", "1000 mg twice daily"),
    ("29046", "Lisinopril 20 MG", "20 mg daily"),
    ("1364430", "Apixaban 5 MG", "5 mg twice daily"),
    ("617312", "Atorvastatin 40 MG", "40 mg nightly"),
    ("9997", "Spironolactone 25 MG", "25 mg daily"),
    ("1545653", "Empagliflozin 10 MG", "10 mg daily"),
]
ALLERGIES = [("Penicillin", "hives"), ("Sulfonamide", "rash"), ("Lisinopril", "angioedema")]


def make_patient(number: int, rng: random.Random) -> PatientRecord:
    today = datetime(2026, 11, 1, 9, 0)
    problems = rng.sample(PROBLEMS, 3)
    medications = rng.sample(MEDICATIONS, 3)
    allergy = rng.choice(ALLERGIES)
    egfr_start = rng.uniform(35, 75)
    observations = [
        Observation(
            coding=Coding(system="http://loinc.org", code="62238-1", display="eGFR"),
            value=round(egfr_start - 4 * i, 1),
            unit="mL/min/1.73m2",
            effective=today - timedelta(days=180 * (2 - i)),
            kind="egfr",
        )
        for i in range(3)
    ] + [
        Observation(
            coding=Coding(system="http://loinc.org", code="4548-4", display="Hemoglobin A1c"),
            value=round(rng.uniform(6.2, 9.5), 1),
            unit="%",
            effective=today,
            kind="hba1c",
        )
    ]
    return PatientRecord(
        patient_id=f"bench-{number:04d}",
        given_name="Bench",
        family_name=f"Patient{number}",
        birth_date=date(1940 + rng.randrange(40), 1 + rng.randrange(12), 1 + rng.randrange(28)),
        sex=rng.choice(["female", "male"]),
        conditions=[Condition(coding=Coding(code=c, display=d)) for c, d in problems],
        medications=[
            MedicationStatement(coding=Coding(code=c, display=d), dosage_text=dose)
            for c, d, dose in medications
        ],
        allergies=[
            Allergy(substance=Coding(display=s), category="medication", reaction=r)
            for s, r in [allergy]
        ],
        observations=observations,
    )


async def _store_patients(pg_dir: Path) -> None:
    rng = random.Random(7)
    async with open_patient_store(DatabaseSettings(pg_data_dir=pg_dir)) as store:
        for number in range(PATIENTS):
            await store.upsert(make_patient(number, rng))


def seed_main(pg_dir: str) -> None:
    """Seeds in a child process: the embedded server stops when its last user process exits,
    so this process must not be one of them (it deletes the folder at the end)."""
    asyncio.run(_store_patients(Path(pg_dir)))


async def seed(pg_dir: Path) -> list[str]:
    code = f"from bench.agent import seed_main; seed_main({str(pg_dir)!r})"
    process = await asyncio.create_subprocess_exec(sys.executable, "-c", code)
    if await process.wait() != 0:
        raise RuntimeError("seeding the patients failed")
    return [f"bench-{number:04d}" for number in range(PATIENTS)]


async def ingest(retriever_addr: str) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.retriever.ingest",
        *map(str, CORPUS),
        env={**os.environ, "RETRIEVER_ADDR": retriever_addr},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"ingest failed:\n{output.decode(errors='replace')[-2000:]}")


def _percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


async def one_brief(
    stub: orchestrator_pb2_grpc.OrchestratorAsyncStub, patient_id: str
) -> tuple[float, str, orchestrator_pb2.PatientBriefing | None]:
    request = orchestrator_pb2.BriefRequest(
        patient_id=patient_id,
        options=orchestrator_pb2.BriefOptions(mode=orchestrator_pb2.AGENT_MODE_CLAUDE),
    )
    started = time.perf_counter()
    try:
        response = await stub.Brief(request, timeout=BRIEF_TIMEOUT_S)
    except grpc.aio.AioRpcError as exc:
        return time.perf_counter() - started, exc.code().name, None
    return time.perf_counter() - started, "OK", response.briefing


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def level(
    stub: orchestrator_pb2_grpc.OrchestratorAsyncStub,
    n: int,
    patient_ids: Sequence[str],
    pids: dict[str, int],
) -> dict[str, Any]:
    cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    started_at = time.time()
    started = time.perf_counter()
    results = await asyncio.gather(
        *(one_brief(stub, patient_ids[i % len(patient_ids)]) for i in range(n))
    )
    wall = time.perf_counter() - started
    cpu_ms_per_brief = {
        name: round((cpu_seconds(pid) - cpu_before[name]) * 1000 / n, 2)
        for name, pid in pids.items()
    }
    latencies = [latency for latency, code, _ in results if code == "OK"]
    errors: dict[str, int] = {}
    for _, code, _ in results:
        if code != "OK":
            errors[code] = errors.get(code, 0) + 1
    briefings = [b for _, _, b in results if b is not None]
    tool_ms = [t.duration_ms for b in briefings for t in b.timings if t.stage == "tool_call"]
    return {
        "n": n,
        "wall_s": round(wall, 3),
        "p50_s": round(_percentile(latencies, 50), 3),
        "p99_s": round(_percentile(latencies, 99), 3),
        "ok": len(latencies),
        "errors": errors,
        "turns_used": sorted({b.turns_used for b in briefings}),
        "tool_call_p50_ms": round(_percentile(tool_ms, 50), 2),
        "tool_call_p99_ms": round(_percentile(tool_ms, 99), 2),
        "cache_read_tokens_mean": round(
            statistics.fmean(b.usage.cache_read_input_tokens for b in briefings), 1
        )
        if briefings
        else 0,
        "cited_sources_mean": round(statistics.fmean(len(b.sources) for b in briefings), 2)
        if briefings
        else 0,
        "cpu_ms_per_brief": cpu_ms_per_brief,
        "window": (started_at, time.time()),
    }


async def tool_turns(retriever_addr: str) -> list[dict[str, Any]]:
    """One turn's k searches through RetrieverTools: gathered against one after another."""
    rows = []
    async with RetrieverClient(retriever_addr) as client:
        timings = Timings(Clock())
        tools = RetrieverTools(client, RunObserver(timings), max_results_cap=5)
        serial = 0

        def calls(k: int) -> list[SearchCall]:
            nonlocal serial
            serial += 1  # distinct queries each time: the embedder caches query vectors
            return [
                SearchCall(f"call-{serial}-{i}", f"{TOPICS[i]} (case {serial})", 5)
                for i in range(k)
            ]

        for k in TOOL_CALLS:  # warm the channel and the embedder's batch shapes
            await tools.search(calls(k), turn=1)
        for k in TOOL_CALLS:
            gathered, sequential = [], []
            slowest: dict[str, list[float]] = {"tool_call.embed": [], "tool_call.search": []}
            for _ in range(TOOL_REPEATS):
                batch = calls(k)
                started = time.perf_counter()
                outcomes = await tools.search(batch, turn=1)
                gathered.append(time.perf_counter() - started)
                assert all(o.ok for o in outcomes), [o.error for o in outcomes]
                # As the Retriever measured them: where a gathered call's time went.
                ids = {call.call_id for call in batch}
                for stage, values in slowest.items():
                    values.append(
                        max(
                            t.duration_ms
                            for t in timings.items()
                            if t.stage == stage and t.tool_call_id in ids
                        )
                    )
                batch = calls(k)
                started = time.perf_counter()
                for call in batch:
                    await tools.search([call], turn=1)
                sequential.append(time.perf_counter() - started)
            rows.append(
                {
                    "tool_calls": k,
                    "gathered_ms": round(statistics.median(gathered) * 1000, 2),
                    "sequential_ms": round(statistics.median(sequential) * 1000, 2),
                    "gathered_slowest_embed_ms": round(
                        statistics.median(slowest["tool_call.embed"]), 2
                    ),
                    "gathered_slowest_search_ms": round(
                        statistics.median(slowest["tool_call.search"]), 2
                    ),
                }
            )
    single = rows[0]["gathered_ms"]
    for row in rows:
        row["gathered_over_single"] = round(row["gathered_ms"] / single, 3)
    return rows


def model_costs() -> dict[int, float]:
    """The local model's own time (median ms) to embed k distinct short queries in one batch,
    in this process: what k gathered searches cannot avoid on a CPU model."""
    # Imported here: torch takes seconds to load and only this measurement needs it.
    from services.embedder.backends.base import EmbedItem, InputKind  # noqa: PLC0415
    from services.embedder.backends.local import LocalBackend  # noqa: PLC0415

    async def measure() -> dict[int, float]:
        backend = await LocalBackend.load(threads=os.cpu_count() or 1)
        await backend.warm_up()
        costs = {}
        for k in TOOL_CALLS:
            times = []
            for repeat in range(40):
                items = [
                    EmbedItem(f"{TOPICS[i]} (model case {repeat})", InputKind.QUERY, True, 16)
                    for i in range(k)
                ]
                started = time.perf_counter()
                await backend.embed(items)
                times.append(time.perf_counter() - started)
            costs[k] = round(statistics.median(times[5:]) * 1000, 2)
        await backend.close()
        return costs

    return asyncio.run(measure())


async def vertex_tool_turns(folder: Path) -> list[dict[str, Any]]:
    """tool_turns with the Vertex AI backend: a Predict stand-in that answers after
    VERTEX_LATENCY_S, so a query's embedding is waiting, not computing."""
    standin = VertexStandIn(latency_s=VERTEX_LATENCY_S)
    await standin.start()
    env = {
        "EMBEDDER_BACKEND": "vertex",
        "EMBEDDER_VERTEX_PROJECT": "bench-project",
        "EMBEDDER_VERTEX_ENDPOINT": standin.address,
        "EMBEDDER_VERTEX_INSECURE": "true",
        "RETRIEVER_QDRANT_PATH": str(folder / "qdrant-vertex"),
    }
    try:
        async with running_stack(env, services=("embedder", "retriever")) as services:
            await ingest(services["retriever"].address)
            return await tool_turns(services["retriever"].address)
    finally:
        await standin.stop()


@dataclass
class StandInProcess:
    """The Messages API stand-in's process (bench/standin_process.py)."""

    base_url: str
    pid: int
    requests: int = 0
    arrivals: list[tuple[float, int]] = field(default_factory=list)  # (time, turn)


@contextlib.asynccontextmanager
async def messages_standin() -> AsyncIterator[StandInProcess]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.standin_process",
        "--api-key",
        API_KEY,
        "--latency-s",
        str(TURN_LATENCY_S),
        stdout=asyncio.subprocess.PIPE,
        limit=64 * 1024 * 1024,  # the last line lists every request's arrival
    )
    assert process.stdout is not None
    try:
        first = await asyncio.wait_for(process.stdout.readline(), 60)
        if not first:
            raise RuntimeError("the Messages API stand-in did not start")
        handle = StandInProcess(base_url=json.loads(first)["base_url"], pid=process.pid)
        yield handle
        process.terminate()
        last = await asyncio.wait_for(process.stdout.readline(), 30)
        if last:
            summary = json.loads(last)
            handle.requests = int(summary["requests"])
            handle.arrivals = [(float(at), int(turn)) for at, turn in summary["arrivals"]]
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


def turn_spreads(arrivals: list[tuple[float, int]], start: float, end: float) -> dict[str, float]:
    """Per turn, from the first to the last of the run's requests for it at the Messages API:
    how long the stack took to send that turn for every briefing."""
    by_turn: dict[int, list[float]] = {}
    for at, turn in arrivals:
        if start <= at <= end:
            by_turn.setdefault(turn, []).append(at)
    return {str(turn): round(max(ats) - min(ats), 3) for turn, ats in sorted(by_turn.items())}


def _timestamp(line: JSON) -> float:
    return datetime.fromisoformat(str(line["timestamp"])).timestamp()


def lag_by_phase(
    services: dict[str, ServiceProcess], windows: list[tuple[int, float, float]]
) -> tuple[dict[int, dict[str, float]], dict[str, float]]:
    """Peak loop lag per run and service (1 s windows), and each service's overall peak."""
    per_level: dict[int, dict[str, float]] = {n: {} for n, _, _ in windows}
    overall: dict[str, float] = {}
    for name, proc in services.items():
        for raw in proc.log_lines:
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            if not isinstance(line, dict):
                continue
            if line.get("event") == "loop_lag":
                overall[name] = float(line["max_ms"])
            elif line.get("event") == "loop_lag_window":
                at = _timestamp(line)
                for n, start, end in windows:
                    if start <= at <= end + 1.0:
                        peak = per_level[n].get(name, 0.0)
                        per_level[n][name] = max(peak, float(line["max_ms"]))
    return per_level, overall


def plot(result: dict[str, Any], path: Path) -> None:
    levels = result["levels"]
    ns = [row["n"] for row in levels]
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8))
    ax = axes[0]
    ax.plot(ns, [row["p50_s"] for row in levels], "o-", label="p50")
    ax.plot(ns, [row["p99_s"] for row in levels], "o-", label="p99")
    ax.plot(ns, [row["wall_s"] for row in levels], "s--", label="wall")
    ax.set_xscale("log")
    ax.set_xlabel("concurrent Brief calls")
    ax.set_ylabel("seconds")
    ax.set_title(f"Brief latency ({TURN_LATENCY_S:g} s per model turn, 4 turns)")
    ax.legend()
    ax = axes[1]
    services = sorted({s for row in levels for s in row["loop_lag_peak_ms"]})
    width = 0.8 / max(1, len(services))
    for i, service in enumerate(services):
        xs = [j + i * width for j in range(len(ns))]
        ax.bar(
            xs, [row["loop_lag_peak_ms"].get(service, 0) for row in levels], width, label=service
        )
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(ns))], [str(n) for n in ns])
    ax.set_xlabel("concurrent Brief calls")
    ax.set_ylabel("peak loop lag (ms)")
    ax.set_title("Event-loop lag per service")
    ax.legend(fontsize=8)
    ax = axes[2]
    ks = [str(row["tool_calls"]) for row in result["tool_turn"]["local"]]
    positions = np.arange(len(ks))
    for offset, (backend, rows) in zip((-0.2, 0.2), result["tool_turn"].items(), strict=True):
        ratios = [row["gathered_over_single"] for row in rows]
        ax.bar(positions + offset, ratios, 0.4, label=f"{backend}: gathered / single")
    floors = [row["model_floor"] for row in result["tool_turn"]["local"]]
    ax.plot(positions - 0.2, floors, "k_", markersize=22, label="local: model floor")
    ax.axhline(1.1, color="grey", linestyle="--", label="target 1.1")
    ax.set_xticks(positions, ks)
    ax.set_xlabel("tool calls in one turn")
    ax.set_ylabel("gathered time / one call")
    ax.set_title("One turn's searches via the tool path")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


async def run(folder: Path) -> dict[str, Any]:
    print("seeding patients", flush=True)
    patient_ids = await seed(folder / "pg")
    async with messages_standin() as standin:
        env = {
            "HF_HUB_OFFLINE": "1",
            "LOOP_LAG_PROBE": "1",
            "PG_DATA_DIR": str(folder / "pg"),
            "RETRIEVER_QDRANT_PATH": str(folder / "qdrant"),
            "ANTHROPIC_API_KEY": API_KEY,
            "ANTHROPIC_BASE_URL": standin.base_url,
        }
        print("starting the services", flush=True)
        async with running_stack(env) as services:
            print(f"ingesting {len(CORPUS)} guideline files", flush=True)
            await ingest(services["retriever"].address)
            channel = create_channel(
                services["orchestrator"].address,
                "briefing.v1.Orchestrator",
                {"Brief": MethodPolicy(timeout_s=BRIEF_TIMEOUT_S, idempotent=False)},
            )
            stub = orchestrator_pb2_grpc.OrchestratorStub(channel)
            for _ in range(2):
                warm = await one_brief(stub, patient_ids[0])
                if warm[1] != "OK":
                    raise RuntimeError(f"warm-up Brief failed: {warm[1]}")
            pids = {name: proc.process.pid for name, proc in services.items()}
            pids["Messages stand-in"] = standin.pid
            pids["bench client"] = os.getpid()
            runs = []
            async with LoopLagProbe() as own_probe:
                for n in LEVELS:
                    for _ in range(REPEATS):
                        own_probe.lags_s.clear()
                        row = await level(stub, n, patient_ids, pids)
                        row["bench_loop_lag_peak_ms"] = round(own_probe.max_ms, 2)
                        print(
                            f"N={n:<4} wall {row['wall_s']:.2f}s p50 {row['p50_s']:.2f}s "
                            f"p99 {row['p99_s']:.2f}s errors {row['errors']}",
                            flush=True,
                        )
                        runs.append(row)
                        await asyncio.sleep(1.5)  # let the lag windows of this run close
            await channel.close(None)
            print("tool calls, local model: gathered against sequential", flush=True)
            local_rows = await tool_turns(services["retriever"].address)
    await asyncio.sleep(0.5)  # the launcher's pumps read the last log lines
    print("tool calls, Vertex AI stand-in: gathered against sequential", flush=True)
    vertex_rows = await vertex_tool_turns(folder)
    for row in runs:
        row["turn_request_spread_s"] = turn_spreads(standin.arrivals, *row["window"])
    windows = [(index, *row.pop("window")) for index, row in enumerate(runs)]
    per_run, overall = lag_by_phase(services, windows)
    for index, row in enumerate(runs):
        row["loop_lag_peak_ms"] = per_run[index]
    levels = [_median_run([r for r in runs if r["n"] == n]) for n in LEVELS]
    wall_1 = levels[0]["wall_s"]
    for row in levels:
        row["wall_over_wall_1"] = round(row["wall_s"] / wall_1, 3)
    return {
        "benchmark": "agent",
        "config": {
            "turn_latency_s": TURN_LATENCY_S,
            "turns": "3 turns of 3/2/3 searches, briefing forced on turn 4",
            "patients": PATIENTS,
            "corpus_files": [p.name for p in CORPUS],
            "levels": list(LEVELS),
            "repeats_per_level": REPEATS,
            "tool_repeats": TOOL_REPEATS,
            "vertex_latency_s": VERTEX_LATENCY_S,
            "cpus": os.cpu_count(),
            "messages_api_requests": standin.requests,
        },
        "levels": levels,
        "runs": runs,
        "loop_lag_overall_max_ms": overall,
        "tool_turn": {"local": local_rows, "vertex": vertex_rows},
    }


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median wall time, with every run's wall time beside it."""
    ordered = sorted(runs, key=lambda row: row["wall_s"])
    median = dict(ordered[len(ordered) // 2])
    median["wall_s_runs"] = [row["wall_s"] for row in runs]
    return median


def _with_ratios(rows: list[dict[str, Any]], model_ms: dict[int, float] | None) -> None:
    single = rows[0]["gathered_ms"]
    for row in rows:
        row["gathered_over_single"] = round(row["gathered_ms"] / single, 3)
        if model_ms is not None:
            k = row["tool_calls"]
            row["model_ms"] = model_ms[k]
            # If everything but the model's work on the extra queries were free:
            row["model_floor"] = round((single - model_ms[1] + model_ms[k]) / single, 3)


def main() -> None:
    configure_logging("bench", "WARNING", "console")
    with tempfile.TemporaryDirectory(prefix="bench-agent-") as tmp:
        result = run_program(run(Path(tmp)))
    print("model cost of k queries in one batch, in-process", flush=True)
    model_ms = model_costs()
    _with_ratios(result["tool_turn"]["local"], model_ms)
    _with_ratios(result["tool_turn"]["vertex"], None)
    result["targets"] = {
        "wall_500_over_wall_1": {
            "target": 1.2,
            "measured": result["levels"][-1]["wall_over_wall_1"],
        },
        "gathered_over_single": {
            "target": 1.1,
            "measured": {
                backend: {str(r["tool_calls"]): r["gathered_over_single"] for r in rows}
                for backend, rows in result["tool_turn"].items()
            },
            "local_model_floor": {
                str(r["tool_calls"]): r["model_floor"] for r in result["tool_turn"]["local"]
            },
        },
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "agent.json").write_text(json.dumps(result, indent=2) + "\n")
    plot(result, RESULTS / "agent.png")
    print(json.dumps(result["targets"], indent=2))


if __name__ == "__main__":
    main()
