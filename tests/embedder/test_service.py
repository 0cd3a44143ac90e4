"""The Embedder with the real local model, through gRPC: vectors, batching, cache, errors."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import numpy as np
import pytest
from briefing.v1 import embedder_pb2, embedder_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.common.channels import create_channel
from services.common.errors import InvalidArgument
from services.embedder.client import SERVICE_NAME, EmbedderClient
from services.launcher import ServiceProcess
from tests.embedder.texts import passage

if TYPE_CHECKING:
    Stub = embedder_pb2_grpc.EmbedderAsyncStub
QUERY = embedder_pb2.INPUT_TYPE_QUERY
DOCUMENT = embedder_pb2.INPUT_TYPE_DOCUMENT
GRPCURL = Path(sys.executable).parent / "grpcurl"


def _vectors(response: embedder_pb2.EmbedResponse) -> np.ndarray:
    return np.array([list(e.values) for e in response.embeddings], dtype=np.float64)


async def _embed_error(
    stub: Stub, texts: list[str], input_type: int = DOCUMENT, truncate: bool = False
) -> grpc.aio.AioRpcError:
    request = embedder_pb2.EmbedRequest(texts=texts, input_type=input_type, truncate=truncate)  # type: ignore[arg-type]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Embed(request)
    return caught.value


async def test_vectors_are_unit_length_and_described(stub: Stub) -> None:
    response = await stub.Embed(
        embedder_pb2.EmbedRequest(
            texts=["the heart and the lungs", passage(1)], input_type=DOCUMENT
        )
    )
    vectors = _vectors(response)
    assert vectors.shape == (2, 384)
    assert response.dimension == 384
    assert response.model == "all-MiniLM-L6-v2"
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    counts = [e.token_count for e in response.embeddings]
    assert counts[0] == 7  # [CLS] the heart and the lungs [SEP]
    assert 120 < counts[1] < 256
    assert response.total_token_count == sum(counts)
    assert not any(e.truncated for e in response.embeddings)


async def test_a_text_alone_equals_the_same_text_in_a_batch(stub: Stub) -> None:
    target = passage(7, sentences=3)
    batch = [passage(100 + i, sentences=1 + i % 9) for i in range(20)]
    batch.insert(11, target)
    alone = await stub.Embed(embedder_pb2.EmbedRequest(texts=[target], input_type=DOCUMENT))
    together = await stub.Embed(embedder_pb2.EmbedRequest(texts=batch, input_type=DOCUMENT))
    np.testing.assert_allclose(_vectors(alone)[0], _vectors(together)[11], atol=1e-5)


async def test_related_texts_are_closer_than_unrelated(client: EmbedderClient) -> None:
    [query] = await client.embed(["metformin in kidney disease"], "query")
    metformin, asthma = await client.embed(
        [
            "Metformin is contraindicated when eGFR is below 30 mL/min/1.73 m2 and its dose "
            "should be reduced when eGFR falls between 30 and 45.",
            "Inhaled corticosteroids are the cornerstone of asthma control; a short-acting "
            "bronchodilator relieves acute wheeze.",
        ],
        "document",
    )
    assert float(np.dot(query, metformin)) > float(np.dot(query, asthma)) + 0.2


async def test_concurrent_calls_share_model_batches(stub: Stub, client: EmbedderClient) -> None:
    before = (await client.model_info()).model_batches
    texts = [passage(1000 + i, sentences=2) for i in range(64)]
    responses = await asyncio.gather(
        *(stub.Embed(embedder_pb2.EmbedRequest(texts=[t], input_type=DOCUMENT)) for t in texts)
    )
    batches = (await client.model_info()).model_batches - before
    assert all(len(r.embeddings) == 1 for r in responses)
    assert 1 <= batches <= 8, f"64 concurrent calls took {batches} model batches"
    # Coalesced or not, each caller gets its own text's vector.
    solo = await stub.Embed(embedder_pb2.EmbedRequest(texts=[texts[37]], input_type=DOCUMENT))
    np.testing.assert_allclose(_vectors(solo)[0], _vectors(responses[37])[0], atol=1e-5)


async def test_a_repeated_query_hits_the_cache(client: EmbedderClient) -> None:
    text = f"insulin titration in elderly patients {uuid.uuid4().hex[:8]}"
    before = (await client.model_info()).cache
    first = await client.embed([text], "query")
    middle = (await client.model_info()).cache
    second = await client.embed([text], "query")
    after = (await client.model_info()).cache
    assert (middle.hits, middle.misses) == (before.hits, before.misses + 1)
    assert (after.hits, after.misses) == (middle.hits + 1, middle.misses)
    assert first == second
    assert after.capacity == 4096
    assert after.size >= 1


async def test_documents_do_not_use_the_cache(client: EmbedderClient) -> None:
    before = (await client.model_info()).cache
    await client.embed(["a document about sick day rules"] * 2, "document")
    after = (await client.model_info()).cache
    assert (after.hits, after.misses) == (before.hits, before.misses)


async def test_empty_list_is_invalid(stub: Stub) -> None:
    error = await _embed_error(stub, [])
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "texts is empty" in str(error.details())


async def test_blank_text_is_invalid_and_named(stub: Stub) -> None:
    error = await _embed_error(stub, ["fine", " \n\t ", "also fine"])
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "texts[1] is empty or only whitespace" in str(error.details())


async def test_too_many_texts_is_invalid(stub: Stub) -> None:
    error = await _embed_error(stub, ["x"] * 257)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "257 items" in str(error.details())
    assert "256" in str(error.details())


@pytest.mark.parametrize(("input_type", "named"), [(0, "INPUT_TYPE_UNSPECIFIED"), (7, "7")])
async def test_missing_or_unknown_input_type_is_invalid(
    stub: Stub, input_type: int, named: str
) -> None:
    error = await _embed_error(stub, ["metformin"], input_type=input_type)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"input_type is {'unknown value ' if input_type else ''}{named}" in str(error.details())


async def test_a_text_over_the_window_is_invalid_unless_truncated(stub: Stub) -> None:
    long_text = passage(5, sentences=20)
    error = await _embed_error(stub, ["short", long_text])
    details = str(error.details())
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "texts[1] has" in details
    assert "over the model's limit of 256" in details
    assert long_text[:20] not in details  # names the text, never quotes it
    response = await stub.Embed(
        embedder_pb2.EmbedRequest(texts=["short", long_text], input_type=DOCUMENT, truncate=True)
    )
    cut = response.embeddings[1]
    assert cut.truncated and cut.token_count > 256
    assert f"has {cut.token_count} tokens" in details


async def test_a_cached_cut_query_still_needs_truncate(stub: Stub) -> None:
    long_query = f"{uuid.uuid4().hex} " + passage(6, sentences=20)
    cut = await stub.Embed(
        embedder_pb2.EmbedRequest(texts=[long_query], input_type=QUERY, truncate=True)
    )
    assert cut.embeddings[0].truncated
    error = await _embed_error(stub, [long_query], input_type=QUERY)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"texts[0] has {cut.embeddings[0].token_count} tokens" in str(error.details())


async def test_client_translates_errors(client: EmbedderClient) -> None:
    with pytest.raises(
        InvalidArgument, match=r"embedder at \S+ failed \(INVALID_ARGUMENT\): texts\[0\]"
    ):
        await client.embed([""], "query")


async def test_health_reports_serving(embedder: ServiceProcess) -> None:
    channel = create_channel(embedder.address, "grpc.health.v1.Health", {})
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", SERVICE_NAME):
        reply = await health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    await channel.close(None)


async def test_health_watch_streams_the_status(embedder: ServiceProcess) -> None:
    channel = create_channel(embedder.address, "grpc.health.v1.Health", {})
    watch = health_pb2_grpc.HealthStub(channel).Watch(
        health_pb2.HealthCheckRequest(service=SERVICE_NAME), timeout=10
    )
    first = await watch.read()
    watch.cancel()
    await channel.close(None)
    assert first.status == health_pb2.HealthCheckResponse.SERVING


async def _grpcurl(*args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        str(GRPCURL),
        "-plaintext",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, err.decode()
    return out.decode()


async def test_grpcurl_lists_describes_and_calls(embedder: ServiceProcess) -> None:
    listed = (await _grpcurl(embedder.address, "list")).split()
    assert {"briefing.v1.Embedder", "grpc.health.v1.Health"} <= set(listed)
    described = await _grpcurl(embedder.address, "describe", "briefing.v1.Embedder")
    assert "rpc Embed ( .briefing.v1.EmbedRequest ) returns ( .briefing.v1.EmbedResponse )" in (
        described
    )
    request = {"texts": ["metformin in kidney disease"], "input_type": "INPUT_TYPE_QUERY"}
    answer = json.loads(
        await _grpcurl("-d", json.dumps(request), embedder.address, "briefing.v1.Embedder/Embed")
    )
    assert answer["dimension"] == 384
    assert len(answer["embeddings"][0]["values"]) == 384
