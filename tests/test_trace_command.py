"""`make trace`'s core: one briefing traced across the three services, drawn as one tree in which
the agent's gathered searches overlap."""

from __future__ import annotations

import shutil

from services.tracing.__main__ import render, trace_briefing
from services.tracing.tree import build_tree, gathered_calls, most_at_once
from tests.orchestrator.brief_support import RICH_ID
from tests.orchestrator.conftest import (
    BASE_ENV,
    CORPUS,
    GUIDELINES,
    scratch_dir,
    seed,
    stop_embedded_postgres,
)
from tests.support.otlp_receiver import ReceivedSpan

BRIEF_SPAN = "/briefing.v1.Orchestrator/Brief"
TOOL_SPAN = "tool_call search_clinical_guidelines"


def _span(name: str, start_ms: int, end_ms: int) -> ReceivedSpan:
    return ReceivedSpan(
        service="s",
        trace_id="t",
        span_id=name,
        parent_span_id="",
        name=name,
        kind=0,
        start_ns=start_ms * 1_000_000,
        end_ns=end_ms * 1_000_000,
        attributes={},
    )


def test_most_at_once_counts_overlaps_not_touching_spans() -> None:
    spans = [_span("a", 0, 10), _span("b", 5, 15), _span("c", 6, 7), _span("d", 15, 20)]
    assert most_at_once(spans) == 3
    assert most_at_once([_span("a", 0, 10), _span("b", 10, 20)]) == 1


async def test_trace_command_draws_one_trace_across_the_three_services() -> None:
    with scratch_dir("trace-command-") as tmp:
        corpus = tmp / "corpus"
        corpus.mkdir()
        for name in CORPUS[:3]:
            shutil.copy(GUIDELINES / name, corpus / name)
        await seed(tmp / "pg")
        env = {
            **BASE_ENV,
            "RETRIEVER_QDRANT_PATH": str(tmp / "qdrant"),
            "PG_DATA_DIR": str(tmp / "pg"),
            "RETRIEVER_INGEST_CONCURRENCY": "1",
        }
        try:
            traced = await trace_briefing(RICH_ID, corpus=corpus, env=env)
        finally:
            await stop_embedded_postgres(tmp / "pg")

    spans = traced.spans
    assert traced.briefing.patient_id == RICH_ID
    assert {s.service for s in spans} == {"orchestrator", "retriever", "embedder"}
    assert {s.trace_id for s in spans} == {traced.trace_id}
    # One tree: the orchestrator's server span is the only root, every other span hangs below.
    roots = build_tree(spans)
    assert [(r.span.name, r.span.service) for r in roots] == [(BRIEF_SPAN, "orchestrator")]
    by_id = {s.span_id: s for s in spans}
    for span in spans:
        if span is not roots[0].span:
            assert span.parent_span_id in by_id, span.name
    # The turn's searches were gathered: they ran at once, in less time than one by one.
    [searches] = [g for g in gathered_calls(roots) if g.name == TOOL_SPAN]
    assert searches.parent.name == "agent.turn"
    assert len(searches.spans) >= 5
    assert searches.at_once > 1
    assert searches.wall_ms < searches.summed_ms

    text = render(traced)
    assert traced.trace_id in text
    tool_lines = [line for line in text.splitlines() if TOOL_SPAN in line and "│" in line]
    assert len(tool_lines) == len(searches.spans)
    # Their bars share at least one column of the time axis.
    bars = [line.rsplit("│", 2)[1] for line in tool_lines]
    assert any(sum(bar[i] == "█" for bar in bars) > 1 for i in range(len(bars[0])))
    assert any(line.startswith("embedder") and "Embed" in line for line in text.splitlines())
    assert f"{len(searches.spans)} × {TOOL_SPAN} under agent.turn" in text
