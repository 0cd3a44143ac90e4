"""deploy/k8s: every overlay renders, is valid for the named Kubernetes versions, and matches the
code: commands, variables and their values, ports, probes, Services, dns:/// targets, autoscalers,
disruption budgets and who the NetworkPolicies let reach whom."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml
from cryptography import x509

from services.common.config import SecuritySettings, load_settings
from services.common.tokens import TokenVerifier
from services.orchestrator.config import GatewaySettings
from services.orchestrator.gateway import make_app
from tests.deploy.conftest import ClusterObjects
from tests.deploy.kube import (
    COMPONENT,
    K8S,
    NAMESPACES,
    OVERLAYS,
    Doc,
    Pod,
    Variable,
    Workload,
    admitted,
    by_name,
    environment,
    mounted_environment,
    mounted_objects,
    objects,
    render,
    selects,
    workload,
    workloads,
)
from tests.deploy.parts import (
    ADDRESS_TARGETS,
    IMAGE_VARIABLES,
    PARTS,
    health_check_command,
    part_of_command,
    runnable,
)

# The oldest Kubernetes these files are meant for (native gRPC probes are GA since 1.27) and
# the newest that kubernetes-validate 1.37 ships schemas for.
KUBERNETES_VERSIONS = ("1.32.0", "1.37.0")
SERVERS = ("embedder", "retriever", "orchestrator")
# A stand-in for a value that comes from a Secret, to check the other values with.
SECRET_STAND_IN = "postgresql://user:secret@db.invalid:5432/briefing"


@cache
def rendered(overlay: str) -> list[Doc]:
    return render(K8S / "overlays" / overlay)


def ours(overlay: str) -> list[Workload]:
    """The containers that run this project's image."""
    return [item for item in workloads(rendered(overlay)) if "clinical-briefing" in item.image]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_is_valid_for_the_kubernetes_version(overlay: str, version: str) -> None:
    problems = []
    for doc in rendered(overlay):
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            problems.append(f"{doc['kind']} {doc['metadata']['name']}: {exc.message}")
    assert problems == []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_part_runs_under_its_own_name(overlay: str) -> None:
    expected = {"embedder", "retriever", "orchestrator", "gateway", "ingest"}
    if overlay == "dev":
        expected.add("seed")
    assert {item.component for item in ours(overlay)} == expected
    images = {item.image for item in ours(overlay)}
    assert len(images) == 1, f"one image for every part, not {images}"
    for item in ours(overlay):
        name, part = part_of_command(item.container["command"])
        assert name == item.component, f"{item.name} runs {part.module}"
        assert runnable(part.module), f"python -m {part.module} has nothing to run"


# The synthetic patients are seeded in dev only.
PARTS_BY_OVERLAY = [
    (overlay, component)
    for overlay in OVERLAYS
    for component in sorted(PARTS)
    if component != "seed" or overlay == "dev"
]
# Every part but the seed Job, which talks to PostgreSQL only.
TLS_PARTS_BY_OVERLAY = [
    (overlay, component) for overlay, component in PARTS_BY_OVERLAY if component != "seed"
]


def use_environment(
    variables: dict[str, str], names: frozenset[str], mp: pytest.MonkeyPatch
) -> None:
    for name in names:
        mp.delenv(name, raising=False)
    for name, value in variables.items():
        mp.setenv(name, value)


@pytest.mark.parametrize(("overlay", "component"), PARTS_BY_OVERLAY)
def test_variables_are_the_codes_and_their_values_load(
    overlay: str, component: str, cluster_objects: ClusterObjects, monkeypatch: pytest.MonkeyPatch
) -> None:
    part = PARTS[component]
    item = workload(rendered(overlay), component)
    unknown = set(environment(rendered(overlay), item)) - part.variables() - IMAGE_VARIABLES
    assert not unknown, f"{component} reads no such variable: {sorted(unknown)}"
    # The values load through the part's own settings classes, with the files the Secrets and
    # ConfigMaps it mounts hold (a Secret no script makes gives a stand-in value): a bad port,
    # number, choice or path fails here as it would at start-up.
    variables = mounted_environment(rendered(overlay), item, cluster_objects.files, SECRET_STAND_IN)
    use_environment(variables, part.variables(), monkeypatch)
    for settings_cls in part.settings:
        load_settings(settings_cls)  # raises ConfigError naming the variable


def _certificate(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _common_name(certificate: x509.Certificate) -> str:
    return str(certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value)


def _dns_names(certificate: x509.Certificate) -> list[str]:
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return list(names.get_values_for_type(x509.DNSName))


@pytest.mark.parametrize(("overlay", "component"), TLS_PARTS_BY_OVERLAY)
def test_every_part_speaks_tls_as_itself_and_servers_authenticate_callers(
    overlay: str, component: str, cluster_objects: ClusterObjects, monkeypatch: pytest.MonkeyPatch
) -> None:
    item = workload(rendered(overlay), component)
    variables = mounted_environment(rendered(overlay), item, cluster_objects.files, SECRET_STAND_IN)
    use_environment(variables, PARTS[component].variables(), monkeypatch)
    security = load_settings(SecuritySettings)
    assert security.tls_cert_file and security.tls_ca_file, "TLS, with a certificate of its own"
    assert _common_name(_certificate(security.tls_cert_file)) == component
    assert not security.allow_insecure
    if PARTS[component].port_variable:
        # Listening on 0.0.0.0 needs both (services.common.exposure).
        assert security.tls_server and security.auth
    for mount in item.container["volumeMounts"]:
        assert mount["mountPath"] == "/tmp" or mount.get("readOnly") is True, mount
    for volume in item.pod["volumes"]:
        if "secret" in volume:
            assert volume["secret"]["defaultMode"] == 0o440, "keys: not world-readable"
            assert item.pod["securityContext"]["fsGroup"] == 10001


def test_the_ingest_job_token_passes_the_retrievers_check_with_guidelines_write(
    cluster_objects: ClusterObjects, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = rendered("dev")
    token = mounted_environment(docs, workload(docs, "ingest"), cluster_objects.files, "")
    retriever = mounted_environment(
        docs, workload(docs, "retriever"), cluster_objects.files, SECRET_STAND_IN
    )
    use_environment(retriever, PARTS["retriever"].variables(), monkeypatch)
    verifier = TokenVerifier.from_settings(load_settings(SecuritySettings))
    assert verifier is not None
    assert "guidelines:write" in verifier.verify(token["AUTH_TOKEN"]).scopes


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_server_certificate_is_valid_for_the_names_its_clients_dial(
    overlay: str, cluster_objects: ClusterObjects
) -> None:
    """In dev the certificates create-secrets.sh makes; in prod, those cert-manager.yaml asks
    for. Either way the same CA signs the caller's and the server's."""
    docs = rendered(overlay)
    dialled: dict[str, set[str]] = {}
    for item in ours(overlay):
        for variable in environment(docs, item).values():
            if variable.name in ADDRESS_TARGETS:
                host = urlsplit(variable.value or "").path.lstrip("/").rsplit(":", 1)[0]
                dialled.setdefault(ADDRESS_TARGETS[variable.name], set()).add(host)
    assert set(dialled) == {"embedder", "retriever", "orchestrator"}
    if overlay == "dev":
        files = cluster_objects.files
        for component, hosts in dialled.items():
            [(kind, name)] = [
                source
                for path, source in mounted_objects(workload(docs, component)).items()
                if path == "/etc/briefing/tls"
            ]
            certificate = _certificate(files.folder(kind, name) / "tls.crt")
            assert hosts <= set(_dns_names(certificate)), f"{component}: {hosts}"
        return
    certificates = {doc["spec"]["secretName"]: doc["spec"] for doc in cert_manager_certificates()}
    for component, hosts in dialled.items():
        [secret] = [
            name
            for path, (_, name) in mounted_objects(workload(docs, component)).items()
            if path == "/etc/briefing/tls"
        ]
        assert hosts <= set(certificates[secret]["dnsNames"]), f"{component}: {hosts}"


def cert_manager_certificates() -> list[Doc]:
    path = K8S / "overlays" / "prod" / "cert-manager.yaml"
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def test_cert_manager_makes_every_tls_secret_prod_mounts_under_its_identity() -> None:
    docs = rendered("prod")
    mounted = {
        name: item.component
        for item in ours("prod")
        for path, (kind, name) in mounted_objects(item).items()
        if kind == "Secret" and path == "/etc/briefing/tls"
    }
    ingress = by_name(docs, "Ingress", "gateway")["metadata"]["annotations"]
    upstream = ingress["nginx.ingress.kubernetes.io/proxy-ssl-secret"].split("/")[1]
    mounted[upstream] = "ingress"
    certificates = {doc["spec"]["secretName"]: doc["spec"] for doc in cert_manager_certificates()}
    assert set(certificates) == set(mounted)
    for secret, component in mounted.items():
        spec = certificates[secret]
        assert spec["commonName"] == component  # the identity AUTH_CERTIFICATE_SCOPES maps
        assert "client auth" in spec["usages"]
        if PARTS.get(component) and PARTS[component].port_variable:
            assert "server auth" in spec["usages"]
            assert component in spec["dnsNames"]
    # The ingress controller checks the gateway's certificate for the name it is told.
    name = ingress["nginx.ingress.kubernetes.io/proxy-ssl-name"]
    assert name in certificates["briefing-tls-gateway"]["dnsNames"]
    assert ingress["nginx.ingress.kubernetes.io/backend-protocol"] == "HTTPS"


def _server_port(item: Workload, variables: dict[str, Variable], port_variable: str) -> int:
    port = int(variables[port_variable].value or "")
    assert port in item.container_ports.values(), f"{item.name} listens on {port}, not exposed"
    return port


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("component", SERVERS)
def test_probes_ask_the_part_itself_over_tls(overlay: str, component: str) -> None:
    part = PARTS[component]
    assert part.port_variable and part.grpc_service
    item = workload(rendered(overlay), component)
    variables = environment(rendered(overlay), item)
    port = _server_port(item, variables, part.port_variable)
    assert item.container_ports["grpc"] == port
    assert variables[part.port_variable.replace("_PORT", "_HOST")].value == "0.0.0.0"
    probes = {kind: item.container[f"{kind}Probe"] for kind in ("startup", "liveness", "readiness")}
    # The kubelet's gRPC probes speak no TLS, which the port requires: startup and liveness ask
    # whether the port takes connections (it opens once setup is done).
    assert probes["startup"]["tcpSocket"]["port"] == "grpc"
    assert probes["liveness"]["tcpSocket"]["port"] == "grpc"
    # Readiness: the part's own health check, which probes the port of its *_PORT (above) on
    # loopback as the part itself (tests/deploy/test_health_checks.py runs it against a real
    # server). It costs seconds of CPU per run: not often, and given time.
    readiness = probes["readiness"]
    assert readiness["exec"]["command"] == health_check_command(component)
    assert readiness["periodSeconds"] >= 30 and readiness["timeoutSeconds"] >= 10


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("component", SERVERS)
def test_the_metrics_port_is_the_codes_annotated_and_exposed(overlay: str, component: str) -> None:
    """The *_METRICS_PORT the part reads is its container's metrics port, the one the pod's
    prometheus.io annotations name (HTTPS: the part has TLS, test above), and its Service's."""
    part = PARTS[component]
    assert part.port_variable
    metrics_variable = part.port_variable.replace("_PORT", "_METRICS_PORT")
    assert metrics_variable in part.variables()
    docs = rendered(overlay)
    item = workload(docs, component)
    port = int(environment(docs, item)[metrics_variable].value or "")
    assert item.container_ports["metrics"] == port
    annotations = by_name(docs, "Deployment", component)["spec"]["template"]["metadata"][
        "annotations"
    ]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(port)
    assert annotations["prometheus.io/scheme"] == "https"
    assert annotations["prometheus.io/path"] == "/metrics"
    service = by_name(docs, "Service", component)
    assert {"name": "metrics", "port": port, "targetPort": "metrics"} in service["spec"]["ports"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_prometheus_reaches_the_metrics_ports_and_nothing_else(overlay: str) -> None:
    docs = rendered(overlay)
    policies = objects(docs, "NetworkPolicy")
    namespace = {"kubernetes.io/metadata.name": NAMESPACES[overlay]}
    reached = set()
    for target in workloads(docs):
        for name, port in target.container_ports.items():
            if admitted(policies, namespace, PROMETHEUS, target, port):
                reached.add((target.component, name))
    expected = {(component, "metrics") for component in SERVERS}
    if overlay == "dev":
        expected.add(("gateway", "https"))  # open to anyone in dev
    assert reached == expected


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_probe_speaks_plaintext_grpc(overlay: str) -> None:
    for item in workloads(rendered(overlay)):
        for kind in ("startup", "liveness", "readiness"):
            assert "grpc" not in item.container.get(f"{kind}Probe", {}), f"{item.name} {kind}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_gateway_probes_its_health_route_over_https(overlay: str) -> None:
    item = workload(rendered(overlay), "gateway")
    variables = environment(rendered(overlay), item)
    assert PARTS["gateway"].port_variable
    port = _server_port(item, variables, PARTS["gateway"].port_variable)
    assert item.container_ports["https"] == port
    assert variables["GATEWAY_HOST"].value == "0.0.0.0"
    readiness = item.container["readinessProbe"]["httpGet"]
    routes = {
        (route.method, route.resource.canonical)
        for route in make_app(GatewaySettings()).router.routes()
        if route.resource is not None
    }
    assert ("GET", readiness["path"]) in routes
    assert readiness["port"] == "https" and readiness["scheme"] == "HTTPS"
    assert item.container["livenessProbe"]["tcpSocket"]["port"] == "https"
    service = by_name(rendered(overlay), "Service", "gateway")
    assert [port["targetPort"] for port in service["spec"]["ports"]] == ["https"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_service_selects_one_part_on_a_port_it_exposes(overlay: str) -> None:
    docs = rendered(overlay)
    for service in objects(docs, "Service"):
        selector = {"matchLabels": service["spec"]["selector"]}
        selected = [item for item in workloads(docs) if selects(selector, item.labels)]
        name = service["metadata"]["name"]
        assert len(selected) == 1, f"Service {name} selects {len(selected)} containers"
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in selected[0].container_ports, f"{name}: {port}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_dns_targets_name_headless_services_of_the_right_part(overlay: str) -> None:
    docs = rendered(overlay)
    seen = set()
    for item in ours(overlay):
        for variable in environment(docs, item).values():
            if variable.name not in ADDRESS_TARGETS:
                continue
            seen.add(variable.name)
            target = urlsplit(variable.value or "")
            assert target.scheme == "dns" and target.path.startswith("/"), variable
            host, port = target.path[1:].rsplit(":", 1)
            service = by_name(docs, "Service", host)
            # Headless: the name resolves to every pod, which the channel balances over.
            assert service["spec"].get("clusterIP") == "None", f"{host} is not headless"
            expected = workload(docs, ADDRESS_TARGETS[variable.name])
            assert selects({"matchLabels": service["spec"]["selector"]}, expected.labels)
            [service_port] = [p for p in service["spec"]["ports"] if p["port"] == int(port)]
            assert service_port["targetPort"] == "grpc"
    assert seen == set(ADDRESS_TARGETS)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_autoscalers_budgets_and_resources(overlay: str) -> None:
    docs = rendered(overlay)
    scaled = {
        hpa["spec"]["scaleTargetRef"]["name"]: hpa
        for hpa in objects(docs, "HorizontalPodAutoscaler")
    }
    assert set(scaled) == set(SERVERS)
    for name, hpa in scaled.items():
        assert hpa["spec"]["scaleTargetRef"]["kind"] == "Deployment"
        by_name(docs, "Deployment", name)
        assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    for item in workloads(docs):
        resources = item.container["resources"]
        for bound in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(resources[bound]), f"{item.name} {bound}"
    budgets = objects(docs, "PodDisruptionBudget")
    for deployment in objects(docs, "Deployment"):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        covering = [pdb for pdb in budgets if selects(pdb["spec"]["selector"], labels)]
        assert len(covering) == 1, f"{deployment['metadata']['name']}: {len(covering)} budgets"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_our_containers_run_unprivileged_on_a_read_only_root(overlay: str) -> None:
    for item in ours(overlay):
        assert item.pod["securityContext"]["runAsNonRoot"] is True
        assert item.pod["automountServiceAccountToken"] is False
        context = item.container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"]["drop"] == ["ALL"]
        # HOME is /tmp in the image: the one writable place.
        mounts = {mount["mountPath"] for mount in item.container["volumeMounts"]}
        assert "/tmp" in mounts, item.name


# Prometheus as kube-prometheus and the Prometheus Helm chart install it.
PROMETHEUS = Pod(
    "prometheus",
    {"app.kubernetes.io/name": "prometheus"},
    {"kubernetes.io/metadata.name": "monitoring"},
)


def _sources(overlay: str) -> list[Pod]:
    namespace = {"kubernetes.io/metadata.name": NAMESPACES[overlay]}
    pods = [Pod(item.component, item.labels, namespace) for item in workloads(rendered(overlay))]
    elsewhere = [
        Pod("ingress-controller", {}, {"kubernetes.io/metadata.name": "ingress-nginx"}),
        Pod("other-namespace", {}, {"kubernetes.io/metadata.name": "default"}),
        PROMETHEUS,
    ]
    return pods + elsewhere


REACHES = {
    "embedder": {"retriever", "orchestrator", "prometheus"},
    "retriever": {"orchestrator", "ingest", "prometheus"},
    "orchestrator": {"gateway", "prometheus"},
    "qdrant": {"retriever"},
    "postgres": {"orchestrator", "retriever", "seed"},
}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_let_only_the_callers_in(overlay: str) -> None:
    docs = rendered(overlay)
    policies = objects(docs, "NetworkPolicy")
    namespace = {"kubernetes.io/metadata.name": NAMESPACES[overlay]}
    reached: dict[str, set[str]] = {}
    for target in workloads(docs):
        for port in target.container_ports.values():
            for source in _sources(overlay):
                if source.name != target.component and admitted(
                    policies, namespace, source, target, port
                ):
                    reached.setdefault(target.component, set()).add(source.name)
    components = {item.component for item in workloads(docs)}
    expected = {target: sources for target, sources in REACHES.items() if target in components}
    everyone = {source.name for source in _sources(overlay)} - {"gateway"}
    # The gateway is the way in: anyone in dev, the ingress controller only in prod.
    expected["gateway"] = everyone if overlay == "dev" else {"ingress-controller"}
    assert reached == expected


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secrets_are_referenced_and_documented_never_committed(overlay: str) -> None:
    """Every Secret, and every ConfigMap the manifests do not make, is named in the README's
    table; none is rendered."""
    docs = rendered(overlay)
    assert objects(docs, "Secret") == []
    documented = (K8S / "README.md").read_text(encoding="utf-8")
    referenced = {
        variable.secret
        for item in workloads(docs)
        for variable in environment(docs, item).values()
        if variable.secret
    }
    referenced |= {name for item in workloads(docs) for _, name in mounted_objects(item).values()}
    for ingress in objects(docs, "Ingress"):
        referenced |= {tls["secretName"] for tls in ingress["spec"]["tls"]}
        upstream = ingress["metadata"]["annotations"][
            "nginx.ingress.kubernetes.io/proxy-ssl-secret"
        ]
        referenced.add(upstream.split("/")[1])
    generated = {doc["metadata"]["name"] for doc in objects(docs, "ConfigMap")}
    assert referenced and not referenced & generated
    for name in referenced:
        assert f"`{name}`" in documented, f"deploy/k8s/README.md does not say what {name} holds"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_stores_are_servers_shared_by_the_replicas(overlay: str) -> None:
    docs = rendered(overlay)
    retriever = environment(docs, workload(docs, "retriever"))
    # Without QDRANT_URL the retriever would lock a local folder: one replica at most.
    qdrant = urlsplit(retriever["QDRANT_URL"].value or "")
    assert qdrant.scheme in ("http", "https") and qdrant.hostname
    if overlay == "dev":
        service = by_name(docs, "Service", qdrant.hostname)
        assert qdrant.port in {port["port"] for port in service["spec"]["ports"]}
        assert (
            by_name(docs, "StatefulSet", "qdrant")["spec"]["template"]["metadata"]["labels"][
                COMPONENT
            ]
            == "qdrant"
        )
    orchestrator = environment(docs, workload(docs, "orchestrator"))
    assert orchestrator["DATABASE_URL"].secret == "briefing-database"
    # The retriever writes the audit rows of Ingest and DeleteDocument to the same database.
    assert retriever["DATABASE_URL"].secret == "briefing-database"
