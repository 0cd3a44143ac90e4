"""The harness: scoring of rankings by question kind with their misses, the one place where a
search mode enters a request, and a small set run end to end through the real services."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from briefing.v1 import retriever_pb2

from eval.retrieval.chunks import Chunk
from eval.retrieval.engine import (
    MODES,
    EvalError,
    ingest_with_cli,
    running_embedder,
    search_request,
)
from eval.retrieval.harness import (
    COMPARED_FUSION,
    SYNONYM_MODES,
    WITHOUT_SYNONYMS,
    SystemRun,
    evaluate_set,
    score_run,
)
from eval.retrieval.sets import GUIDELINES, LabelledSet, Query, guidelines_set
from services.launcher import ServiceProcess

CHUNKS = (
    Chunk(("doc-a", 0), ("Doc A", "Dosing"), "apixaban dose"),
    Chunk(("doc-a", 1), ("Doc A", "Dosing"), "more dosing"),
    Chunk(("doc-b", 0), ("Doc B", "Monitoring"), "check potassium"),
)


def _query(
    qid: str, text: str, kind: str, how: tuple[str, ...], *relevant: tuple[str, int]
) -> Query:
    return Query(qid, text, kind, how, (f"{relevant[0][0]}: section",), frozenset(relevant))


SMALL = LabelledSet(
    "small",
    (),
    CHUNKS,
    (
        _query("q001", "apixaban dose?", "plain", (), ("doc-a", 0), ("doc-a", 1)),
        _query("q002", "Eliquis dose?", "paraphrased", ("brand",), ("doc-a", 0), ("doc-a", 1)),
        _query("q003", "K check?", "paraphrased", ("lab-synonym",), ("doc-b", 0)),
    ),
)


def test_scores_by_kind_and_misses() -> None:
    run = SystemRun("dense")
    run.record("apixaban dose?", (("doc-a", 0), ("doc-b", 0), ("doc-a", 1)), round_trip=10.0)
    run.record("Eliquis dose?", (("doc-b", 0), ("doc-a", 1)), round_trip=30.0)
    run.record("K check?", (("doc-a", 0), ("doc-a", 1)), round_trip=20.0)
    result = score_run(SMALL, run)
    # MRR: 1, 1/2, 0 -> 0.5; Recall@1: 1, 0, 0; Recall@5: 1, 1, 0.
    assert result["scores"]["mrr_at_10"] == pytest.approx(0.5)
    assert result["scores"]["recall_at_1"] == pytest.approx(1 / 3)
    assert result["scores"]["recall_at_5"] == pytest.approx(2 / 3)
    by_kind = result["by_kind"]
    assert by_kind["plain"]["questions"] == 1 and by_kind["plain"]["mrr_at_10"] == 1.0
    assert by_kind["paraphrased"]["mrr_at_10"] == pytest.approx(0.25)
    assert by_kind["paraphrased: brand"]["mrr_at_10"] == pytest.approx(0.5)
    assert by_kind["paraphrased: lab-synonym"]["recall_at_10"] == 0.0
    assert result["misses_at_10"] == [
        {
            "id": "q003",
            "question": "K check?",
            "expected": ["doc-b: section"],
            "got": ["doc-a: Dosing", "doc-a: Dosing"],
        }
    ]
    assert result["latency"]["round_trip"]["p50_ms"] == 20.0


def test_a_ranking_with_an_unknown_chunk_is_an_error() -> None:
    run = SystemRun("dense")
    for query in SMALL.queries:
        run.record(query.text, (("doc-z", 0),))
    with pytest.raises(EvalError, match="chunks the set does not hold"):
        score_run(SMALL, run)


def test_each_mode_goes_into_the_request() -> None:
    assert MODES == ("dense", "sparse", "hybrid")
    request = search_request("metformin and eGFR", "dense", 50)
    assert (request.query, request.limit) == ("metformin and eGFR", 50)
    assert request.mode == retriever_pb2.SEARCH_MODE_DENSE
    assert search_request("x", "sparse", 5).mode == retriever_pb2.SEARCH_MODE_SPARSE
    assert search_request("x", "hybrid", 5).mode == retriever_pb2.SEARCH_MODE_HYBRID
    with pytest.raises(ValueError, match="'bm25' is not one of"):
        search_request("metformin and eGFR", "bm25", 50)


@pytest.fixture(scope="module")
async def embedder() -> AsyncIterator[ServiceProcess]:
    async with running_embedder() as process:
        yield process


QUESTIONS = """
- id: q001
  question: "Which dose of dofetilide for a creatinine clearance of 45?"
  kind: plain
  relevant:
    - {document: acc-aha-2023-af-rate-rhythm-control, section: "Antiarrhythmic drug selection"}
- id: q002
  question: "Eliquis dose for an 82-year-old who weighs 58 kg?"
  kind: paraphrased
  how: [brand]
  relevant:
    - {document: ehra-2021-doac-dosing-kidney, section: "Apixaban dosing in AF"}
"""


async def test_a_small_set_through_the_cli_and_search(
    embedder: ServiceProcess, tmp_path: Path
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in ("acc-aha-2023-af-rate-rhythm-control.md", "ehra-2021-doac-dosing-kidney.md"):
        shutil.copy(GUIDELINES / name, corpus / name)
    (corpus / "synonyms.yaml").write_text("brands:\n  Eliquis: apixaban\n", encoding="utf-8")
    questions = tmp_path / "questions.yaml"
    questions.write_text(QUESTIONS, encoding="utf-8")
    labelled = guidelines_set(corpus, questions)

    result = await evaluate_set(labelled, embedder, tmp_path)

    assert result["documents"] == 2 and result["chunks"] == len(labelled.chunks)
    assert result["questions"] == 2
    # The set's synonym file: every mode, then the modes it expands again without it.
    assert result["synonyms"] == "synonyms.yaml"
    # Then hybrid once more, fused the other way, on the same store.
    names = [
        *MODES,
        *(mode + WITHOUT_SYNONYMS for mode in SYNONYM_MODES),
        f"hybrid ({COMPARED_FUSION})",
    ]
    assert list(result["modes"]) == names
    assert "written" in result["ingest_summaries"][0]
    for name, mode in result["modes"].items():
        assert mode["latency"]["round_trip"]["queries"] == 2
        assert mode["latency"]["round_trip"]["p50_ms"] > 0
        # The plain question names the drug and the section's own words: every mode finds it.
        assert mode["by_kind"]["plain"]["recall_at_10"] == 1.0
        # Only the Eliquis question is expanded, and only where the lexical side is.
        expanded = name in {"sparse", "hybrid", f"hybrid ({COMPARED_FUSION})"}
        assert mode["queries_with_synonyms"] == (1 if expanded else 0), name
    assert result["modes"]["sparse"]["latency"]["embed"]["p50_ms"] < 1.0  # nothing embedded


async def test_a_failing_ingestion_is_reported(tmp_path: Path) -> None:
    # The CLI exits with 2 for a path that does not exist, before it contacts the Retriever.
    with pytest.raises(EvalError, match="exited with 2"):
        await ingest_with_cli([tmp_path / "absent"], "127.0.0.1:9")
