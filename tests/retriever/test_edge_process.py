"""The edge store's engine runs in a child process of its own (qdrant-edge holds the GIL while it
computes): the child serves the store's calls, stops with the store, exits with a killed parent,
and a dead or unopenable engine gives errors a person can act on."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from services.common.errors import FailedPrecondition, Unavailable
from services.retriever.store.base import (
    ChunkRecord,
    SearchMode,
    SearchQuery,
    SparseVector,
    StoredChunk,
)
from services.retriever.store.edge import EdgeStore
from tests.retriever.store_engines import open_edge

ROOT = Path(__file__).resolve().parents[2]
COLLECTION_FOLDER = Path("edge") / "clinical_guidelines"


def one_chunk() -> ChunkRecord:
    chunk = StoredChunk(
        document_id="doc",
        chunk_index=0,
        title="Title",
        text="apixaban dosing",
        content_hash="v1",
        chunk_count=1,
    )
    return ChunkRecord(chunk, [1.0, 0.0, 0.0, 0.0], SparseVector((7,), (1.0,)))


def engine_pid(store: EdgeStore) -> int:
    pid = store._engine.pid
    assert pid is not None
    return pid


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not yet reaped, counts as gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


async def gone_within(pid: int, seconds: float) -> bool:
    for _ in range(int(seconds * 20)):
        if not alive(pid):
            return True
        await asyncio.sleep(0.05)
    return not alive(pid)


async def test_a_child_process_serves_the_store_and_stops_with_it(tmp_path: Path) -> None:
    store = open_edge(tmp_path)
    assert isinstance(store, EdgeStore)
    pid = engine_pid(store)
    try:
        assert pid != os.getpid() and alive(pid)
        await store.ensure_collection(4, "a 4-dimensional model", "an analyzer")
        await store.upsert([one_chunk()])
        [hit] = await store.search(SearchQuery(SearchMode.DENSE, 5, vector=[1.0, 0.0, 0.0, 0.0]))
        assert hit.chunk.text == "apixaban dosing"
    finally:
        await store.close()
    assert not alive(pid)


async def test_calls_before_the_collection_exists_name_it(tmp_path: Path) -> None:
    store = open_edge(tmp_path)
    try:
        with pytest.raises(FailedPrecondition, match="clinical_guidelines does not exist yet"):
            await store.upsert([one_chunk()])
    finally:
        await store.close()


async def test_a_killed_engine_makes_calls_unavailable_and_the_store_still_closes(
    tmp_path: Path,
) -> None:
    store = open_edge(tmp_path)
    assert isinstance(store, EdgeStore)
    await store.ensure_collection(4, "a 4-dimensional model", "an analyzer")
    os.kill(engine_pid(store), signal.SIGKILL)
    assert await gone_within(engine_pid(store), 10)
    with pytest.raises(Unavailable, match=r"engine process has stopped.*restart the Retriever"):
        await store.search(SearchQuery(SearchMode.DENSE, 5, vector=[1.0, 0.0, 0.0, 0.0]))
    with pytest.raises(Unavailable):
        await store.is_healthy()
    await asyncio.wait_for(store.close(), 30)
    await open_edge(tmp_path).close()  # the folder was released


async def test_the_engine_exits_when_its_parent_is_killed(tmp_path: Path) -> None:
    opener = (
        "import asyncio, sys\n"
        "from pathlib import Path\n"
        "from tests.retriever.store_engines import open_edge\n"
        "store = open_edge(Path(sys.argv[1]))\n"
        "print(store._engine.pid, flush=True)\n"
        "sys.stdin.read()\n"
    )
    parent = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        opener,
        str(tmp_path),
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert parent.stdout is not None
    child = int((await asyncio.wait_for(parent.stdout.readline(), 60)).decode())
    assert alive(child)
    parent.send_signal(signal.SIGKILL)
    await parent.wait()
    assert await gone_within(child, 10), "the engine outlived its killed parent"
    store = open_edge(tmp_path)  # and the folder opens again
    await store.close()


async def test_a_shard_that_cannot_load_is_refused_with_its_error(tmp_path: Path) -> None:
    store = open_edge(tmp_path)
    await store.ensure_collection(4, "a 4-dimensional model", "an analyzer")
    await store.close()
    (tmp_path / COLLECTION_FOLDER / "edge_config.json").write_text("{not json")
    for _ in range(2):  # the refused store released the folder: the same error again
        with pytest.raises(FailedPrecondition, match=r"cannot open the edge store in .*: \w+"):
            open_edge(tmp_path)


async def test_concurrent_calls_each_get_their_own_answer_even_when_some_are_cancelled(
    tmp_path: Path,
) -> None:
    dimension = 8
    store = open_edge(tmp_path)
    try:
        await store.ensure_collection(dimension, "an 8-dimensional model", "an analyzer")
        records = []
        for index in range(dimension):
            vector = [0.0] * dimension
            vector[index] = 1.0
            chunk = StoredChunk(
                document_id=f"doc-{index}",
                chunk_index=0,
                title="Title",
                text=f"passage {index}",
                content_hash="v1",
                chunk_count=1,
            )
            records.append(ChunkRecord(chunk, vector, SparseVector((index,), (1.0,))))
        await store.upsert(records)

        async def best_text(index: int) -> str:
            vector = [0.0] * dimension
            vector[index % dimension] = 1.0
            hits = await store.search(SearchQuery(SearchMode.DENSE, 1, vector=vector))
            return hits[0].chunk.text

        calls = [asyncio.create_task(best_text(index)) for index in range(60)]
        await asyncio.sleep(0)
        for cancelled in calls[::3]:
            cancelled.cancel()
        answers = await asyncio.gather(*calls, return_exceptions=True)
        for index, answer in enumerate(answers):
            if index % 3 == 0:
                assert isinstance(answer, asyncio.CancelledError)
            else:
                assert answer == f"passage {index % dimension}"
        assert await best_text(5) == "passage 5"  # and the engine still serves
    finally:
        await store.close()
