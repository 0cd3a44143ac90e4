"""One trace across the three services for one Brief, with no patient value on any span.

The session's services export to the in-test OTLP receiver. The test sends Brief with its own
``traceparent`` (a span id nobody exports), so the trace id is known in advance and the
orchestrator's server span must be the one span whose parent is outside the trace.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from briefing.v1 import orchestrator_pb2

from tests.orchestrator.brief_support import PLAIN, PLAIN_ID, RICH, RICH_ID, patient_values
from tests.orchestrator.conftest import BriefingStack
from tests.support.otlp_receiver import ReceivedSpan

if TYPE_CHECKING:
    from briefing.v1.orchestrator_pb2_grpc import OrchestratorAsyncStub

SERVICES = {"orchestrator", "retriever", "embedder"}
BRIEF_SPAN = "/briefing.v1.Orchestrator/Brief"
TOOL_SPAN = "tool_call search_clinical_guidelines"
GROUNDING_SPAN = "grounding.check"


def _complete(trace_id: str, outside_parent: str) -> object:
    """Ready when the trace holds the Brief server span, as many Retriever Search server spans as
    tool calls, an Embedder Embed server span per query batch of the Retriever plus the grounding
    check's one, and every parent link resolves (the exporters of three processes deliver in
    their own time)."""

    def ready(spans: list[ReceivedSpan]) -> bool:
        mine = [s for s in spans if s.trace_id == trace_id]
        ids = {s.span_id for s in mine}
        tools = sum(s.name == TOOL_SPAN for s in mine)
        searches = sum(s.service == "retriever" and s.name.endswith("/Search") for s in mine)
        batches = sum(s.name == "retriever.embed_queries" for s in mine)
        embeds = sum(s.service == "embedder" and s.name.endswith("/Embed") for s in mine)
        return (
            any(s.name == BRIEF_SPAN for s in mine)
            and tools == searches > 0
            and any(s.name == GROUNDING_SPAN for s in mine)
            and batches + 1 == embeds > 1
            and all(s.parent_span_id in ids or s.parent_span_id == outside_parent for s in mine)
        )

    return ready


async def test_one_brief_is_one_trace_across_the_services(
    briefing_stack: BriefingStack, orchestrator_stub: OrchestratorAsyncStub
) -> None:
    trace_id = secrets.token_hex(16)
    caller_span = secrets.token_hex(8)
    await orchestrator_stub.Brief(
        orchestrator_pb2.BriefRequest(patient_id=RICH_ID),
        timeout=60,
        metadata=(("traceparent", f"00-{trace_id}-{caller_span}-01"),),
    )
    receiver = briefing_stack.receiver
    await receiver.wait_for(_complete(trace_id, caller_span), timeout_s=30)  # type: ignore[arg-type]
    spans = receiver.trace(trace_id)
    by_id = {s.span_id: s for s in spans}

    assert {s.service for s in spans} >= SERVICES
    roots = [s for s in spans if s.parent_span_id not in by_id]
    assert [(r.name, r.service, r.parent_span_id) for r in roots] == [
        (BRIEF_SPAN, "orchestrator", caller_span)
    ]

    def parent(span: ReceivedSpan) -> ReceivedSpan:
        return by_id[span.parent_span_id]

    named = {name: [s for s in spans if s.name == name] for name in {s.name for s in spans}}
    [fetch] = named["patient.fetch"]
    [run] = named["agent.run"]
    [turn] = named["agent.turn"]
    assert parent(fetch).name == BRIEF_SPAN and parent(run).name == BRIEF_SPAN
    assert parent(turn) is run and turn.attributes["agent.turn"] == 1
    # The database query is traced under the fetch.
    assert any(s.parent_span_id == fetch.span_id for s in spans)

    tools = named[TOOL_SPAN]
    assert len(tools) >= 10
    assert all(parent(t) is turn for t in tools)
    assert all(
        t.attributes["tool.ok"] is True and t.attributes["tool.hit_count"] > 0 for t in tools
    )
    assert {t.attributes["tool.search_mode"] for t in tools} == {"hybrid"}  # the default
    # The searches of the turn overlap in time.
    assert max(t.start_ns for t in tools) < min(t.end_ns for t in tools)

    # Each tool call leads to the Retriever, and the Retriever to the Embedder, in this trace.
    retriever_servers = [
        s for s in spans if s.service == "retriever" and s.name.endswith("/Search")
    ]
    assert len(retriever_servers) == len(tools)
    for server in retriever_servers:
        client = parent(server)
        assert client.service == "orchestrator" and parent(client).name == TOOL_SPAN
    # The Retriever embeds concurrent queries together: each embed_queries span sits under one
    # Search and links the others; every Search is covered, and every Embed hangs below one.
    batches = named["retriever.embed_queries"]
    covered = [parent(b).span_id for b in batches] + [i for b in batches for i in b.links]
    assert sorted(covered) == sorted(s.span_id for s in retriever_servers)
    assert sum(b.attributes["queries"] for b in batches) == len(tools)
    embeds = [s for s in spans if s.service == "embedder" and s.name.endswith("/Embed")]

    def below(span: ReceivedSpan, names: set[str]) -> ReceivedSpan:
        while span.name not in names:
            span = parent(span)
        return span

    tops = [below(s, {"retriever.embed_queries", GROUNDING_SPAN}) for s in embeds]
    assert all(top in batches for top in tops if top.name != GROUNDING_SPAN)
    assert 1 <= len(tops) - 1 <= len(batches)

    # The grounding check: after the agent, under the Brief span, one Embed call, counts only.
    [grounding] = named[GROUNDING_SPAN]
    assert parent(grounding).name == BRIEF_SPAN and grounding.start_ns >= run.end_ns
    assert [t.name for t in tops].count(GROUNDING_SPAN) == 1
    assert grounding.attributes["grounding.semantic_checked"] is True
    assert grounding.attributes["grounding.recommendations"] > 0
    counts = {k: v for k, v in grounding.attributes.items() if k.startswith("grounding.flags.")}
    assert set(counts) == {
        "grounding.flags.unsupported_number",
        "grounding.flags.unsupported_drug",
        "grounding.flags.weak_support",
    }
    assert all(isinstance(v, int) and v >= 0 for v in counts.values())


async def test_no_span_carries_a_patient_value(
    briefing_stack: BriefingStack, orchestrator_stub: OrchestratorAsyncStub
) -> None:
    for patient_id in (RICH_ID, PLAIN_ID):
        await orchestrator_stub.Brief(orchestrator_pb2.BriefRequest(patient_id=patient_id))
    receiver = briefing_stack.receiver
    spans = await receiver.wait_for(
        lambda spans: sum(s.name == BRIEF_SPAN for s in spans) >= 2, timeout_s=30
    )
    assert sum(s.name == BRIEF_SPAN for s in spans) >= 2
    forbidden = [*patient_values(RICH), *patient_values(PLAIN), RICH_ID, PLAIN_ID]
    for span in spans:
        texts = span.texts()
        for value in forbidden:
            assert not any(value in text for text in texts), (span.service, span.name)
