"""Runs one labelled set through the engine in every mode, and scores every ranking.

For a set: a Retriever with an empty store of its own is started (with the set's synonym file),
the ingestion CLI fills it, and the harness checks that it holds the chunks the set was judged
against. Each distinct query text is then searched once per mode (one caller, one query at a
time, so that latency is per query), asking for ``CANDIDATES`` hits. A set that has a synonym
file is then searched again in the modes that use synonyms, by a Retriever started without it on
the same store, which measures what the synonyms add. Hybrid search is then run once more by a
Retriever fusing the other way (``COMPARED_FUSION``), on the same store and queries, which
measures the default fusion against it in the same run. Every ranking is scored on its first 10
hits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eval.retrieval.chunks import ChunkKey
from eval.retrieval.engine import MODES, Engine, EvalError, ingest_with_cli, running_engine
from eval.retrieval.metrics import DEPTH, Scores, latency_summary, mean_scores, score
from eval.retrieval.sets import LabelledSet, Query, describe, distinct_texts
from services.launcher import ServiceProcess

CANDIDATES = 50
MISS_HITS_SHOWN = 3
# The modes whose lexical side the synonyms expand, measured again without them.
SYNONYM_MODES = ("sparse", "hybrid")
WITHOUT_SYNONYMS = " (no synonyms)"
# The fusion hybrid search is compared with: reciprocal rank (the Retriever's default is DBSF).
COMPARED_FUSION = "rrf"


@dataclass
class SystemRun:
    """One way of searching (a mode, with or without synonyms) over a set: ranking per query
    text, latencies in milliseconds by what they measure, and how many queries had synonyms."""

    name: str
    rankings: dict[str, tuple[ChunkKey, ...]] = field(default_factory=dict)
    latencies: dict[str, list[float]] = field(default_factory=dict)
    expanded: int = 0

    def record(self, text: str, keys: tuple[ChunkKey, ...], **latencies: float) -> None:
        self.rankings[text] = keys
        for name, value in latencies.items():
            self.latencies.setdefault(name, []).append(value)


async def search_engine(
    engine: Engine, texts: Sequence[str], modes: Sequence[str] = MODES, suffix: str = ""
) -> list[SystemRun]:
    """Every text in every mode, one search at a time, modes interleaved per text."""
    runs = {mode: SystemRun(mode + suffix) for mode in modes}
    for mode in modes:
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
            run.expanded += bool(found.expansions)
    return list(runs.values())


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
    result["queries_with_synonyms"] = run.expanded
    result["misses_at_10"] = misses
    return result


async def evaluate_set(
    labelled: LabelledSet, embedder: ServiceProcess, scratch: Path
) -> dict[str, Any]:
    """Ingests the set through the CLI into a fresh store, searches it in every mode (and, when
    the set has synonyms, again without them), and scores every run."""
    texts = distinct_texts(labelled.queries)
    store = scratch / f"qdrant-{labelled.name}"
    async with running_engine(embedder, store, labelled.synonyms) as engine:
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
        print(f"{labelled.name}: {len(texts)} distinct queries, modes {MODES}", flush=True)
        runs = await search_engine(engine, texts)
    if labelled.synonyms is not None:
        print(f"{labelled.name}: {SYNONYM_MODES} again without synonyms", flush=True)
        async with running_engine(embedder, store, None) as engine:
            runs += await search_engine(engine, texts, SYNONYM_MODES, WITHOUT_SYNONYMS)
    print(f"{labelled.name}: hybrid again, fused by {COMPARED_FUSION}", flush=True)
    async with running_engine(embedder, store, labelled.synonyms, COMPARED_FUSION) as engine:
        runs += await search_engine(engine, texts, ("hybrid",), f" ({COMPARED_FUSION})")
    return {
        "documents": len({chunk.document_id for chunk in labelled.chunks}),
        "chunks": len(labelled.chunks),
        "questions": len(labelled.queries),
        "distinct_queries": len(texts),
        "synonyms": None if labelled.synonyms is None else labelled.synonyms.name,
        "ingest_summaries": summaries,
        "modes": {run.name: score_run(labelled, run) for run in runs},
    }
