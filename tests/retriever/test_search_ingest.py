"""Search and Ingest through a running Embedder and Retriever (Qdrant in a temporary folder)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest
from briefing.v1 import common_pb2, retriever_pb2

from services.common.errors import InvalidArgument, ServiceError
from services.retriever.client import RetrieverClient
from services.retriever.ingest.chunking import Chunker
from services.retriever.ingest.prepare import content_hash
from services.retriever.lexical import ANALYZER
from services.retriever.store.base import chunk_id
from tests.retriever.conftest import copy_guidelines, ingest_files

CORPUS = (
    "kdigo-2022-diabetes-in-ckd.md",
    "kdigo-2024-hyperkalemia-raasi.md",
    "ada-2025-glycemic-targets.md",
    "aha-acc-hfsa-2022-hf-gdmt.md",
    "kdigo-2024-ckd-anemia-mineral.html",
    "aha-2021-chest-pain-cad-secondary-prevention.pdf",
)


@pytest.fixture(scope="module")
async def corpus(
    client: RetrieverClient,
    chunker: Chunker,
    executor: ThreadPoolExecutor,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[list[Path], retriever_pb2.IngestResponse]:
    """The test corpus, ingested once for the module."""
    paths = copy_guidelines(tmp_path_factory.mktemp("corpus"), CORPUS)
    ingested = await ingest_files(client, paths, chunker, executor)
    assert not ingested.failed
    return paths, ingested.response


@pytest.mark.parametrize(
    ("query", "document_id", "section"),
    [
        (
            "metformin dose when eGFR falls",
            "kdigo-2022-diabetes-in-ckd",
            "Metformin dose adjustment when eGFR falls",
        ),
        (
            "potassium is 6.2 on a RAAS inhibitor, what now?",
            "kdigo-2024-hyperkalemia-raasi",
            "Potassium 6.0 mmol/L or higher",
        ),
        (
            "HbA1c goal for a healthy older adult",
            "ada-2025-glycemic-targets",
            "Healthy older adults",
        ),
        (
            "hemoglobin target when treating CKD anemia with an ESA",
            "kdigo-2024-ckd-anemia-mineral",
            "Hemoglobin target and safety",
        ),
        (
            "aspirin for a patient with chronic coronary disease",
            "aha-2021-chest-pain-cad-secondary-prevention",
            "Antiplatelet therapy in chronic coronary disease",
        ),
    ],
)
async def test_known_queries_find_their_section_in_the_top_5(
    corpus: object, client: RetrieverClient, query: str, document_id: str, section: str
) -> None:
    # Top 5, not 3: the potassium question's 6.2 sits in a range ("6.0 or higher") that neither
    # words nor meaning place above its neighbouring ranges ("above 5.5 to <6.0"); `make eval`
    # measures the ranking itself.
    response = await client.search(query, limit=5)
    found = [(hit.source.document_id, hit.source.section_path[-1]) for hit in response.hits]
    assert (document_id, section) in found, found
    assert response.embed_ms > 0
    assert response.search_ms > 0


async def test_each_mode_runs_when_asked_and_hybrid_is_the_default(
    corpus: object, client: RetrieverClient
) -> None:
    query = "ivabradine for a resting heart rate of 70 or more"
    default = await client.search(query, limit=5)
    assert default.mode == retriever_pb2.SEARCH_MODE_HYBRID
    ran = {}
    for mode in (
        retriever_pb2.SEARCH_MODE_DENSE,
        retriever_pb2.SEARCH_MODE_SPARSE,
        retriever_pb2.SEARCH_MODE_HYBRID,
    ):
        response = await client.search(query, limit=5, mode=mode)
        assert response.mode == mode
        ran[mode] = [hit.chunk_id for hit in response.hits]
        # A drug named once in the corpus is matched by its exact name.
        if mode != retriever_pb2.SEARCH_MODE_DENSE:
            assert "Ivabradine" in response.hits[0].text
    assert ran[retriever_pb2.SEARCH_MODE_HYBRID] == [hit.chunk_id for hit in default.hits]
    assert ran[retriever_pb2.SEARCH_MODE_DENSE] != ran[retriever_pb2.SEARCH_MODE_SPARSE]
    # Sparse search embeds nothing; with a threshold and no mode, dense runs.
    sparse = await client.search(query, mode=retriever_pb2.SEARCH_MODE_SPARSE)
    assert sparse.embed_ms < 1.0
    thresholded = await client.search(query, score_threshold=0.1)
    assert thresholded.mode == retriever_pb2.SEARCH_MODE_DENSE


async def test_brand_names_reach_the_generic_through_the_synonym_file(
    corpus: object, client: RetrieverClient
) -> None:
    query = "Lokelma to keep a RAAS inhibitor going"
    sparse = await client.search(query, limit=3, mode=retriever_pb2.SEARCH_MODE_SPARSE)
    expansions = [(e.matched, list(e.added)) for e in sparse.expansions]
    assert ("Lokelma", ["sodium zirconium cyclosilicate"]) in expansions
    sections = [hit.source.section_path[-1] for hit in sparse.hits]
    assert "Sodium zirconium cyclosilicate (SZC)" in sections
    hybrid = await client.search(query, limit=3)
    assert "Lokelma" in [e.matched for e in hybrid.expansions]
    # Dense search embeds the query as written: no synonyms.
    dense = await client.search(query, limit=3, mode=retriever_pb2.SEARCH_MODE_DENSE)
    assert list(dense.expansions) == []


async def test_concurrent_searches_each_get_their_own_hits(
    corpus: object, client: RetrieverClient
) -> None:
    """Gathered searches share Embed calls; each must still get the hits of its own query."""
    queries = [
        "metformin dose when eGFR falls",
        "hemoglobin target when treating CKD anemia with an ESA",
        "aspirin for a patient with chronic coronary disease",
        "metformin dose when eGFR falls",
        "blood pressure target for adults with hypertension",
    ]
    alone = [await client.search(query, limit=3) for query in queries]
    together = await asyncio.gather(*(client.search(query, limit=3) for query in queries))
    for single, gathered in zip(alone, together, strict=True):
        # The same hits with the same scores (hits of equal fused score may come in any order).
        assert {h.chunk_id for h in gathered.hits} == {h.chunk_id for h in single.hits}
        assert sorted(h.score for h in gathered.hits) == pytest.approx(
            sorted(h.score for h in single.hits)
        )


async def test_hits_carry_text_and_full_source(
    corpus: tuple[list[Path], retriever_pb2.IngestResponse],
    client: RetrieverClient,
    chunker: Chunker,
) -> None:
    paths, _ = corpus
    response = await client.search("metformin dose when eGFR falls", limit=5)
    assert len(response.hits) == 5
    scores = [hit.score for hit in response.hits]
    assert scores == sorted(scores, reverse=True)
    hit = next(h for h in response.hits if h.source.document_id == "kdigo-2022-diabetes-in-ckd")
    source = hit.source
    assert source.title == "Diabetes Management in Chronic Kidney Disease"
    assert source.section_path[0] == source.title
    assert source.issuer == "Kidney Disease Improving Global Outcomes (KDIGO)"
    assert source.year == 2022
    assert source.url == "https://kdigo.org/guidelines/diabetes-ckd/"
    assert list(source.topics) == ["diabetes", "ckd", "drug-kidney", "hyperkalemia"]
    assert source.guideline.startswith("KDIGO 2022")
    # The passage is the clean text; the heading line it was embedded under is not part of it.
    assert not hit.text.startswith(source.title)
    assert len(hit.text.split()) >= 5
    path = next(p for p in paths if p.stem == source.document_id)
    version = content_hash(path, chunker)
    assert hit.chunk_id == chunk_id(source.document_id, source.chunk_index, version)


async def test_filters_restrict_hits(corpus: object, client: RetrieverClient) -> None:
    query = "dose adjustment in kidney disease"
    by_document = await client.search(query, limit=10, document_ids=["ada-2025-glycemic-targets"])
    assert by_document.hits
    assert {h.source.document_id for h in by_document.hits} == {"ada-2025-glycemic-targets"}

    by_issuer = await client.search(
        query, limit=20, issuers=["Kidney Disease Improving Global Outcomes (KDIGO)"]
    )
    assert {h.source.document_id for h in by_issuer.hits} == {
        "kdigo-2022-diabetes-in-ckd",
        "kdigo-2024-hyperkalemia-raasi",
        "kdigo-2024-ckd-anemia-mineral",
    }

    by_topic = await client.search(query, limit=20, topics=["heart-failure", "lipids"])
    assert by_topic.hits
    for hit in by_topic.hits:
        assert {"heart-failure", "lipids"} & set(hit.source.topics)

    nothing = await client.search(
        query, document_ids=["kdigo-2022-diabetes-in-ckd"], issuers=["Nobody"]
    )
    assert list(nothing.hits) == []


async def test_score_threshold_drops_weaker_hits(corpus: object, client: RetrieverClient) -> None:
    # A score threshold is a cosine bound: the contract takes it with dense search only.
    dense = retriever_pb2.SEARCH_MODE_DENSE
    query = "metformin dose when eGFR falls"
    everything = await client.search(query, limit=10, mode=dense)
    cut = (everything.hits[0].score + everything.hits[-1].score) / 2
    strong = await client.search(query, limit=10, score_threshold=cut, mode=dense)
    assert 0 < len(strong.hits) < len(everything.hits)
    assert all(hit.score >= cut for hit in strong.hits)


@pytest.mark.parametrize(
    ("request_fields", "message"),
    [
        ({"query": ""}, "empty"),
        ({"query": "   \n"}, "empty"),
        ({"query": "x" * 2001}, "2000"),
        ({"query": "ok", "limit": 51}, "limit"),
        ({"query": "ok", "limit": -1}, "limit"),
        ({"query": "ok", "score_threshold": 1.5}, "score_threshold"),
        ({"query": "ok", "score_threshold": float("nan")}, "score_threshold"),
        ({"query": "ok", "mode": 7}, "SEARCH_MODE_HYBRID"),
        (
            {"query": "ok", "score_threshold": 0.3, "mode": retriever_pb2.SEARCH_MODE_HYBRID},
            "dense search only",
        ),
    ],
)
async def test_bad_search_requests_are_invalid_arguments(
    client: RetrieverClient, request_fields: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidArgument, match=message) as raised:
        await client.search(**request_fields)  # type: ignore[arg-type]
    assert raised.value.code == grpc.StatusCode.INVALID_ARGUMENT


async def test_collection_info_describes_the_store(
    corpus: tuple[list[Path], retriever_pb2.IngestResponse], client: RetrieverClient
) -> None:
    _, response = corpus
    info = await client.collection_info()
    assert info.collection == "clinical_guidelines"
    assert info.dimension == 384
    assert info.distance == "Dot"
    assert info.store.startswith(("edge:", "local:"))  # the embedded engine and its folder
    assert info.points_count >= response.chunks_upserted
    assert info.documents_count >= len(CORPUS)
    assert list(info.search_modes) == [
        retriever_pb2.SEARCH_MODE_DENSE,
        retriever_pb2.SEARCH_MODE_SPARSE,
        retriever_pb2.SEARCH_MODE_HYBRID,
    ]
    assert info.lexical_analyzer == ANALYZER


async def test_reingesting_changes_nothing(
    corpus: tuple[list[Path], retriever_pb2.IngestResponse],
    client: RetrieverClient,
    chunker: Chunker,
    executor: ThreadPoolExecutor,
) -> None:
    paths, first = corpus
    assert first.documents_written == len(CORPUS)
    assert first.chunks_upserted == first.chunks_received > len(CORPUS)
    before = await client.collection_info()
    again = await ingest_files(client, paths, chunker, executor)
    assert again.response.documents_received == len(CORPUS)
    assert again.response.documents_unchanged == len(CORPUS)
    assert again.response.documents_written == 0
    assert again.response.chunks_upserted == 0
    assert again.response.chunks_deleted == 0
    assert (await client.collection_info()).points_count == before.points_count


def _note(sections: int, version: str) -> str:
    parts = ["---\nid: changing-note\ntitle: Changing Note\nissuer: Test\n---\n# Changing Note\n"]
    parts += [
        f"\n## Section {i}\n\nVersion {version} of section {i} about lithium monitoring.\n"
        for i in range(sections)
    ]
    return "".join(parts)


async def _chunks_of(client: RetrieverClient, document_id: str) -> list[retriever_pb2.SearchHit]:
    response = await client.search("lithium monitoring", limit=50, document_ids=[document_id])
    return sorted(response.hits, key=lambda hit: hit.source.chunk_index)


async def test_a_changed_document_leaves_no_stale_chunks(
    corpus: object,
    client: RetrieverClient,
    chunker: Chunker,
    executor: ThreadPoolExecutor,
    tmp_path: Path,
) -> None:
    path = tmp_path / "changing-note.md"
    path.write_text(_note(5, "one"), encoding="utf-8")
    first = await ingest_files(client, [path], chunker, executor)
    assert first.response.chunks_upserted == 5
    start = await client.collection_info()
    assert len(await _chunks_of(client, "changing-note")) == 5

    path.write_text(_note(2, "two"), encoding="utf-8")
    second = await ingest_files(client, [path], chunker, executor)
    assert second.response.documents_written == 1
    assert second.response.chunks_upserted == 2
    # A version's chunk ids carry its content hash: all 5 old chunks go, the 2 new ones are new.
    assert second.response.chunks_deleted == 5
    hits = await _chunks_of(client, "changing-note")
    assert [hit.source.chunk_index for hit in hits] == [0, 1]
    assert all("Version two" in hit.text for hit in hits)
    assert (await client.collection_info()).points_count == start.points_count - 3

    assert await client.delete_document("changing-note") == 2
    assert await client.delete_document("changing-note") == 0
    assert await _chunks_of(client, "changing-note") == []


def _chunk(
    document_id: str, index: int, count: int, text: str = "text"
) -> retriever_pb2.IngestChunk:
    return retriever_pb2.IngestChunk(
        source=common_pb2.Source(document_id=document_id, title="T", chunk_index=index),
        text=text,
        content_hash="h",
        chunk_count=count,
    )


async def _stream(*chunks: retriever_pb2.IngestChunk) -> AsyncIterator[retriever_pb2.IngestChunk]:
    for chunk in chunks:
        yield chunk


@pytest.mark.parametrize(
    ("chunks", "message"),
    [
        ((_chunk("a", 0, 2), _chunk("", 1, 2)), "position 1: source.document_id is required"),
        ((_chunk("a", 0, 1, text="  "),), "position 0: text is required"),
        ((_chunk("a", 0, 2), _chunk("a", 2, 2)), "position 1 .*chunk_index 2, expected 1"),
        ((_chunk("a", 0, 2),), "chunk_count is 2 but 1 chunks arrived"),
        ((_chunk("a", 0, 1), _chunk("b", 0, 1), _chunk("a", 0, 1)), "position 2: .*earlier"),
    ],
)
async def test_bad_chunks_are_invalid_arguments(
    client: RetrieverClient, chunks: tuple[retriever_pb2.IngestChunk, ...], message: str
) -> None:
    with pytest.raises(ServiceError, match=message) as raised:
        await client.ingest(_stream(*chunks))
    assert raised.value.code == grpc.StatusCode.INVALID_ARGUMENT


async def test_delete_document_needs_an_id(client: RetrieverClient) -> None:
    with pytest.raises(InvalidArgument, match="document_id"):
        await client.delete_document(" ")
