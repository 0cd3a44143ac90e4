"""Grounding checks on Claude-mode briefings: the real SDK against the Messages API stand-in, the
real tool path, Retriever, Embedder and PostgreSQL.

The scripted model searches for metformin and apixaban dosing, then submits three
recommendations: one that restates the metformin passage it cites (no flag), one that invents a
metformin dose (UNSUPPORTED_NUMBER), and one about empagliflozin citing the apixaban passage
(UNSUPPORTED_DRUG and WEAK_SUPPORT). An orchestrator whose Embedder cannot be reached still
answers, with the lexical flags and a "grounding not checked" note.
"""

from __future__ import annotations

import contextlib
import html
import re
import socket
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import grpc
import pytest
from briefing.v1 import orchestrator_pb2, orchestrator_pb2_grpc

from services.launcher import start_service
from services.orchestrator.config import OrchestratorSettings
from tests.orchestrator.brief_support import RICH_ID
from tests.orchestrator.conftest import BASE_ENV, BriefingStack
from tests.support.anthropic_standin import JSON, MessagesStandIn, Reply, message, search, submit

if TYPE_CHECKING:
    from briefing.v1.orchestrator_pb2_grpc import OrchestratorAsyncStub

pb = orchestrator_pb2
METFORMIN_QUERY = "metformin dose adjustment when eGFR is 30 to 44"
APIXABAN_QUERY = "apixaban dose reduction criteria age weight creatinine"
_SOURCE = re.compile(r'<source id="(S\d+)"[^>]*>(.*?)</source>', re.DOTALL)
_SENTENCE = re.compile(r"[^.;\n]*\bmetformin\b[^.;\n]*\d[^.;\n]*", re.IGNORECASE)
INVENTED = "Reduce metformin to 750 mg per day."
OTHER_DRUG = "Start empagliflozin to slow the decline of kidney function."
THRESHOLD = OrchestratorSettings.model_fields["grounding_min_similarity"].default


def _passages(body: JSON) -> dict[str, str]:
    """Source id -> passage text, from the tool results the request carries."""
    found: dict[str, str] = {}
    for msg in body.get("messages", []):
        content = msg["content"]
        if msg["role"] != "user" or isinstance(content, str):
            continue
        for block in content:
            if block.get("type") == "tool_result" and isinstance(block.get("content"), str):
                found.update((i, html.unescape(t)) for i, t in _SOURCE.findall(block["content"]))
    return found


def _about(passages: dict[str, str], word: str) -> str:
    return next(i for i, text in passages.items() if word in text.lower())


def _conversation(body: JSON) -> Reply:
    forced = body.get("tool_choice", {}).get("type") == "tool"
    passages = _passages(body)
    if not passages and not forced:
        return message(search(METFORMIN_QUERY), search(APIXABAN_QUERY))
    apixaban = _about(passages, "apixaban")
    stating_a_number = [
        (i, found) for i, text in passages.items() if (found := _SENTENCE.search(text))
    ]
    assert stating_a_number, "no metformin passage found states a number"
    metformin, restated = stating_a_number[0]
    return message(
        submit(
            summary="Scripted briefing.",
            alerts=[],
            recommendations=[
                {
                    "text": restated.group(0).strip() + ".",
                    "rationale": "eGFR 34.",
                    "source_ids": [metformin],
                },
                {"text": INVENTED, "rationale": "eGFR 34.", "source_ids": [metformin]},
                {"text": OTHER_DRUG, "rationale": "CKD.", "source_ids": [apixaban]},
            ],
        )
    )


@contextlib.asynccontextmanager
async def _orchestrator(
    briefing_stack: BriefingStack, standin: MessagesStandIn, embedder_addr: str
) -> AsyncIterator[OrchestratorAsyncStub]:
    process = await start_service(
        "orchestrator",
        {
            **BASE_ENV,
            "ANTHROPIC_API_KEY": standin.api_key,
            "ANTHROPIC_BASE_URL": standin.base_url,
            "RETRIEVER_ADDR": briefing_stack.retriever,
            "EMBEDDER_ADDR": embedder_addr,
            # The session's embedded PostgreSQL, already seeded: this process joins it.
            "PG_DATA_DIR": briefing_stack.env["PG_DATA_DIR"],
        },
    )
    try:
        async with grpc.aio.insecure_channel(process.address) as channel:
            yield orchestrator_pb2_grpc.OrchestratorStub(channel)
    finally:
        await process.stop()


@pytest.fixture(scope="module")
async def standin() -> AsyncIterator[MessagesStandIn]:
    async with MessagesStandIn(_conversation) as running:
        yield running


def _flags(rec: orchestrator_pb2.Recommendation) -> dict[int, list[str]]:
    return {f.kind: list(f.unmatched) for f in rec.grounding_flags}


async def test_claude_briefings_are_flagged_where_their_passages_do_not_back_them(
    briefing_stack: BriefingStack, standin: MessagesStandIn
) -> None:
    async with _orchestrator(briefing_stack, standin, briefing_stack.embedder) as stub:
        response = await stub.Brief(pb.BriefRequest(patient_id=RICH_ID), timeout=120)
    briefing = response.briefing
    assert briefing.mode == pb.AGENT_MODE_CLAUDE
    restated, invented, other_drug = briefing.recommendations
    assert other_drug.text == OTHER_DRUG and invented.text == INVENTED

    # Cited correctly: nothing flagged, close to its passage.
    assert _flags(restated) == {}
    assert restated.support_similarity >= THRESHOLD
    # An invented dose: the number, and only it.
    assert _flags(invented) == {pb.GROUNDING_FLAG_KIND_UNSUPPORTED_NUMBER: ["750 mg"]}
    assert invented.support_similarity >= THRESHOLD  # about metformin dosing all the same
    # A passage about another drug: the drug is found nowhere, and the text is far from it.
    assert _flags(other_drug) == {
        pb.GROUNDING_FLAG_KIND_UNSUPPORTED_DRUG: ["empagliflozin"],
        pb.GROUNDING_FLAG_KIND_WEAK_SUPPORT: [],
    }
    [weak] = [f for f in other_drug.grounding_flags if f.HasField("similarity")]
    assert weak.similarity == pytest.approx(other_drug.support_similarity)
    assert other_drug.support_similarity < THRESHOLD
    assert not any(w.startswith("Grounding not checked") for w in briefing.warnings)

    # The stage is timed, once.
    assert [t.stage for t in briefing.timings].count("grounding") == 1


async def test_without_the_embedder_the_briefing_is_made_with_a_note(
    briefing_stack: BriefingStack, standin: MessagesStandIn
) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{sock.getsockname()[1]}"
    async with _orchestrator(briefing_stack, standin, closed) as stub:
        response = await stub.Brief(pb.BriefRequest(patient_id=RICH_ID), timeout=120)
    briefing = response.briefing
    restated, invented, other_drug = briefing.recommendations
    assert _flags(restated) == {}
    assert _flags(invented) == {pb.GROUNDING_FLAG_KIND_UNSUPPORTED_NUMBER: ["750 mg"]}
    assert _flags(other_drug) == {pb.GROUNDING_FLAG_KIND_UNSUPPORTED_DRUG: ["empagliflozin"]}
    assert not any(r.HasField("support_similarity") for r in briefing.recommendations)
    notes = [w for w in briefing.warnings if w.startswith("Grounding not checked")]
    assert len(notes) == 1 and "UNAVAILABLE" in notes[0]
