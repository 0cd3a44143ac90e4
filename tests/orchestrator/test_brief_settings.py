"""The Orchestrator's and the gateway's settings: defaults, aliases, and errors that name the
variable."""

from __future__ import annotations

import pytest

from services.common.config import ConfigError, load_settings
from services.orchestrator.config import GatewaySettings, OrchestratorSettings


def test_defaults_and_unprefixed_addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RETRIEVER_ADDR", "ANTHROPIC_API_KEY", "ORCHESTRATOR_MAX_TURNS", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RETRIEVER_ADDR", "dns:///retriever:50052")
    settings = load_settings(OrchestratorSettings)
    assert (settings.max_turns, settings.max_results_per_search) == (4, 5)
    assert settings.retriever_addr == "dns:///retriever:50052"
    assert settings.anthropic_api_key is None and settings.database_url is None
    monkeypatch.setenv("ANTHROPIC_API_KEY", "")  # as docker-compose passes an unset key
    assert load_settings(OrchestratorSettings).anthropic_api_key is None
    monkeypatch.setenv("ORCHESTRATOR_ADDR", "127.0.0.1:7")
    assert load_settings(GatewaySettings, port=0).orchestrator_addr == "127.0.0.1:7"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ORCHESTRATOR_MAX_TURNS", "5"),
        ("ORCHESTRATOR_MAX_RESULTS_PER_SEARCH", "0"),
        ("ORCHESTRATOR_BRIEF_TIMEOUT_S", "-1"),
        ("PG_POOL_MAX_SIZE", "0"),
    ],
)
def test_a_bad_value_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=variable):
        load_settings(OrchestratorSettings)


def test_a_variable_is_named_as_it_is_set_and_a_bad_key_is_not_echoed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", " sk-secret-value ")
    monkeypatch.setenv("CLAUDE_MAX_TURNS", "9")
    with pytest.raises(ConfigError) as caught:
        load_settings(OrchestratorSettings)
    message = str(caught.value)
    assert "invalid configuration: ANTHROPIC_API_KEY=<hidden>: " in message
    assert "; CLAUDE_MAX_TURNS='9': " in message
    assert "sk-secret-value" not in message and "ORCHESTRATOR_" not in message
