"""Runs one labelled set through the engine and the baselines, and scores every ranking.

For a set: a Retriever with an empty store of its own is started, the ingestion CLI fills it,
and the harness checks that it holds the chunks the set was judged against. Each distinct query
text is then searched once per engine mode (one caller, one query at a time, so that latency is
per query), asking for ``CANDIDATES`` hits. The baselines run in this process over the same
chunks: BM25, and the reciprocal-rank fusion (k = 60) of the dense and BM25 rankings. Every
ranking is scored on its first 10 hits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eval.retrieval.bm25 import Bm25Baseline
from eval.retrieval.chunks import ChunkKey
from eval.retrieval.engine import (
    CONTRACT_MODES,
    ENGINE_MODES,
    Engine,
    EvalError,
    ingest_with_cli,
    running_engine,
)
from eval.retrieval.metrics import (
    DEPTH,
    RRF_K,
    Scores,
    latency_summary,
    mean_scores,
    reciprocal_rank_fusion,
    score,
)
from eval.retrieval.sets import LabelledSet, Query, describe, distinct_texts
from services.launcher import ServiceProcess

CANDIDATES = 50
BM25 = "bm25"
FUSED = "dense+bm25 rrf"
MISS_HITS_SHOWN = 3


@dataclass
class SystemRun:
    """One way of searching (an engine mode or a baseline) over a set: ranking per query text,
    and latencies in milliseconds by what they measure."""

    name: str
    source: str
    rankings: dict[str, tuple[ChunkKey, ...]] = field(default_factory=dict)
    latencies: dict[str, list[float]] = field(default_factory=dict)

    def record(self, text: str, keys: tuple[ChunkKey, ...], **latencies: float) -> None:
        self.rankings[text] = keys
        for name, value in latencies.items():
            self.latencies.setdefault(name, []).append(value)


async def search_engine(engine: Engine, texts: Sequence[str]) -> list[SystemRun]:
    """Every text in every contract mode, one search at a time, modes interleaved per text."""
    runs = {mode: SystemRun(mode, "engine") for mode in CONTRACT_MODES}
    for mode in CONTRACT_MODES:
        await engine.search("warm-up query", mode, CANDIDATES)
    for text in texts:
        for mode, run in runs.items():
            found = await engine.search(text, mode, CANDIDATES)
            run.record(
                text,
                found.keys,
                round_trip=found.round_trip_ms,
                embed=found.embed_ms,
                store=found.search_ms,
            )
    return list(runs.values())


def run_baselines(labelled: LabelledSet, texts: Sequence[str], dense: SystemRun) -> list[SystemRun]:
    """BM25 over the set's chunks, and its reciprocal-rank fusion with the dense ranking."""
    bm25 = SystemRun(BM25, "harness: bm25s")
    index = Bm25Baseline(labelled.chunks)
    for text in texts:
        keys, milliseconds = index.search(text, CANDIDATES)
        bm25.record(text, keys, in_process=milliseconds)
    fused = SystemRun(FUSED, f"harness: reciprocal-rank fusion, k={RRF_K}")
    for text in texts:
        ranking = reciprocal_rank_fusion([dense.rankings[text], bm25.rankings[text]], RRF_K)
        fused.record(text, tuple(ranking[:CANDIDATES]))
    return [bm25, fused]


def _groups(query: Query) -> Iterable[str]:
    yield query.kind
    for how in query.how:
        yield f"{query.kind}: {how}"


def score_run(labelled: LabelledSet, run: SystemRun) -> dict[str, Any]:
    """Mean scores, scores by question kind (when the set has several), latency and misses."""
    chunks = {chunk.key: chunk for chunk in labelled.chunks}
    scored: list[tuple[Query, Scores]] = []
    misses = []
    for query in labelled.queries:
        ranking = run.rankings[query.text][:DEPTH]
        unknown = [key for key in ranking if key not in chunks]
        if unknown:
            raise EvalError(f"{run.name} returned chunks the set does not hold: {unknown[:3]}")
        question_scores = score([key in query.relevant for key in ranking], len(query.relevant))
        scored.append((query, question_scores))
        if question_scores.recall_at_10 == 0.0:
            misses.append(
                {
                    "id": query.id,
                    "question": query.text,
                    "expected": list(query.expected),
                    "got": [describe(chunks[key]) for key in ranking[:MISS_HITS_SHOWN]],
                }
            )
    result: dict[str, Any] = {
        "source": run.source,
        "questions": len(scored),
        "scores": mean_scores(s for _, s in scored).as_dict(),
    }
    groups: dict[str, list[Scores]] = {}
    for query, question_scores in scored:
        for group in _groups(query):
            groups.setdefault(group, []).append(question_scores)
    if len({query.kind for query in labelled.queries}) > 1:
        result["by_kind"] = {
            group: {"questions": len(rows), **mean_scores(rows).as_dict()}
            for group, rows in sorted(groups.items())
        }
    result["latency"] = {name: latency_summary(values) for name, values in run.latencies.items()}
    result["misses_at_10"] = misses
    return result


async def evaluate_set(
    labelled: LabelledSet, embedder: ServiceProcess, scratch: Path
) -> dict[str, Any]:
    """Ingests the set through the CLI into a fresh store, searches it, scores every system."""
    texts = distinct_texts(labelled.queries)
    async with running_engine(embedder, scratch / f"qdrant-{labelled.name}") as engine:
        summaries = []
        for path in labelled.paths:
            print(f"{labelled.name}: ingesting {path.name} with the CLI", flush=True)
            summaries.append(await ingest_with_cli([path], engine.process.address))
        stored = await engine.points()
        if stored != len(labelled.chunks):
            raise EvalError(
                f"the Retriever holds {stored} chunks of {labelled.name}, the harness judged "
                f"{len(labelled.chunks)}: the CLI and the harness chunked differently"
            )
        print(f"{labelled.name}: {len(texts)} distinct queries, modes {CONTRACT_MODES}", flush=True)
        engine_runs = await search_engine(engine, texts)
    dense = next(run for run in engine_runs if run.name == "dense")
    baselines = await asyncio.to_thread(run_baselines, labelled, texts, dense)
    return {
        "documents": len({chunk.document_id for chunk in labelled.chunks}),
        "chunks": len(labelled.chunks),
        "questions": len(labelled.queries),
        "distinct_queries": len(texts),
        "ingest_summaries": summaries,
        "not_in_contract": [mode for mode in ENGINE_MODES if mode not in CONTRACT_MODES],
        "modes": {run.name: score_run(labelled, run) for run in [*engine_runs, *baselines]},
    }
