"""Cancellation reaches every hop: once a burst of Briefs has hit its deadline, the Embedder runs
no batch for them.

A stack of its own (real processes on loopback, the offline agent, a small corpus) whose
Embedder keeps no query cache, so that every search of every briefing is work for the model.
100 Briefs go at once with a deadline too short for any briefing under that load. The Embedder's
model batches are counted through its GetModelInfo (a real channel): some ran during the burst
(their searches did reach it), and none starts once every caller has had its answer. Without
deadlines and cancellation passed on, the Retriever's Embed calls went on for up to 30 s after
their callers had gone, and the Embedder ran them.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import grpc
import pytest
from briefing.v1 import orchestrator_pb2, orchestrator_pb2_grpc

from services.embedder.client import EmbedderClient
from services.launcher import ServiceProcess, running_stack
from tests.orchestrator.brief_support import NAMED_ID, PLAIN_ID, RICH_ID
from tests.orchestrator.conftest import (
    BASE_ENV,
    CORPUS,
    GUIDELINES,
    ingest,
    scratch_dir,
    seed,
    stop_embedded_postgres,
)

BRIEFS = 100
DEADLINE_S = 0.5
SETTLE_S = 3.0
PATIENTS = (RICH_ID, PLAIN_ID, NAMED_ID)


@pytest.fixture(scope="module")
async def stack() -> AsyncIterator[dict[str, ServiceProcess]]:
    with scratch_dir("cancel-stack-") as tmp:
        await seed(tmp / "pg")
        env = {
            **BASE_ENV,
            "RETRIEVER_QDRANT_PATH": str(tmp / "qdrant"),
            "PG_DATA_DIR": str(tmp / "pg"),
            "RETRIEVER_INGEST_CONCURRENCY": "1",
            "EMBEDDER_CACHE_SIZE": "0",  # every query is work for the model
        }
        try:
            async with running_stack(env) as services:
                await ingest(services["retriever"].address, [GUIDELINES / n for n in CORPUS[:3]])
                yield services
        finally:
            await stop_embedded_postgres(tmp / "pg")


async def _code(call: object) -> grpc.StatusCode:
    try:
        await call  # type: ignore[misc]
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


async def test_no_batch_runs_for_briefs_that_hit_their_deadline(
    stack: dict[str, ServiceProcess],
) -> None:
    async with (
        grpc.aio.insecure_channel(stack["orchestrator"].address) as channel,
        EmbedderClient(stack["embedder"].address) as embedder,
    ):
        stub = orchestrator_pb2_grpc.OrchestratorStub(channel)
        # One briefing in full first: the model, the channels and the collection are warm.
        warm = await stub.Brief(orchestrator_pb2.BriefRequest(patient_id=RICH_ID), timeout=120)
        assert warm.briefing.guidelines_available
        before = (await embedder.model_info()).model_batches

        codes = Counter(
            await asyncio.gather(
                *(
                    _code(
                        stub.Brief(
                            orchestrator_pb2.BriefRequest(patient_id=PATIENTS[n % 3]),
                            timeout=DEADLINE_S,
                        )
                    )
                    for n in range(BRIEFS)
                )
            )
        )
        at_failure = (await embedder.model_info()).model_batches
        await asyncio.sleep(SETTLE_S)
        after = (await embedder.model_info()).model_batches

    assert set(codes) <= {grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.OK}, codes
    assert codes[grpc.StatusCode.DEADLINE_EXCEEDED] >= 0.9 * BRIEFS, codes
    assert at_failure > before, "no search of the burst reached the Embedder: nothing to drop"
    assert after == at_failure, (
        f"the Embedder ran {after - at_failure} model batches after every caller had failed"
    )
