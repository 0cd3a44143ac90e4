"""A bounded soak: mixed Search, Brief and Ingest, with and without a share of hostile requests.

Two stacks run side by side (embedder, retriever with a small ingested corpus, orchestrator with
seeded patients, offline agent). Both get the same good traffic: GOOD_WORKERS callers in a loop,
each call a Search (60%), a Brief (25%) or the Ingest of a new three-chunk document (15%). The
hostile stack also gets HOSTILE_WORKERS callers sending, in turn:

- an oversized Embed (texts of 100 KB each, truncate=true) straight to the Embedder;
- a Search with a query over the length limit, and one whose filter lists 10,000 topics;
- bytes that are not a protobuf, to Retriever.Search and Orchestrator.Brief;
- an Ingest whose second chunk is far over the model's window (the document must not appear);
- a deadline storm: 20 Briefs at once with a 100 ms deadline.

The time is split into rounds that alternate between the stacks, so that load from elsewhere
on the machine falls on both alike; only one stack has traffic at a time. Reported per run:
calls accepted and refused (RESOURCE_EXHAUSTED is a refusal of a good call; any other status
of an accepted good call is a failure), p50 and p99 of good calls per kind, the peak RSS of
each service (VmHWM), and whether the collection's point count at the end is exactly the corpus
plus the documents the good Ingests wrote. Target: each kind's p99 in the hostile run within 2x
of the clean run's.

    SOAK_SECONDS=120 python -m bench soak     # seconds of traffic per run (default 240)

Results: bench/results/soak.{json,png}, naming the machine, its load and the commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import random
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import numpy as np
from briefing.v1 import (
    common_pb2,
    embedder_pb2,
    embedder_pb2_grpc,
    orchestrator_pb2,
    orchestrator_pb2_grpc,
    retriever_pb2,
)

from bench.agent import PATIENTS
from bench.security import DOCUMENTS, RESULTS, commit, machine, stack
from services.common.errors import ServiceError
from services.launcher import ServiceProcess, run_program
from services.retriever.client import RetrieverClient

SOAK_SECONDS = float(os.environ.get("SOAK_SECONDS", "240"))
ROUNDS = int(os.environ.get("SOAK_ROUNDS", "4"))
GOOD_WORKERS = 4
HOSTILE_WORKERS = 2
MIX = (("search", 0.60), ("brief", 0.25), ("ingest", 0.15))
P99_TARGET = 2.0
STORM_BRIEFS = 20
STORM_DEADLINE_S = 0.1
HUGE_FILTER_TOPICS = 10_000
OVERSIZED_TEXTS = 16
OVERSIZED_TEXT_CHARS = 100_000
CHUNKS_PER_DOCUMENT = 3
QUERIES = (
    "metformin dose when eGFR falls below 30",
    "apixaban dose reduction criteria age weight creatinine",
    "NSAID use in chronic kidney disease",
    "potassium above 5.5 on an ACE inhibitor",
    "statin intolerance alternatives for LDL lowering",
    "sulfonamide allergy and loop diuretics",
    "SGLT2 inhibitor in diabetic kidney disease",
    "blood pressure target in CKD with albuminuria",
)
NOT_A_PROTOBUF = b"\xff\xff\xff\xff\x0f" + bytes(range(256)) * 4
REFUSED_GOOD = {grpc.StatusCode.RESOURCE_EXHAUSTED}


@dataclass
class Tally:
    """One run's calls: latencies of good calls by kind, and statuses by kind."""

    good_ms: dict[str, list[float]] = field(default_factory=dict)
    good_codes: dict[str, Counter[str]] = field(default_factory=dict)
    hostile_codes: dict[str, Counter[str]] = field(default_factory=dict)
    expected_new_points: int = 0

    def good(self, kind: str, code: grpc.StatusCode, ms: float) -> None:
        self.good_codes.setdefault(kind, Counter())[code.name] += 1
        if code == grpc.StatusCode.OK:
            self.good_ms.setdefault(kind, []).append(ms)

    def hostile(self, kind: str, code: grpc.StatusCode) -> None:
        self.hostile_codes.setdefault(kind, Counter())[code.name] += 1


@dataclass
class Target:
    """The channels of one stack."""

    name: str
    services: dict[str, ServiceProcess]
    retriever: RetrieverClient
    orchestrator: orchestrator_pb2_grpc.OrchestratorAsyncStub
    embedder: embedder_pb2_grpc.EmbedderAsyncStub
    raw_retriever: grpc.aio.Channel
    raw_orchestrator: grpc.aio.Channel
    patients: list[str]
    tally: Tally = field(default_factory=Tally)
    documents: itertools.count[int] = field(default_factory=itertools.count)


def code_of(error: BaseException) -> grpc.StatusCode:
    if isinstance(error, ServiceError):
        return error.code
    if isinstance(error, grpc.aio.AioRpcError):
        return error.code()
    raise error


async def status(call: Awaitable[object]) -> grpc.StatusCode:
    try:
        await call
    except (ServiceError, grpc.aio.AioRpcError) as exc:
        return code_of(exc)
    return grpc.StatusCode.OK


def chunks(document_id: str, texts: list[str]) -> list[retriever_pb2.IngestChunk]:
    return [
        retriever_pb2.IngestChunk(
            source=common_pb2.Source(
                document_id=document_id,
                title=f"Soak note {document_id}",
                issuer="SOAK",
                year=2026,
                chunk_index=index,
                topics=["soak"],
            ),
            text=text,
            content_hash=document_id,
            chunk_count=len(texts),
        )
        for index, text in enumerate(texts)
    ]


async def stream(
    items: list[retriever_pb2.IngestChunk],
) -> AsyncIterator[retriever_pb2.IngestChunk]:
    for item in items:
        yield item


# Good calls -------------------------------------------------------------------------------


async def good_search(target: Target, rng: random.Random) -> grpc.StatusCode:
    return await status(target.retriever.search(rng.choice(QUERIES), limit=5, timeout_s=30))


async def good_brief(target: Target, rng: random.Random) -> grpc.StatusCode:
    request = orchestrator_pb2.BriefRequest(patient_id=rng.choice(target.patients))
    return await status(target.orchestrator.Brief(request, timeout=120))


async def good_ingest(target: Target, rng: random.Random) -> grpc.StatusCode:
    document_id = f"soak-{target.name}-{next(target.documents)}"
    texts = [
        f"Soak passage {n} of {document_id}: {rng.choice(QUERIES)}, checked at each visit."
        for n in range(CHUNKS_PER_DOCUMENT)
    ]
    try:
        response = await target.retriever.ingest(stream(chunks(document_id, texts)), 120)
    except ServiceError as exc:
        return exc.code
    target.tally.expected_new_points += response.chunks_upserted
    return grpc.StatusCode.OK


GOOD: dict[str, Callable[[Target, random.Random], Awaitable[grpc.StatusCode]]] = {
    "search": good_search,
    "brief": good_brief,
    "ingest": good_ingest,
}


async def good_worker(target: Target, until: float, seed_value: int) -> None:
    rng = random.Random(seed_value)
    kinds = [kind for kind, _ in MIX]
    weights = [weight for _, weight in MIX]
    while time.monotonic() < until:
        kind = rng.choices(kinds, weights)[0]
        started = time.perf_counter()
        code = await GOOD[kind](target, rng)
        target.tally.good(kind, code, (time.perf_counter() - started) * 1000)


# Hostile calls ----------------------------------------------------------------------------


async def oversized_embed(target: Target) -> list[grpc.StatusCode]:
    request = embedder_pb2.EmbedRequest(
        texts=["renal " * (OVERSIZED_TEXT_CHARS // 6)] * OVERSIZED_TEXTS,
        input_type=embedder_pb2.INPUT_TYPE_QUERY,
        truncate=True,
    )
    return [await status(target.embedder.Embed(request, timeout=60))]


async def oversized_query(target: Target) -> list[grpc.StatusCode]:
    return [await status(target.retriever.search("dose " * 20_000, timeout_s=30))]


async def huge_filter(target: Target) -> list[grpc.StatusCode]:
    topics = [f"topic-{n}" for n in range(HUGE_FILTER_TOPICS)]
    return [await status(target.retriever.search("metformin", topics=topics, timeout_s=30))]


async def malformed(target: Target) -> list[grpc.StatusCode]:
    codes = []
    for channel, method in (
        (target.raw_retriever, "/briefing.v1.Retriever/Search"),
        (target.raw_orchestrator, "/briefing.v1.Orchestrator/Brief"),
    ):
        # No serializers: bytes in, bytes out.
        call = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
        codes.append(await status(call(NOT_A_PROTOBUF, timeout=30)))
    return codes


async def hostile_ingest(target: Target) -> list[grpc.StatusCode]:
    document_id = f"hostile-{target.name}-{next(target.documents)}"
    texts = ["A fine first passage.", "word " * 20_000, "A fine last passage."]
    return [await status(target.retriever.ingest(stream(chunks(document_id, texts)), 120))]


async def deadline_storm(target: Target) -> list[grpc.StatusCode]:
    requests = [
        orchestrator_pb2.BriefRequest(patient_id=target.patients[n % len(target.patients)])
        for n in range(STORM_BRIEFS)
    ]
    return list(
        await asyncio.gather(
            *(status(target.orchestrator.Brief(r, timeout=STORM_DEADLINE_S)) for r in requests)
        )
    )


HOSTILE: dict[str, Callable[[Target], Awaitable[list[grpc.StatusCode]]]] = {
    "oversized_embed": oversized_embed,
    "oversized_query": oversized_query,
    "huge_filter": huge_filter,
    "malformed_bytes": malformed,
    "oversized_chunk_ingest": hostile_ingest,
    "deadline_storm": deadline_storm,
}


async def hostile_worker(target: Target, until: float, offset: int) -> None:
    kinds = itertools.islice(itertools.cycle(HOSTILE), offset, None)
    while time.monotonic() < until:
        kind = next(kinds)
        for code in await HOSTILE[kind](target):
            target.tally.hostile(kind, code)


# The run ----------------------------------------------------------------------------------


async def round_of(target: Target, seconds: float, hostile: bool, number: int) -> None:
    until = time.monotonic() + seconds
    workers = [good_worker(target, until, number * 100 + n) for n in range(GOOD_WORKERS)]
    if hostile:
        workers += [hostile_worker(target, until, n * 3) for n in range(HOSTILE_WORKERS)]
    await asyncio.gather(*workers)


def peak_rss_mb(process: ServiceProcess) -> float:
    """The process's peak resident set (VmHWM), in MiB."""
    for line in Path(f"/proc/{process.process.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@contextlib.asynccontextmanager
async def target(name: str, folder: Path, patients: list[str]) -> AsyncIterator[Target]:
    async with (
        stack(folder, {}, None, {}) as services,
        RetrieverClient(services["retriever"].address) as retriever,
        grpc.aio.insecure_channel(services["orchestrator"].address) as orchestrator,
        grpc.aio.insecure_channel(services["embedder"].address) as embedder,
        grpc.aio.insecure_channel(services["retriever"].address) as raw_retriever,
        grpc.aio.insecure_channel(services["orchestrator"].address) as raw_orchestrator,
    ):
        yield Target(
            name=name,
            services=services,
            retriever=retriever,
            orchestrator=orchestrator_pb2_grpc.OrchestratorStub(orchestrator),
            embedder=embedder_pb2_grpc.EmbedderStub(embedder),
            raw_retriever=raw_retriever,
            raw_orchestrator=raw_orchestrator,
            patients=patients,
        )


async def run(folder: Path) -> dict[str, Any]:
    load_before = os.getloadavg()
    print("starting the clean and the hostile stacks", flush=True)
    patients = [f"bench-{number:04d}" for number in range(PATIENTS)]  # as bench.agent seeds
    async with (
        target("clean", folder / "clean", patients) as clean,
        target("hostile", folder / "hostile", patients) as hostile,
    ):
        corpus_points = {
            t.name: (await t.retriever.collection_info()).points_count for t in (clean, hostile)
        }
        for t in (clean, hostile):  # warm: every patient's briefing once, caches alike
            await asyncio.gather(*(good_brief(t, random.Random(n)) for n in range(8)))
        seconds = SOAK_SECONDS / ROUNDS
        for number in range(ROUNDS):
            order = [clean, hostile] if number % 2 == 0 else [hostile, clean]
            for t in order:
                await round_of(t, seconds, t is hostile, number)
            print(f"round {number + 1}/{ROUNDS}: {summary_line(clean, hostile)}", flush=True)
        runs = {}
        for t in (clean, hostile):
            points = (await t.retriever.collection_info()).points_count
            expected = corpus_points[t.name] + t.tally.expected_new_points
            runs[t.name] = {
                "tally": t.tally,
                "points": points,
                "expected_points": expected,
                "rss": {name: peak_rss_mb(p) for name, p in t.services.items()},
            }
    return summarise(runs, load_before, os.getloadavg())


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def summary_line(clean: Target, hostile: Target) -> str:
    parts = []
    for t in (clean, hostile):
        ms = [v for values in t.tally.good_ms.values() for v in values]
        parts.append(f"{t.name} {len(ms)} good ok, p99 {_percentile(ms, 99):.0f} ms")
    return "; ".join(parts)


def summarise(
    runs: dict[str, dict[str, Any]],
    load_before: tuple[float, float, float],
    load_after: tuple[float, float, float],
) -> dict[str, Any]:
    report: dict[str, Any] = {}
    for name, run_ in runs.items():
        tally: Tally = run_["tally"]
        good = {}
        for kind, codes in tally.good_codes.items():
            ms = tally.good_ms.get(kind, [])
            refused = sum(codes[c.name] for c in REFUSED_GOOD)
            accepted = sum(codes.values()) - refused
            good[kind] = {
                "accepted": accepted,
                "refused": refused,
                "accepted_failed": accepted - codes["OK"],
                "statuses": dict(codes),
                "p50_ms": statistics.median(ms) if ms else float("nan"),
                "p99_ms": _percentile(ms, 99),
            }
        hostile = {
            kind: {
                "accepted": codes["OK"],
                "refused": sum(codes.values()) - codes["OK"],
                "statuses": dict(codes),
            }
            for kind, codes in tally.hostile_codes.items()
        }
        report[name] = {
            "good_calls": good,
            "hostile_calls": hostile,
            "every_accepted_good_call_succeeded": all(
                g["accepted_failed"] == 0 for g in good.values()
            ),
            "points_count": run_["points"],
            "expected_points_count": run_["expected_points"],
            "points_count_exact": run_["points"] == run_["expected_points"],
            "peak_rss_mib": run_["rss"],
        }
    ratios = {
        kind: report["hostile"]["good_calls"][kind]["p99_ms"]
        / report["clean"]["good_calls"][kind]["p99_ms"]
        for kind in report["clean"]["good_calls"]
        if kind in report["hostile"]["good_calls"]
    }
    return {
        "runs": report,
        "p99_ratio_hostile_to_clean": ratios,
        "targets": {
            f"good p99 within {P99_TARGET:g}x of the clean run ({kind})": ratio <= P99_TARGET
            for kind, ratio in ratios.items()
        }
        | {
            f"every accepted good call succeeded ({name})": r["every_accepted_good_call_succeeded"]
            for name, r in report.items()
        }
        | {f"point count exact ({name})": r["points_count_exact"] for name, r in report.items()},
        "settings": {
            "soak_seconds_per_run": SOAK_SECONDS,
            "rounds": ROUNDS,
            "good_workers": GOOD_WORKERS,
            "hostile_workers": HOSTILE_WORKERS,
            "mix": dict(MIX),
            "hostile_kinds": list(HOSTILE),
            "documents": [path.name for path in DOCUMENTS],
        },
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

    runs = results["runs"]
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.4))
    kinds = list(runs["clean"]["good_calls"])
    width = 0.2
    for offset, (name, stat, color) in enumerate(
        (
            ("clean", "p50_ms", "#9ab8d8"),
            ("clean", "p99_ms", "#2a6fb0"),
            ("hostile", "p50_ms", "#e3a19a"),
            ("hostile", "p99_ms", "#b0392a"),
        )
    ):
        values = [runs[name]["good_calls"].get(k, {}).get(stat, float("nan")) for k in kinds]
        xs = [x + (offset - 1.5) * width for x in range(len(kinds))]
        left.bar(xs, values, width, color=color, label=f"{name} {stat[:3]}")
    left.set_xticks(range(len(kinds)), kinds)
    left.set_yscale("log")
    left.set_ylabel("ms (log)")
    left.set_title("Good calls, clean vs with hostile share")
    left.legend(fontsize=8)
    services = list(runs["clean"]["peak_rss_mib"])
    for offset, (name, color) in enumerate((("clean", "#2a6fb0"), ("hostile", "#b0392a"))):
        values = [runs[name]["peak_rss_mib"][s] for s in services]
        xs = [x + (offset - 0.5) * 0.35 for x in range(len(services))]
        right.bar(xs, values, 0.35, color=color, label=name)
    right.set_xticks(range(len(services)), services)
    right.set_ylabel("peak RSS, MiB")
    right.set_title("Peak RSS per service")
    right.legend(fontsize=8)
    where = results["machine"]
    figure.suptitle(
        f"{where['node']} ({where['cpu']}, {where['cpus']} CPUs), load "
        f"{where['load_average_before'][0]:.1f}->{where['load_average_after'][0]:.1f}, "
        f"{results['settings']['soak_seconds_per_run']:.0f} s per run, "
        f"commit {results['commit'][:12]}",
        fontsize=9,
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-soak-") as folder:
        results = run_program(run(Path(folder)))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "soak.json").write_text(json.dumps(results, indent=2) + "\n")
    plot(results, RESULTS / "soak.png")
    print(json.dumps({k: results[k] for k in ("p99_ratio_hostile_to_clean", "targets")}, indent=2))


if __name__ == "__main__":
    main()
