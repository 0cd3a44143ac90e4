"""Fast reconnects: a Retriever serves again within seconds of its Embedder's return.

A real Retriever process calls a recording Embedder served in this process on a fixed loopback
port. The Embedder goes away for longer than gRPC's default reconnect backoff takes to grow past
ten seconds (1 s, then x1.6 each attempt: after a 30 s outage the next default attempt would
come some 13 s after the return), and comes back on the same port. The bounded backoff of the
shared channel options (services.common.channels.RECONNECT_OPTIONS) must have the Retriever
answering searches within a few seconds. The bound asserted is generous (10 s): it tells the
bounded backoff from the default, and is not a speed target.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from services.common.errors import ServiceError, Unavailable
from services.retriever.client import RetrieverClient
from tests.retriever.conftest import free_port, start_retriever
from tests.support.recording_embedder import RecordingEmbedder, serve_recording_embedder

OUTAGE_S = 30.0
RECOVERY_BOUND_S = 10.0
POLL_S = 0.25


async def _search(client: RetrieverClient) -> ServiceError | None:
    """None when one Search succeeds now, else its error."""
    try:
        # Long enough for both hops' retries (each retries UNAVAILABLE up to four times).
        await client.search("metformin dose when eGFR falls", timeout_s=10.0)
    except ServiceError as exc:
        return exc
    return None


async def test_the_retriever_serves_within_seconds_of_the_embedders_return(
    tmp_path: Path,
) -> None:
    port = free_port()
    servicer = RecordingEmbedder()
    retriever = None
    client = None
    try:
        async with serve_recording_embedder(port, servicer) as (_, address):
            retriever = await start_retriever(tmp_path / "qdrant", address)
            client = RetrieverClient(retriever.address)
            await client.wait_until_serving(30)
            assert await _search(client) is None
        # The Embedder is gone. Callers keep asking (so the channel keeps trying to reconnect
        # and its backoff grows); every search fails with UNAVAILABLE meanwhile.
        outage_end = time.monotonic() + OUTAGE_S
        failures: list[ServiceError | None] = []
        while time.monotonic() < outage_end:
            failures.append(await _search(client))
            await asyncio.sleep(POLL_S)
        assert failures and all(isinstance(error, Unavailable) for error in failures)
        async with serve_recording_embedder(port, servicer):
            back = time.monotonic()
            while (error := await _search(client)) is not None:
                waited_s = time.monotonic() - back
                assert waited_s < RECOVERY_BOUND_S, (
                    f"still failing {waited_s:.1f} s after the Embedder came back: {error}"
                )
                await asyncio.sleep(POLL_S)
    finally:
        if client is not None:
            await client.close()
        if retriever is not None:
            await retriever.stop()
