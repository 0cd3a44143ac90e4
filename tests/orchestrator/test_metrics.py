"""Every service's Prometheus endpoint, scraped over HTTP before and after a briefing on the real
stack: the values moved where the briefing went, and no label carries patient data.

The stack (conftest.py) runs each service with ``*_METRICS_PORT=0``; each names the port it
bound in its ``metrics_ready`` log line.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING

import grpc
import httpx
import pytest
from briefing.v1 import orchestrator_pb2
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from services.launcher import ServiceProcess
from tests.orchestrator.brief_support import RICH, RICH_ID, patient_values
from tests.orchestrator.conftest import BriefingStack

if TYPE_CHECKING:
    from briefing.v1.orchestrator_pb2_grpc import OrchestratorAsyncStub as Stub

pb = orchestrator_pb2
SERVICES = ("embedder", "retriever", "orchestrator")
UNKNOWN_PATIENT = "metrics-probe-no-such-patient-7f3a"
Scrape = list[Sample]


def metrics_url(service: ServiceProcess) -> str:
    for line in service.log_lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("event") == "metrics_ready":
            assert record["scheme"] == "http"  # loopback, no TLS in this stack
            return f"http://{record['address']}/metrics"
    raise AssertionError(f"{service.name} logged no metrics_ready line")


async def scrape(stack: BriefingStack) -> dict[str, Scrape]:
    async with httpx.AsyncClient(timeout=30) as client:
        responses = await asyncio.gather(
            *(client.get(metrics_url(stack.services[name])) for name in SERVICES)
        )
    scrapes = {}
    for name, response in zip(SERVICES, responses, strict=True):
        assert response.status_code == 200, f"{name}: {response.status_code}"
        assert response.headers["content-type"].startswith("text/plain")
        families = text_string_to_metric_families(response.text)
        scrapes[name] = [sample for family in families for sample in family.samples]
    return scrapes


def value(samples: Scrape, name: str, **labels: str) -> float:
    """The sum of the samples named ``name`` whose labels include ``labels`` (0 when none)."""
    return sum(
        sample.value
        for sample in samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


def moved(before: Scrape, after: Scrape, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def label_values(scrapes: dict[str, Scrape]) -> Iterator[str]:
    for samples in scrapes.values():
        for sample in samples:
            yield from sample.labels.values()


@pytest.fixture(scope="module")
async def around_a_briefing(
    briefing_stack: BriefingStack, orchestrator_stub: Stub
) -> tuple[dict[str, Scrape], dict[str, Scrape], pb.PatientBriefing]:
    before = await scrape(briefing_stack)
    response = await orchestrator_stub.Brief(pb.BriefRequest(patient_id=RICH_ID), timeout=60)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await orchestrator_stub.Brief(pb.BriefRequest(patient_id=UNKNOWN_PATIENT), timeout=60)
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    await asyncio.sleep(0.3)  # a few loop-lag samples (ten a second)
    after = await scrape(briefing_stack)
    return before, after, response.briefing


async def test_rpc_durations_count_each_call_by_method_and_status(
    around_a_briefing: tuple[dict[str, Scrape], dict[str, Scrape], pb.PatientBriefing],
) -> None:
    before, after, briefing = around_a_briefing
    searches = len(briefing.searches)
    assert searches > 0
    count = "rpc_server_call_duration_seconds_count"
    brief = "briefing.v1.Orchestrator/Brief"
    orchestrator = (before["orchestrator"], after["orchestrator"])
    assert moved(*orchestrator, count, rpc_method=brief, rpc_response_status_code="OK") == 1
    assert moved(*orchestrator, count, rpc_method=brief, rpc_response_status_code="NOT_FOUND") == 1
    retriever = (before["retriever"], after["retriever"])
    search = "briefing.v1.Retriever/Search"
    assert moved(*retriever, count, rpc_method=search, rpc_response_status_code="OK") == searches
    embedder = (before["embedder"], after["embedder"])
    embedded = moved(*embedder, count, rpc_method="briefing.v1.Embedder/Embed")
    assert 1 <= embedded <= searches  # the retriever batches the queries of one turn
    # Every call has ended: none in flight (health Watch streams aside).
    for name in SERVICES:
        for sample in after[name]:
            if sample.name == "rpc_server_active_calls" and "Health" not in sample.labels.get(
                "rpc_method", ""
            ):
                assert sample.value == 0, sample
    # The histogram's sum is time: the Brief took more than nothing.
    total = "rpc_server_call_duration_seconds_sum"
    assert moved(*orchestrator, total, rpc_method=brief, rpc_response_status_code="OK") > 0


async def test_the_work_of_each_service_moved(
    around_a_briefing: tuple[dict[str, Scrape], dict[str, Scrape], pb.PatientBriefing],
) -> None:
    before, after, briefing = around_a_briefing
    searches = len(briefing.searches)
    orchestrator = (before["orchestrator"], after["orchestrator"])
    assert moved(*orchestrator, "agent_turns_total", agent_mode="offline") == 1
    tool_calls = moved(*orchestrator, "agent_tool_calls_total", agent_tool_ok="true")
    assert tool_calls == searches
    audit = "/briefing.v1.Orchestrator/Brief"
    for outcome in ("OK", "NOT_FOUND"):
        written = moved(
            *orchestrator,
            "audit_writes_total",
            audit_method=audit,
            audit_outcome=outcome,
            audit_written="true",
        )
        assert written == 1, outcome

    retriever = (before["retriever"], after["retriever"])
    assert moved(*retriever, "retriever_search_duration_seconds_count") == searches
    store = moved(*retriever, "db_client_operation_duration_seconds_count", db_system_name="qdrant")
    assert store == searches
    assert moved(*retriever, "retriever_search_duration_seconds_sum") > 0

    embedder = (before["embedder"], after["embedder"])
    assert moved(*embedder, "embedder_batch_size_count") >= 1
    assert moved(*embedder, "embedder_batch_size_sum") >= 1
    lookups = moved(*embedder, "embedder_cache_lookups_total")
    assert lookups >= 1  # each query text looked up once per Embed call
    assert value(after["embedder"], "embedder_queue_depth") == 0
    ratio = value(after["embedder"], "embedder_cache_hit_ratio")
    hits = value(after["embedder"], "embedder_cache_lookups_total", embedder_cache_result="hit")
    misses = value(after["embedder"], "embedder_cache_lookups_total", embedder_cache_result="miss")
    assert ratio == pytest.approx(hits / (hits + misses))

    for name in SERVICES:
        assert moved(before[name], after[name], "asyncio_event_loop_lag_seconds_count") > 0, name
        # prometheus-client's own process figures come with the endpoint.
        assert value(after[name], "process_cpu_seconds_total") > 0, name


async def test_no_label_carries_patient_data_or_query_text(
    around_a_briefing: tuple[dict[str, Scrape], dict[str, Scrape], pb.PatientBriefing],
) -> None:
    _, after, briefing = around_a_briefing
    forbidden = [
        *patient_values(RICH),
        *(search.query for search in briefing.searches),
        RICH_ID,
        UNKNOWN_PATIENT,
    ]
    values = set(label_values(after))
    assert values, "no labels at all: nothing was checked"
    leaked = sorted({f for f in forbidden for v in values if f and f.lower() in v.lower()})
    assert leaked == []
