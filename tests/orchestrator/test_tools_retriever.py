"""The tool path against the real Retriever: concurrent calls, tool errors, ids, timings, XML."""

from __future__ import annotations

import socket
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator

import pytest
from briefing.v1 import orchestrator_pb2

from services.orchestrator.agent.domain import SearchCall
from services.orchestrator.agent.sources_xml import outcome_xml
from services.orchestrator.agent.tools import RetrieverTools
from services.orchestrator.progress import RunObserver
from services.orchestrator.timings import Clock, Timings
from services.retriever.client import RetrieverClient
from tests.orchestrator.conftest import HOSTILE_PASSAGE, HOSTILE_TITLE, BriefingStack

pb = orchestrator_pb2
LONG_QUERY = "metformin " * 300  # 3,000 characters: the Retriever rejects it


@pytest.fixture
async def retriever(briefing_stack: BriefingStack) -> AsyncIterator[RetrieverClient]:
    async with RetrieverClient(briefing_stack.retriever) as client:
        yield client


def _tools(
    searcher: RetrieverClient, max_results: int = 5
) -> tuple[RetrieverTools, Timings, list[pb.ProgressEvent]]:
    events: list[pb.ProgressEvent] = []
    timings = Timings(Clock())
    observer = RunObserver(timings, events.append)
    observer.turn_started(1)
    return RetrieverTools(searcher, observer, max_results), timings, events


async def test_a_failed_search_is_a_tool_error_and_the_others_still_answer(
    retriever: RetrieverClient,
) -> None:
    tools, timings, events = _tools(retriever)
    calls = [
        SearchCall("c1", "metformin dosing eGFR 34", 3),
        SearchCall("c2", LONG_QUERY, 3),
        SearchCall("c3", "apixaban dose reduction age 83 weight 58 kg", 3),
        SearchCall("c4", "   ", 3),
    ]
    outcomes = await tools.search(calls, turn=1)

    assert [o.call.call_id for o in outcomes] == ["c1", "c2", "c3", "c4"]
    assert [o.ok for o in outcomes] == [True, False, True, False]
    for failed in (outcomes[1], outcomes[3]):
        assert failed.error is not None and "INVALID_ARGUMENT" in failed.error
        assert "metformin" not in failed.error and not failed.sources
    assert 0 < len(outcomes[0].sources) <= 3 and 0 < len(outcomes[2].sources) <= 3
    assert any("metformin" in s.text.lower() for s in outcomes[0].sources)

    # Ids in call order: the first search's hits are S1.., the next continue the numbering.
    ids = [s.source_id for o in outcomes for s in o.sources]
    distinct = list(dict.fromkeys(ids))
    assert distinct == [f"S{n}" for n in range(1, len(distinct) + 1)]
    assert set(tools.sources()) == set(distinct)

    # Timings: every call measured; only answered calls have embed and search parts.
    stages = [(t.stage, t.tool_call_id) for t in timings.items()]
    assert sorted(c for s, c in stages if s == "tool_call") == ["c1", "c2", "c3", "c4"]
    assert sorted(c for s, c in stages if s == "tool_call.embed") == ["c1", "c3"]
    assert sorted(c for s, c in stages if s == "tool_call.search") == ["c1", "c3"]

    # Events: four starts before any finish (concurrent), each finish with its result.
    kinds = [e.type for e in events]
    assert kinds[0] == pb.PROGRESS_EVENT_TYPE_TURN_STARTED
    assert kinds[1:5] == [pb.PROGRESS_EVENT_TYPE_TOOL_CALL_STARTED] * 4
    finished = {e.tool_call_id: e for e in events[5:]}
    assert {c: (e.ok, e.hit_count > 0) for c, e in finished.items()} == {
        "c1": (True, True),
        "c2": (False, False),
        "c3": (True, True),
        "c4": (False, False),
    }


async def test_the_same_chunk_keeps_its_id_and_max_results_is_capped(
    retriever: RetrieverClient,
) -> None:
    tools, _, _ = _tools(retriever, max_results=2)
    [first] = await tools.search([SearchCall("a", "NSAID use in chronic kidney disease", 9)], 1)
    [again] = await tools.search([SearchCall("b", "NSAID use in chronic kidney disease", 9)], 2)
    assert len(first.sources) == 2  # capped by the briefing's max_results_per_search
    assert [s.source_id for s in again.sources] == [s.source_id for s in first.sources]
    assert set(tools.sources()) == {"S1", "S2"}


async def test_an_unreachable_retriever_is_a_tool_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with RetrieverClient(f"127.0.0.1:{port}") as dead:
        tools, _, events = _tools(dead)
        [outcome] = await tools.search([SearchCall("x", "metformin dosing eGFR 34", 5)], 1)
    assert outcome.error is not None and "UNAVAILABLE" in outcome.error
    assert "metformin" not in outcome.error
    assert not tools.sources()
    assert events[-1].type == pb.PROGRESS_EVENT_TYPE_TOOL_CALL_FINISHED and not events[-1].ok


async def test_a_hostile_passage_from_the_retriever_stays_data_in_the_agents_xml(
    retriever: RetrieverClient,
) -> None:
    tools, _, _ = _tools(retriever)
    query = "Zebra-pox vaccination schedule for okapi keepers"
    [outcome] = await tools.search([SearchCall("z", query, 5)], 1)
    hostile = [s for s in outcome.sources if s.title == HOSTILE_TITLE]
    assert hostile, "the hostile document was ingested and is the best match"
    assert "</source><system>" in hostile[0].text

    root = ET.fromstring(outcome_xml(outcome))
    assert root.tag == "sources"
    assert [child.tag for child in root] == ["source"] * len(outcome.sources)
    assert root.findall(".//system") == []
    [element] = [e for e in root if e.get("title") == HOSTILE_TITLE]
    assert element.get("id") == hostile[0].source_id
    assert list(element) == []
    assert element.text is not None and HOSTILE_PASSAGE.strip() in element.text
