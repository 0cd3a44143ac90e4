"""``python -m services.retriever.migrate_store``: a local-mode store copied into an edge store,
every chunk with its vector and payload, counts checked; then a Retriever serves the copy."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from services.retriever.store.base import ChunkRecord, SparseVector
from tests.retriever.conftest import ROOT
from tests.retriever.store_engines import open_edge, open_local_mode
from tests.retriever.store_writer import DIMENSION, document


async def migrate(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.retriever.migrate_store",
        *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 120)
    return process.returncode or 0, stdout.decode(), stderr.decode()


@pytest.fixture
async def local_folder(tmp_path: Path) -> Path:
    """A local-mode store of 7 documents (35 chunks, varied payloads and vectors)."""
    folder = tmp_path / "local"
    store = open_local_mode(folder)
    await store.ensure_collection(DIMENSION, "the test model", "test-analyzer-v1")
    for number in range(7):
        await store.upsert(
            [
                ChunkRecord(
                    replace(record.chunk, issuer=f"issuer {number % 2}", topics=("a", "b")),
                    [float(number), 1.0, float(record.chunk.chunk_index), 0.5],
                    SparseVector((number, 100 + record.chunk.chunk_index), (0.25, 1.5)),
                )
                for record in document(number)
            ]
        )
    await store.close()
    return folder


async def test_every_chunk_is_copied_with_its_vector_and_payload(
    local_folder: Path, tmp_path: Path
) -> None:
    target = tmp_path / "edge"
    code, stdout, stderr = await migrate(
        "--source", str(local_folder), "--target", str(target), "--batch-size", "10"
    )
    assert code == 0, stderr
    assert "copied 35 chunks of 7 documents (4 dimensions)" in stdout
    assert f"RETRIEVER_QDRANT_PATH={target}" in stdout

    source, copy = open_local_mode(local_folder), open_edge(target)
    try:
        before = {r.chunk.id: r async for batch in source.records(100) for r in batch}
        after = {r.chunk.id: r async for batch in copy.records(100) for r in batch}
        assert sorted(after) == sorted(before)
        for chunk_id, record in before.items():
            assert after[chunk_id].chunk == record.chunk
            assert list(after[chunk_id].vector) == pytest.approx(list(record.vector))
            assert after[chunk_id].lexical == record.lexical
        info = await copy.info()
        assert (info.documents_count, info.lexical_analyzer) == (7, "test-analyzer-v1")
    finally:
        await source.close()
        await copy.close()

    again = await migrate("--source", str(local_folder), "--target", str(target))
    assert again[0] == 0, again[2]
    assert "copied 35 chunks of 7 documents" in again[1]


async def test_a_target_holding_other_chunks_fails_the_count_check(
    local_folder: Path, tmp_path: Path
) -> None:
    target = tmp_path / "edge"
    other = open_edge(target)
    await other.ensure_collection(DIMENSION, "the test model", "test-analyzer-v1")
    await other.upsert(document(99))
    await other.close()
    code, _, stderr = await migrate("--source", str(local_folder), "--target", str(target))
    assert code == 1
    assert "counts differ after the copy: the source has 35 chunks of 7 documents" in stderr
    assert "the target 40 of 8" in stderr


async def test_a_folder_that_is_not_local_mode_is_refused(tmp_path: Path) -> None:
    code, _, stderr = await migrate("--source", str(tmp_path), "--target", str(tmp_path / "e"))
    assert code == 1
    assert f"{tmp_path} is not a Qdrant local-mode folder" in stderr
