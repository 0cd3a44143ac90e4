"""docker-compose.yml matches the code: commands, variables and their values, ports, health
checks, dns:/// targets, and TLS with auth on every service, with the files the development CA
makes mounted where the variables say. (``make deploy-check`` also runs ``docker-compose
config``.)"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import NameOID

from scripts import dev_ca, dev_token
from services.common.config import SecuritySettings, load_settings
from tests.deploy.parts import (
    ADDRESS_TARGETS,
    HEALTHCHECK_MODULE,
    IMAGE_VARIABLES,
    part_of_command,
    runnable,
)

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
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


@pytest.fixture(scope="module")
def host_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the host folder compose mounts from: what ``make dev-ca token`` writes under
    var/ (the development CA and certificates, the token key), made here in a temporary one."""
    root = tmp_path_factory.mktemp("host")
    assert dev_ca.main(["--out", str(root / "var" / "dev-ca")]) == 0
    dev_token.signing_key(root / "var" / "dev-auth")
    return root


def as_mounted(spec: dict[str, Any], host_root: Path) -> dict[str, str]:
    """The service's variables, with each path inside a mounted volume turned into the host
    path compose mounts there (relative to ``host_root``), so that the settings can open it."""
    mounts = []
    for volume in spec.get("volumes", []):
        source, target, *_ = str(volume).split(":")
        if source.startswith("./"):
            mounts.append((target, host_root / source[2:]))
    variables = environment(spec)
    for name, value in variables.items():
        for target, host_path in mounts:
            if value == target or value.startswith(target + "/"):
                variables[name] = str(host_path) + value[len(target) :]
    return variables


def test_every_server_part_is_in_the_stack() -> None:
    parts = {part_of_command(spec["command"])[0] for spec in ours().values()}
    assert {"embedder", "retriever", "orchestrator", "gateway"} <= parts


def use_environment(
    variables: dict[str, str], names: frozenset[str], mp: pytest.MonkeyPatch
) -> None:
    for variable in names:
        mp.delenv(variable, raising=False)
    for variable, value in variables.items():
        mp.setenv(variable, value)


@pytest.mark.parametrize("service", sorted(ours()))
def test_commands_and_variables_are_the_codes(
    service: str, host_files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = ours()[service]
    name, part = part_of_command(spec["command"])
    assert runnable(part.module)
    variables = as_mounted(spec, host_files)
    unknown = set(variables) - part.variables() - IMAGE_VARIABLES
    assert not unknown, f"{service} ({name}) reads no such variable: {sorted(unknown)}"
    use_environment(variables, part.variables(), monkeypatch)
    for settings_cls in part.settings:
        load_settings(settings_cls)  # raises ConfigError naming the variable (or missing file)


@pytest.mark.parametrize("service", sorted(ours()))
def test_every_service_runs_with_tls_and_auth_as_itself(
    service: str, host_files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Listening on 0.0.0.0 needs both (services.common.exposure); each presents the
    certificate issued to its own name, the name its callers dial and its peers know it by."""
    name, part = part_of_command(ours()[service]["command"])
    use_environment(as_mounted(ours()[service], host_files), part.variables(), monkeypatch)
    security = load_settings(SecuritySettings)
    assert security.tls_server and security.auth and not security.allow_insecure
    assert security.tls_cert_file is not None
    certificate = x509.load_pem_x509_certificate(security.tls_cert_file.read_bytes())
    common_name = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert common_name == name == service
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert service in names.get_values_for_type(x509.DNSName)


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
        assert f"https://127.0.0.1:{port}/healthz" in " ".join(test), "checked over HTTPS"


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
