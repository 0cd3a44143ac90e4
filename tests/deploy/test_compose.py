"""docker-compose.yml matches the code: commands, variables and their values, ports, health
checks, dns:/// targets, TLS with auth on every service, the one-shot jobs that seed and ingest,
the trace collector and Prometheus, with the files make compose-pki writes mounted where the
variables say.
(``make deploy-check`` also runs ``docker-compose config``; tests/deploy/test_health_checks.py
runs the health checks against the parts.)"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import NameOID

from services.common.config import CallerSettings, SecuritySettings, load_settings
from services.common.scopes import GUIDELINES_WRITE
from services.common.tokens import TokenVerifier
from tests.deploy.compose import ROOT, as_mounted, environment, host_mounts, ours, services
from tests.deploy.parts import (
    ADDRESS_TARGETS,
    IMAGE_VARIABLES,
    PARTS,
    health_check_command,
    part_of_command,
    runnable,
)

SERVERS = sorted(
    name
    for name, spec in ours().items()
    if PARTS[part_of_command(spec["command"])[0]].port_variable
)
ONE_SHOTS = sorted(set(ours()) - set(SERVERS))
# The gRPC servers, which serve metrics (the gateway does not).
METERED = [
    name for name in SERVERS if PARTS[part_of_command(ours()[name]["command"])[0]].grpc_service
]


def test_every_part_is_in_the_stack() -> None:
    parts = {part_of_command(spec["command"])[0] for spec in ours().values()}
    assert parts == set(PARTS)


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
    for argument in spec["command"][3:]:  # paths in the image: /app is the project's folder
        assert (ROOT / argument.removeprefix("/app/")).exists(), argument
    variables = as_mounted(spec, compose_host)
    unknown = set(variables) - part.variables() - IMAGE_VARIABLES
    assert not unknown, f"{service} ({name}) reads no such variable: {sorted(unknown)}"
    for path in variables.values():
        if path.startswith(str(compose_host)):
            assert Path(path).is_file(), f"{service}: {path} is not mounted"
    use_environment(variables, part.variables(), monkeypatch)
    for settings_cls in part.settings:
        load_settings(settings_cls)  # raises ConfigError naming the variable (or missing file)


def _certificate(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _dns_names(certificate: x509.Certificate) -> list[str]:
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return list(names.get_values_for_type(x509.DNSName))


def _common_name(certificate: x509.Certificate) -> str:
    return str(certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


@pytest.mark.parametrize("service", SERVERS)
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
    certificate = _certificate(security.tls_cert_file)
    assert _common_name(certificate) == name == service
    assert service in _dns_names(certificate)
    # Only the CA bundle and its own certificate and key: never the CA's key.
    mounted = {source.name for _, source in host_mounts(ours()[service], compose_host)}
    assert mounted == {"ca.pem", f"{service}.pem", f"{service}-key.pem", "public-key.pem"}


@pytest.mark.parametrize("service", SERVERS)
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


def test_the_ingest_job_calls_as_a_client_with_a_token_the_retriever_accepts(
    compose_host: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mutual TLS with the operator's client certificate (the retriever asks every caller for
    one), and a token with guidelines:write that the retriever's own settings verify."""
    ingest = as_mounted(ours()["ingest"], compose_host)
    use_environment(ingest, PARTS["ingest"].variables(), monkeypatch)
    security = load_settings(SecuritySettings)
    assert security.tls_cert_file and security.tls_ca_file
    assert _common_name(_certificate(security.tls_cert_file)) == "client"
    token = load_settings(CallerSettings).auth_token
    assert token is not None
    retriever = as_mounted(ours()["retriever"], compose_host)
    use_environment(retriever, PARTS["retriever"].variables(), monkeypatch)
    verifier = TokenVerifier.from_settings(load_settings(SecuritySettings))
    assert verifier is not None
    assert GUIDELINES_WRITE in verifier.verify(token.get_secret_value()).scopes


@pytest.mark.parametrize("service", ONE_SHOTS)
def test_one_shot_jobs_run_once_per_start_when_what_they_need_is_up(service: str) -> None:
    spec = ours()[service]
    assert spec["restart"] == "no"
    assert spec["healthcheck"] == {"disable": True}, "the image's check is the embedder's"
    needs = {"seed": {"postgres"}, "ingest": {"embedder", "retriever"}}[service]
    assert {name: condition["condition"] for name, condition in spec["depends_on"].items()} == {
        name: "service_healthy" for name in needs
    }


def test_the_gateway_opens_once_the_data_is_in() -> None:
    depends = ours()["gateway"]["depends_on"]
    for job in ONE_SHOTS:
        assert depends[job] == {"condition": "service_completed_successfully"}
    assert depends["orchestrator"] == {"condition": "service_healthy"}


def test_spans_go_to_the_collector_over_mutual_tls_and_on_to_jaeger(compose_host: Path) -> None:
    collector = services()["otel-collector"]
    [config_path] = [
        source
        for target, source in host_mounts(collector, ROOT)
        if target == collector["command"][0].removeprefix("--config=")
    ]
    config = yaml.safe_load(config_path.read_text())
    grpc = config["receivers"]["otlp"]["protocols"]["grpc"]
    host_of = dict(host_mounts(collector, compose_host))
    tls = {key: host_of[path] for key, path in grpc["tls"].items()}
    certificate = _certificate(tls["cert_file"])
    assert "otel-collector" in _dns_names(certificate)
    ca = tls["client_ca_file"].read_bytes()
    for service in SERVERS:
        variables = as_mounted(ours()[service], compose_host)
        endpoint = urlsplit(variables["OTEL_EXPORTER_OTLP_ENDPOINT"])
        assert endpoint.scheme == "https", "TLS to the collector"
        assert (endpoint.hostname, endpoint.port) == (
            "otel-collector",
            int(grpc["endpoint"].rsplit(":", 1)[1]),
        )
        # The collector's certificate and the one the service presents (client_ca_file asks
        # for one) come from the CA both sides trust.
        assert Path(variables["OTEL_EXPORTER_OTLP_CERTIFICATE"]).read_bytes() == ca
        client = _certificate(Path(variables["OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"]))
        assert _common_name(client) == service
        assert Path(variables["OTEL_EXPORTER_OTLP_CLIENT_KEY"]) == Path(variables["TLS_KEY_FILE"])
    [exporter] = config["service"]["pipelines"]["traces"]["exporters"]
    jaeger_host = config["exporters"][exporter]["endpoint"].rsplit(":", 1)[0]
    assert jaeger_host in services() and jaeger_host in collector["depends_on"]
    pipeline = config["service"]["pipelines"]["traces"]
    assert set(pipeline["receivers"]) <= set(config["receivers"])
    assert set(pipeline["processors"]) <= set(config["processors"])


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


def test_prometheus_scrapes_every_server_over_mutual_tls(compose_host: Path) -> None:
    """Each server's job dials its compose name (every replica) on its *_METRICS_PORT over
    HTTPS, checks the server's certificate for that name, and presents a client certificate from
    the CA the server asks for one from (TLS_CA_FILE)."""
    prometheus = services()["prometheus"]
    [config_flag] = [flag for flag in prometheus["command"] if flag.startswith("--config.file=")]
    config_path = dict(host_mounts(prometheus, ROOT))[config_flag.removeprefix("--config.file=")]
    config = yaml.safe_load(config_path.read_text())
    host_of = dict(host_mounts(prometheus, compose_host))
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == set(METERED)
    for service in METERED:
        job = jobs[service]
        _, part = part_of_command(ours()[service]["command"])
        assert part.port_variable
        variables = as_mounted(ours()[service], compose_host)
        [discovery] = job["dns_sd_configs"]
        assert discovery["names"] == [service] and discovery["type"] == "A"
        metrics_port = variables[part.port_variable.replace("_PORT", "_METRICS_PORT")]
        assert str(discovery["port"]) == metrics_port
        assert job["scheme"] == "https"
        tls = job["tls_config"]
        server_certificate = _certificate(Path(variables["TLS_CERT_FILE"]))
        assert tls["server_name"] in _dns_names(server_certificate)
        ca = host_of[tls["ca_file"]].read_bytes()
        assert Path(variables["TLS_CA_FILE"]).read_bytes() == ca
        client = _certificate(host_of[tls["cert_file"]])
        assert _common_name(client) == "prometheus"
        assert host_of[tls["key_file"]].is_file()
        # Prometheus pulls: nothing is pushed to the collector, which has no metrics pipeline.
        assert variables["OTEL_METRICS_EXPORTER"] == "none"
    assert set(METERED) <= set(prometheus["depends_on"])
