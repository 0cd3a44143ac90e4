"""docker-compose.yml matches the code: commands, variables and their values, ports, health
checks, dns:/// targets, and TLS with auth on every service, with the files the development CA
makes mounted where the variables say. (``make deploy-check`` also runs ``docker-compose
config``.)"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from services.common.config import SecuritySettings, load_settings
from tests.deploy.compose import as_mounted, environment, ours
from tests.deploy.parts import (
    ADDRESS_TARGETS,
    IMAGE_VARIABLES,
    health_check_command,
    part_of_command,
    runnable,
)


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
    service: str, compose_host: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = ours()[service]
    name, part = part_of_command(spec["command"])
    assert runnable(part.module)
    variables = as_mounted(spec, compose_host)
    unknown = set(variables) - part.variables() - IMAGE_VARIABLES
    assert not unknown, f"{service} ({name}) reads no such variable: {sorted(unknown)}"
    use_environment(variables, part.variables(), monkeypatch)
    for settings_cls in part.settings:
        load_settings(settings_cls)  # raises ConfigError naming the variable (or missing file)


@pytest.mark.parametrize("service", sorted(ours()))
def test_every_service_runs_with_tls_and_auth_as_itself(
    service: str, compose_host: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Listening on 0.0.0.0 needs both (services.common.exposure); each presents the
    certificate issued to its own name, the name its callers dial and its peers know it by."""
    name, part = part_of_command(ours()[service]["command"])
    use_environment(as_mounted(ours()[service], compose_host), part.variables(), monkeypatch)
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
    name, part = part_of_command(spec["command"])
    variables = environment(spec)
    assert part.port_variable, f"{service} serves nothing"
    port = variables[part.port_variable]
    assert variables[part.port_variable.replace("_PORT", "_HOST")] == "0.0.0.0"
    for published in spec.get("ports", []):
        assert str(published).rsplit(":", 1)[1] == port, f"{service} publishes {published}"
    test = spec["healthcheck"]["test"]
    assert test[0] == "CMD", f"{service}: exec form, no shell"
    if part.grpc_service:
        # The part's own check: its port (the *_PORT variable above) on loopback, as itself.
        assert test[1:] == health_check_command(name)
    else:
        # tests/deploy/test_health_checks.py runs it against a gateway serving HTTPS.
        assert "https://127.0.0.1:{os.environ['GATEWAY_PORT']}/healthz" in " ".join(test)


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
