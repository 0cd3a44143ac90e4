"""The Retriever's answers when its dependencies or its store do not fit."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from services.common.errors import FailedPrecondition, Unavailable
from services.launcher import LaunchError, ServiceProcess
from services.retriever.client import RetrieverClient
from services.retriever.lexical import ANALYZER
from tests.retriever.conftest import free_port, open_folder_store, start_retriever


async def test_dimension_mismatch_is_a_failed_precondition(
    embedder: ServiceProcess, tmp_path: Path
) -> None:
    store = open_folder_store(tmp_path)
    await store.ensure_collection(8, "an 8-dimensional model", ANALYZER)
    await store.close()
    retriever = await start_retriever(tmp_path, embedder.address)
    try:
        async with RetrieverClient(retriever.address) as client:
            with pytest.raises(FailedPrecondition) as raised:
                await client.search("metformin")
            assert raised.value.code == grpc.StatusCode.FAILED_PRECONDITION
            message = str(raised.value)
            assert "8-dimensional" in message
            assert "makes 384" in message
            assert "clinical_guidelines" in message
            info = await client.collection_info()
            assert info.dimension == 8
    finally:
        await retriever.stop()


async def test_embedder_down_is_unavailable_naming_it(tmp_path: Path) -> None:
    dead = f"127.0.0.1:{free_port()}"
    retriever = await start_retriever(tmp_path, dead)
    try:
        async with RetrieverClient(retriever.address) as client:
            with pytest.raises(Unavailable) as raised:
                await client.search("metformin dose when eGFR falls")
            assert raised.value.code == grpc.StatusCode.UNAVAILABLE
            assert f"embedder at {dead}" in str(raised.value)
            assert "metformin" not in str(raised.value)
            # Reads that need no embedding still work.
            info = await client.collection_info()
            assert info.points_count == 0
    finally:
        await retriever.stop()


async def test_a_second_retriever_on_the_same_folder_fails_clearly(
    embedder: ServiceProcess, tmp_path: Path
) -> None:
    first = await start_retriever(tmp_path, embedder.address)
    try:
        with pytest.raises(LaunchError, match="RETRIEVER_QDRANT_PATH"):
            await start_retriever(tmp_path, embedder.address)
    finally:
        await first.stop()


async def test_a_bad_synonym_file_stops_the_retriever_naming_the_setting(
    embedder: ServiceProcess, tmp_path: Path
) -> None:
    synonyms = tmp_path / "synonyms.yaml"
    synonyms.write_text("equivalents:\n  - [AF]\n", encoding="utf-8")
    with pytest.raises(LaunchError, match="RETRIEVER_SYNONYMS") as raised:
        await start_retriever(
            tmp_path / "qdrant", embedder.address, {"RETRIEVER_SYNONYMS": str(synonyms)}
        )
    assert "two different terms" in str(raised.value)
