"""Which engine a folder gets: edge for a new one, local mode for one local mode already holds
(with a line on how to migrate), and clear refusals when RETRIEVER_STORE contradicts the folder
or another process holds it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.common.config import ConfigError, load_settings
from services.common.errors import FailedPrecondition
from services.retriever.client import RetrieverClient
from services.retriever.config import RetrieverSettings
from services.retriever.store.edge import EdgeStore
from services.retriever.store.engines import open_store
from tests.retriever.conftest import free_port, start_retriever
from tests.retriever.store_engines import open_edge, open_local_mode


def settings(folder: Path, **overrides: object) -> RetrieverSettings:
    return load_settings(RetrieverSettings, qdrant_path=folder, **overrides)


async def test_a_new_folder_gets_the_edge_engine(tmp_path: Path) -> None:
    chosen = settings(tmp_path / "new")
    assert chosen.embedded_engine() == "edge"
    assert chosen.store_description == f"edge:{(tmp_path / 'new').resolve()}"
    store = open_store(chosen)
    try:
        assert isinstance(store, EdgeStore)
    finally:
        await store.close()


async def test_a_local_mode_folder_keeps_local_mode_and_says_how_to_migrate(
    tmp_path: Path,
) -> None:
    local = open_local_mode(tmp_path)
    await local.ensure_collection(4, "the test model", "test-analyzer-v1")
    await local.close()
    chosen = settings(tmp_path)
    assert chosen.embedded_engine() == "local"
    retriever = await start_retriever(tmp_path, f"127.0.0.1:{free_port()}")
    try:
        async with RetrieverClient(retriever.address) as client:
            info = await client.collection_info()
        assert info.store == chosen.store_description
        assert info.store.startswith("local:/")
        assert info.dimension == 4
    finally:
        await retriever.stop()
    [advice] = [
        json.loads(line)
        for line in retriever.log_lines
        if line.startswith("{") and json.loads(line).get("event") == "local_mode_store"
    ]
    assert f"services.retriever.migrate_store --source {tmp_path}" in advice["advice"]


async def test_edge_is_refused_on_a_local_mode_folder(tmp_path: Path) -> None:
    await open_local_mode(tmp_path).close()
    with pytest.raises(FailedPrecondition, match="migrate_store --source") as raised:
        open_store(settings(tmp_path, store="edge"))
    assert "RETRIEVER_STORE=auto (or local) to keep using local mode" in str(raised.value)


async def test_local_mode_is_refused_on_an_edge_folder(tmp_path: Path) -> None:
    await open_edge(tmp_path).close()
    with pytest.raises(FailedPrecondition, match="holds an edge store"):
        open_store(settings(tmp_path, store="local"))


async def test_a_second_edge_store_on_the_same_folder_is_refused(tmp_path: Path) -> None:
    first = open_edge(tmp_path)
    try:
        with pytest.raises(FailedPrecondition, match="another process"):
            open_edge(tmp_path)
    finally:
        await first.close()
    await open_edge(tmp_path).close()  # released on close


def test_an_unknown_engine_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETRIEVER_STORE", "sqlite")
    with pytest.raises(
        ConfigError, match="RETRIEVER_STORE='sqlite': Input should be 'auto', 'edge' or 'local'"
    ):
        load_settings(RetrieverSettings)
