"""The health checks the deployment files declare work: each one, run exactly as declared with
the container's variables, passes against its part serving TLS on loopback with the deployment's
certificates and auth, and fails once the part is stopped. (The commands once called
``services.common.healthcheck`` without the address it needs, and every container would have
been unhealthy; only the module's existence was checked.)

Compose with the files under var/ it mounts; Kubernetes with the Secrets and ConfigMap the dev
overlay's create-secrets.sh makes, which prod mounts under the same names: the parts run as the
dev overlay configures them, and both overlays' readiness probes ask them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
import yaml

from services.common.server import parse_args
from tests.deploy.compose import ROOT, as_mounted, host_mounts, ours, services
from tests.deploy.conftest import ClusterObjects
from tests.deploy.dockerfile import image_command, image_health_check
from tests.deploy.health import DeclaredCheck, DeclaredPart, assert_checks_follow_the_parts
from tests.deploy.kube import K8S, mounted_environment, render, workload
from tests.deploy.parts import CHECK_HEALTH_FLAG, PARTS, part_of_command
from tests.support.otlp_receiver import OtlpReceiver
from tests.support.vertex_standin import VertexStandIn


@pytest.fixture(scope="module")
async def vertex() -> AsyncIterator[str]:
    standin = VertexStandIn()
    yield await standin.start()
    await standin.stop()


def compose_parts(host_root: Path) -> list[DeclaredPart]:
    """docker-compose.yml's servers and their health checks; the image's HEALTHCHECK with the
    part it is meant for (the image's CMD), as it would run there without compose's own."""
    image_part, _ = part_of_command(image_command())
    declared = []
    for service, spec in ours().items():
        name, part = part_of_command(spec["command"])
        if part.port_variable is None:
            continue
        checks = [
            DeclaredCheck(f"docker-compose.yml {service}", tuple(spec["healthcheck"]["test"][1:]))
        ]
        if name == image_part:
            checks.append(DeclaredCheck("Dockerfile HEALTHCHECK", tuple(image_health_check())))
        declared.append(DeclaredPart(name, as_mounted(spec, host_root), checks))
    return declared


def test_the_flag_the_checks_use_is_the_servers() -> None:
    assert parse_args("embedder", [CHECK_HEALTH_FLAG]).check_health is True


def collector_credentials(host_root: Path) -> grpc.ServerCredentials:
    """The TLS of the compose stack's collector (deploy/compose/otel-collector.yaml), from the
    files mounted into it: its certificate, and a client certificate required when the
    configuration names a client CA."""
    collector = services()["otel-collector"]
    config_file = dict(host_mounts(collector, ROOT))["/etc/otelcol/config.yaml"]
    tls = yaml.safe_load(config_file.read_text())["receivers"]["otlp"]["protocols"]["grpc"]["tls"]
    files = {key: dict(host_mounts(collector, host_root))[path] for key, path in tls.items()}
    client_ca = files.get("client_ca_file")
    return grpc.ssl_server_credentials(
        [(files["key_file"].read_bytes(), files["cert_file"].read_bytes())],
        root_certificates=client_ca.read_bytes() if client_ca else None,
        require_client_auth=client_ca is not None,
    )


async def test_compose_and_image_checks_follow_the_parts(compose_host: Path, vertex: str) -> None:
    """Their spans go to a stand-in collector speaking the compose collector's TLS: each part
    reaches it with the CA and client certificate its variables name."""
    deployment = compose_parts(compose_host)
    parts = {"embedder", "retriever", "orchestrator", "gateway"}
    assert {declared.part for declared in deployment} == parts
    collector = await OtlpReceiver.start(credentials=collector_credentials(compose_host))
    try:
        await assert_checks_follow_the_parts(deployment, vertex, collector=collector.endpoint)
        spans = await collector.wait_for(lambda spans: {s.service for s in spans} >= parts, 30)
    finally:
        await collector.stop()
    assert {span.service for span in spans} >= parts


def k8s_parts(overlay: str, cluster: ClusterObjects) -> list[DeclaredPart]:
    """The overlay's gRPC servers and their readiness probes (the only exec probes)."""
    docs = render(K8S / "overlays" / overlay)
    declared = []
    for name in ("embedder", "retriever", "orchestrator"):
        item = workload(docs, name)
        command = tuple(item.container["readinessProbe"]["exec"]["command"])
        check = DeclaredCheck(
            f"deploy/k8s {overlay} {item.kind} {item.name} readinessProbe", command
        )
        env = mounted_environment(docs, item, cluster.files, "secret-stand-in")
        declared.append(DeclaredPart(name, env, [check]))
    return declared


async def test_kubernetes_readiness_probes_follow_the_parts(
    cluster_objects: ClusterObjects, vertex: str
) -> None:
    dev, prod = k8s_parts("dev", cluster_objects), k8s_parts("prod", cluster_objects)
    assert {declared.part for declared in dev} == {
        name for name, part in PARTS.items() if part.grpc_service
    }
    await assert_checks_follow_the_parts(dev, vertex, checked=prod)
