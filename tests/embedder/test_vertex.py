"""The Vertex backend through the real aiplatform SDK, against a PredictionService stand-in."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import numpy as np
import pytest
from briefing.v1 import embedder_pb2, embedder_pb2_grpc
from google.protobuf import json_format
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services.common.channels import create_channel
from services.common.errors import InvalidArgument, ResourceExhausted
from services.embedder.backends.base import EmbedItem, InputKind
from services.embedder.backends.vertex import MAX_TOKENS_PER_REQUEST, VertexBackend
from services.embedder.batcher import Batcher
from services.embedder.client import METHOD_POLICIES, SERVICE_NAME
from services.embedder.config import EmbedderSettings
from services.launcher import start_service
from tests.support.vertex_standin import VertexStandIn, standin_vector

ENDPOINT = (
    "projects/test-project/locations/europe-west4/publishers/google/models/text-embedding-005"
)


def _settings(standin: VertexStandIn, **overrides: object) -> EmbedderSettings:
    values: dict[str, object] = {
        "backend": "vertex",
        "vertex_project": "test-project",
        "vertex_location": "europe-west4",
        "vertex_endpoint": standin.address,
        "vertex_insecure": True,
        "vertex_retry_initial_s": 0.02,
        **overrides,
    }
    return EmbedderSettings.model_validate(values)


@pytest.fixture
async def backend(vertex_standin: VertexStandIn) -> AsyncIterator[VertexBackend]:
    vertex = VertexBackend(_settings(vertex_standin))
    yield vertex
    await vertex.close()


def _items(texts: list[str], kind: InputKind = InputKind.DOCUMENT) -> list[EmbedItem]:
    return [EmbedItem(text, kind, False, max(1, len(text) // 4)) for text in texts]


def _expected(text: str, task_type: str, dimension: int = 768) -> np.ndarray:
    vector = np.array(standin_vector(text, task_type, dimension))
    unit: np.ndarray = vector / np.linalg.norm(vector)
    return unit


async def test_predict_request_and_response_on_the_wire(
    backend: VertexBackend, vertex_standin: VertexStandIn
) -> None:
    items = [
        EmbedItem("metformin in ckd", InputKind.QUERY, False, 4),
        EmbedItem("Metformin is stopped below eGFR 30.", InputKind.DOCUMENT, False, 9),
    ]
    results = await backend.embed(items)
    [request] = vertex_standin.requests
    assert request.endpoint == ENDPOINT
    assert vertex_standin.instances()[0] == [
        {"content": "metformin in ckd", "task_type": "RETRIEVAL_QUERY"},
        {"content": "Metformin is stopped below eGFR 30.", "task_type": "RETRIEVAL_DOCUMENT"},
    ]
    parameters = json_format.MessageToDict(type(request).pb(request).parameters)
    assert parameters == {"autoTruncate": False, "outputDimensionality": 768.0}
    np.testing.assert_allclose(
        results[0].values, _expected("metformin in ckd", "RETRIEVAL_QUERY"), atol=1e-6
    )
    assert results[1].token_count == 6  # the stand-in's count, not the estimate
    assert not results[1].truncated


async def test_600_texts_take_three_predict_calls_in_order(
    backend: VertexBackend, vertex_standin: VertexStandIn
) -> None:
    texts = [f"guideline sentence number {i}" for i in range(600)]
    results = await backend.embed(_items(texts))
    # Sent concurrently, so they may arrive in any order.
    assert sorted(len(batch) for batch in vertex_standin.instances()) == [100, 250, 250]
    for index in (0, 249, 250, 599):
        np.testing.assert_allclose(
            results[index].values, _expected(texts[index], "RETRIEVAL_DOCUMENT"), atol=1e-6
        )


async def test_requests_stay_within_the_token_limit(
    backend: VertexBackend, vertex_standin: VertexStandIn
) -> None:
    texts = [f"{i} " + "renal dosing " * 300 for i in range(30)]  # ~1,000 tokens each
    results = await backend.embed(_items(texts))
    sizes = [len(batch) for batch in vertex_standin.instances()]
    assert sum(sizes) == 30
    assert len(sizes) >= 2
    for batch in vertex_standin.instances():
        estimated = sum(len(str(instance["content"])) // 4 for instance in batch)
        assert estimated <= MAX_TOKENS_PER_REQUEST
    assert len(results) == 30


async def test_texts_that_may_be_cut_go_in_their_own_request(
    backend: VertexBackend, vertex_standin: VertexStandIn
) -> None:
    items = [
        EmbedItem("keep whole", InputKind.DOCUMENT, False, 3),
        EmbedItem("may be cut", InputKind.DOCUMENT, True, 3),
        EmbedItem("keep whole too", InputKind.DOCUMENT, False, 4),
    ]
    results = await backend.embed(items)
    by_truncate = {
        json_format.MessageToDict(type(r).pb(r).parameters)["autoTruncate"]: instances
        for r, instances in zip(vertex_standin.requests, vertex_standin.instances(), strict=True)
    }
    assert [i["content"] for i in by_truncate[False]] == ["keep whole", "keep whole too"]
    assert [i["content"] for i in by_truncate[True]] == ["may be cut"]
    np.testing.assert_allclose(
        results[1].values, _expected("may be cut", "RETRIEVAL_DOCUMENT"), atol=1e-6
    )


async def test_resource_exhausted_then_unavailable_are_retried(
    backend: VertexBackend, vertex_standin: VertexStandIn
) -> None:
    vertex_standin.failures.extend(
        [grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE]
    )
    results = await backend.embed(_items(["a text"]))
    assert len(vertex_standin.requests) == 3
    assert len(results) == 1


async def test_exhaustion_that_outlasts_the_retries_is_resource_exhausted(
    vertex_standin: VertexStandIn,
) -> None:
    vertex = VertexBackend(_settings(vertex_standin, vertex_retry_deadline_s=0.3))
    vertex_standin.failures.extend([grpc.StatusCode.RESOURCE_EXHAUSTED] * 1000)
    with pytest.raises(ResourceExhausted, match="quota"):
        await vertex.embed(_items(["a text"]))
    await vertex.close()
    assert len(vertex_standin.requests) >= 2


async def test_invalid_argument_is_not_retried(
    backend: VertexBackend, vertex_standin: VertexStandIn
) -> None:
    vertex_standin.failures.append(grpc.StatusCode.INVALID_ARGUMENT)
    with pytest.raises(InvalidArgument, match="Vertex AI rejected"):
        await backend.embed(_items(["a text"]))
    assert len(vertex_standin.requests) == 1


async def test_batcher_coalesces_calls_and_records_a_span_per_batch(
    backend: VertexBackend, vertex_standin: VertexStandIn
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    batcher = Batcher(
        backend.embed,
        max_batch_size=8,
        max_batch_tokens=10_000,
        max_wait_s=0.002,
        max_queued_texts=1000,
        max_item_tokens=2048,
        tracer=tracer,
    )
    batcher.start()
    calls = [[f"call {c} text {t}" for t in range(3)] for c in range(10)]

    async def one_call(texts: list[str]) -> list[np.ndarray]:
        with tracer.start_as_current_span("caller"):
            return [one.values for one in await batcher.submit(_items(texts))]

    answers = await asyncio.gather(*(one_call(texts) for texts in calls))
    await batcher.close()

    for texts, vectors in zip(calls, answers, strict=True):
        for text, vector in zip(texts, vectors, strict=True):
            np.testing.assert_allclose(vector, _expected(text, "RETRIEVAL_DOCUMENT"), atol=1e-6)
    spans = [s for s in exporter.get_finished_spans() if s.name == "embedder.batch"]
    assert len(spans) == batcher.stats.model_batches == len(vertex_standin.requests)
    assert len(spans) < len(calls)
    sizes = [int(str(dict(s.attributes or {})["embedder.batch.size"])) for s in spans]
    assert sum(sizes) == 30
    assert max(sizes) <= 8
    callers = {s.context.span_id for s in exporter.get_finished_spans() if s.name == "caller"}
    linked = {link.context.span_id for s in spans for link in s.links}
    assert linked == callers
    for span in spans:
        attributes = dict(span.attributes or {})
        assert float(str(attributes["embedder.batch.queue_wait_ms.max"])) >= 0
        assert all(not isinstance(value, str) for value in attributes.values())


async def test_a_call_larger_than_a_batch_is_reassembled_in_order(
    backend: VertexBackend, vertex_standin: VertexStandIn
) -> None:
    batcher = Batcher(
        backend.embed,
        max_batch_size=4,
        max_batch_tokens=10_000,
        max_wait_s=0,
        max_queued_texts=100,
        max_item_tokens=2048,
        tracer=trace.NoOpTracer(),
    )
    batcher.start()
    texts = [f"passage {i}" for i in range(10)]
    results = await batcher.submit(_items(texts))
    await batcher.close()
    assert [len(batch) for batch in vertex_standin.instances()] == [4, 4, 2]
    for text, result in zip(texts, results, strict=True):
        np.testing.assert_allclose(result.values, _expected(text, "RETRIEVAL_DOCUMENT"), atol=1e-6)


async def test_the_service_with_the_vertex_backend(vertex_standin: VertexStandIn) -> None:
    service = await start_service(
        "embedder",
        {
            "EMBEDDER_BACKEND": "vertex",
            "EMBEDDER_VERTEX_PROJECT": "test-project",
            "EMBEDDER_VERTEX_LOCATION": "europe-west4",
            "EMBEDDER_VERTEX_ENDPOINT": vertex_standin.address,
            "EMBEDDER_VERTEX_INSECURE": "true",
            "EMBEDDER_VERTEX_RETRY_INITIAL_S": "0.02",
        },
    )
    channel = create_channel(service.address, SERVICE_NAME, METHOD_POLICIES)
    try:
        stub = embedder_pb2_grpc.EmbedderStub(channel)
        info = await stub.GetModelInfo(embedder_pb2.GetModelInfoRequest())
        assert (info.backend, info.model, info.dimension) == ("vertex", "text-embedding-005", 768)
        assert info.max_input_tokens == 2048
        vertex_standin.failures.append(grpc.StatusCode.RESOURCE_EXHAUSTED)
        response = await stub.Embed(
            embedder_pb2.EmbedRequest(
                texts=["insulin and kidney disease", "hypoglycaemia risk"],
                input_type=embedder_pb2.INPUT_TYPE_QUERY,
            )
        )
        assert len(vertex_standin.requests) == 2  # refused once, then answered
        assert [i["task_type"] for i in vertex_standin.instances()[1]] == ["RETRIEVAL_QUERY"] * 2
        np.testing.assert_allclose(
            list(response.embeddings[0].values),
            _expected("insulin and kidney disease", "RETRIEVAL_QUERY"),
            atol=1e-6,
        )
        assert response.embeddings[1].token_count == 2
        assert response.model == "text-embedding-005"
    finally:
        await channel.close(None)
        assert await service.stop() == 0
