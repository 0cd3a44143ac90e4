"""docker-compose.yml matches the code: commands, variables and their values, ports, health
checks and dns:/// targets. (``make deploy-check`` also runs ``docker-compose config``.)"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from services.common.config import load_settings
from tests.deploy.parts import (
    ADDRESS_TARGETS,
    HEALTHCHECK_MODULE,
    IMAGE_VARIABLES,
    part_of_command,
    runnable,
)

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"
INTERPOLATION = re.compile(r"\$\{[A-Z0-9_]+:?-?[^}]*\}")


@cache
def ours() -> dict[str, dict[str, Any]]:
    """The compose services that run this project's image, by service name."""
    services: dict[str, dict[str, Any]] = yaml.safe_load(COMPOSE.read_text())["services"]
    return {
        name: spec
        for name, spec in services.items()
        if "clinical-briefing" in str(spec.get("image", ""))
    }


def environment(spec: dict[str, Any]) -> dict[str, str]:
    """The service's variables; a ``${VAR:-}`` from the shell becomes a stand-in value."""
    return {
        name: INTERPOLATION.sub("stand-in", str(value))
        for name, value in (spec.get("environment") or {}).items()
    }


def test_every_server_part_is_in_the_stack() -> None:
    parts = {part_of_command(spec["command"])[0] for spec in ours().values()}
    assert {"embedder", "retriever", "orchestrator", "gateway"} <= parts


@pytest.mark.parametrize("service", sorted(ours()))
def test_commands_and_variables_are_the_codes(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = ours()[service]
    name, part = part_of_command(spec["command"])
    assert runnable(part.module)
    variables = environment(spec)
    unknown = set(variables) - part.variables() - IMAGE_VARIABLES
    assert not unknown, f"{service} ({name}) reads no such variable: {sorted(unknown)}"
    for variable in part.variables():
        monkeypatch.delenv(variable, raising=False)
    for variable, value in variables.items():
        monkeypatch.setenv(variable, value)
    for settings_cls in part.settings:
        load_settings(settings_cls)  # raises ConfigError naming the variable


@pytest.mark.parametrize("service", sorted(ours()))
def test_ports_and_health_checks_reach_the_server(service: str) -> None:
    spec = ours()[service]
    _, part = part_of_command(spec["command"])
    variables = environment(spec)
    assert part.port_variable, f"{service} serves nothing"
    port = variables[part.port_variable]
    assert variables[part.port_variable.replace("_PORT", "_HOST")] == "0.0.0.0"
    for published in spec.get("ports", []):
        assert str(published).rsplit(":", 1)[1] == port, f"{service} publishes {published}"
    test = spec["healthcheck"]["test"]
    if part.grpc_service:
        # services.common.healthcheck finds the port in the *_PORT variable set above.
        assert test[1:] == ["python", "-m", HEALTHCHECK_MODULE]
        assert runnable(HEALTHCHECK_MODULE)
    else:
        assert f"127.0.0.1:{port}/healthz" in " ".join(test), "the gateway is checked over HTTP"


def test_dns_targets_name_the_service_that_runs_the_part() -> None:
    seen = set()
    for spec in ours().values():
        for variable, value in environment(spec).items():
            if variable not in ADDRESS_TARGETS:
                continue
            seen.add(variable)
            target = urlsplit(value)
            assert target.scheme == "dns", f"{variable}={value}: not balanced over replicas"
            host, port = target.path.lstrip("/").rsplit(":", 1)
            called = ours()[host]
            name, part = part_of_command(called["command"])
            assert name == ADDRESS_TARGETS[variable]
            assert part.port_variable and environment(called)[part.port_variable] == port
    assert seen == set(ADDRESS_TARGETS)
