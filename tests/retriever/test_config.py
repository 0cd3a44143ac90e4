"""Retriever settings: defaults, the Qdrant server path, and errors naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common.config import ConfigError, load_settings
from services.retriever.config import RetrieverSettings


def test_defaults_use_the_embedded_store_in_var_qdrant(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("QDRANT_URL", "RETRIEVER_QDRANT_PATH", "RETRIEVER_COLLECTION", "EMBEDDER_ADDR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("RETRIEVER_STORE", raising=False)
    monkeypatch.chdir(tmp_path)  # a checkout without var/: a new folder gets the edge engine
    settings = load_settings(RetrieverSettings)
    assert settings.collection == "clinical_guidelines"
    assert settings.qdrant_path == Path("var/qdrant")
    assert settings.store_description == f"edge:{tmp_path.resolve() / 'var' / 'qdrant'}"
    assert settings.store_searches_in_flight == 2
    assert (settings.ingest_batch_size, settings.ingest_concurrency) == (32, 4)


def test_qdrant_url_selects_a_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QDRANT_URL", "http://qdrant.internal:6333")
    monkeypatch.setenv("QDRANT_API_KEY", "secret-key")
    monkeypatch.setenv("QDRANT_PREFER_GRPC", "true")
    settings = load_settings(RetrieverSettings)
    assert settings.qdrant_prefer_grpc is True
    assert settings.store_description == "http://qdrant.internal:6333"
    assert settings.qdrant_api_key is not None
    assert settings.qdrant_api_key.get_secret_value() == "secret-key"
    assert "secret-key" not in settings.store_description
    assert "secret-key" not in repr(settings)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("RETRIEVER_INGEST_BATCH_SIZE", "0"),
        ("RETRIEVER_INGEST_CONCURRENCY", "many"),
        ("RETRIEVER_COLLECTION", "bad name!"),
    ],
)
def test_bad_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        load_settings(RetrieverSettings)
