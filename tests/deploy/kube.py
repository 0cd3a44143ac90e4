"""Renders the kustomize overlays and reads the rendered objects: workloads, their environment,
Services, and who the NetworkPolicies let reach whom.

Rendering needs a kustomize: ``KUSTOMIZE`` (a command that takes the folder, e.g.
``"kustomize build"``), else the one ``scripts/kustomize_install.py`` finds or installs
(``make test`` runs it first).
"""

from __future__ import annotations

import math
import os
import shlex
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from scripts import kustomize_install

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("dev", "prod")
NAMESPACES = {"dev": "briefing-dev", "prod": "briefing"}
COMPONENT = "app.kubernetes.io/component"
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "Job")

Doc = dict[str, Any]


def kustomize_command() -> list[str]:
    """The command that renders a kustomization folder given as its last argument."""
    explicit = os.environ.get("KUSTOMIZE")
    if explicit:
        return shlex.split(explicit)
    found = kustomize_install.available()
    if found is None:
        raise RuntimeError(
            "rendering deploy/k8s needs kustomize: run `python -m scripts.kustomize_install`, "
            "or set KUSTOMIZE to a command such as 'kustomize build'"
        )
    return shlex.split(found)


def render(folder: Path) -> list[Doc]:
    """The objects ``kustomize build folder`` renders."""
    completed = subprocess.run(
        [*kustomize_command(), str(folder)], capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0, f"kustomize failed on {folder}:\n{completed.stderr}"
    return [doc for doc in yaml.safe_load_all(completed.stdout) if doc]


@dataclass(frozen=True)
class Workload:
    """One container of a Deployment, StatefulSet or Job, with its pod's labels."""

    kind: str
    name: str
    component: str
    labels: Mapping[str, str]
    pod: Doc
    container: Doc

    @property
    def image(self) -> str:
        return str(self.container["image"])

    @property
    def container_ports(self) -> dict[str, int]:
        return {port["name"]: port["containerPort"] for port in self.container.get("ports", [])}


def objects(docs: list[Doc], kind: str) -> list[Doc]:
    return [doc for doc in docs if doc["kind"] == kind]


def by_name(docs: list[Doc], kind: str, name: str) -> Doc:
    found = [doc for doc in objects(docs, kind) if doc["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def workloads(docs: list[Doc]) -> Iterator[Workload]:
    for doc in docs:
        if doc["kind"] not in WORKLOAD_KINDS:
            continue
        template = doc["spec"]["template"]
        labels = template["metadata"]["labels"]
        for container in template["spec"]["containers"]:
            yield Workload(
                doc["kind"],
                doc["metadata"]["name"],
                labels[COMPONENT],
                labels,
                template["spec"],
                container,
            )


def workload(docs: list[Doc], component: str) -> Workload:
    found = [item for item in workloads(docs) if item.component == component]
    assert len(found) == 1, f"expected one {component} container, found {len(found)}"
    return found[0]


def cpu_count(quantity: str) -> int:
    """A CPU quantity ("500m", "2") rounded up to whole CPUs, as a resourceFieldRef with
    divisor 1 gives it to the container."""
    if quantity.endswith("m"):
        return math.ceil(int(quantity[:-1]) / 1000)
    return math.ceil(float(quantity))


@dataclass(frozen=True)
class Variable:
    """An environment variable of a container: its value, or the Secret and key it comes from
    (and whether the Secret may be missing)."""

    name: str
    value: str | None
    secret: str | None = None
    key: str | None = None
    optional: bool = False


def environment(docs: list[Doc], item: Workload) -> dict[str, Variable]:
    """The container's variables: ``envFrom`` ConfigMaps first, then ``env`` over them."""
    result: dict[str, Variable] = {}
    for source in item.container.get("envFrom", []):
        assert set(source) == {"configMapRef"}, f"{item.name}: unsupported envFrom {source}"
        data = by_name(docs, "ConfigMap", source["configMapRef"]["name"]).get("data", {})
        result.update({key: Variable(key, value) for key, value in data.items()})
    for entry in item.container.get("env", []):
        name = entry["name"]
        if "value" in entry:
            result[name] = Variable(name, str(entry["value"]))
            continue
        source = entry["valueFrom"]
        if "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            result[name] = Variable(
                name, None, ref["name"], ref["key"], bool(ref.get("optional", False))
            )
        elif "resourceFieldRef" in source:
            ref = source["resourceFieldRef"]
            resource = ref["resource"]
            assert resource == "limits.cpu" and str(ref.get("divisor", "1")) == "1", ref
            cpu = item.container["resources"]["limits"]["cpu"]
            result[name] = Variable(name, str(cpu_count(str(cpu))))
        else:
            raise AssertionError(f"{item.name}: unsupported valueFrom for {name}: {source}")
    return result


def mounted_objects(item: Workload) -> dict[str, tuple[str, str]]:
    """The Secrets and ConfigMaps the container mounts: mount path -> (kind, name)."""
    volumes = {volume["name"]: volume for volume in item.pod.get("volumes", [])}
    mounted = {}
    for mount in item.container.get("volumeMounts", []):
        volume = volumes.get(mount["name"], {})  # none: a StatefulSet's volumeClaimTemplate
        if "secret" in volume:
            mounted[mount["mountPath"]] = ("Secret", volume["secret"]["secretName"])
        elif "configMap" in volume:
            mounted[mount["mountPath"]] = ("ConfigMap", volume["configMap"]["name"])
    return mounted


class ObjectFiles:
    """Secrets and ConfigMaps made outside the manifests (by an operator or a script), written
    as the kubelet mounts them: one file per key, in a folder per object."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def folder(self, kind: str, name: str) -> Path:
        return self.root / kind / name

    def add(self, item: Doc) -> None:
        """Writes a Secret's ``stringData`` or a ConfigMap's ``data``."""
        data = item.get("stringData") if item["kind"] == "Secret" else item.get("data")
        assert isinstance(data, dict), f"{item['kind']} {item['metadata']['name']}: no data"
        folder = self.folder(item["kind"], item["metadata"]["name"])
        folder.mkdir(parents=True, exist_ok=True)
        for key, value in data.items():
            (folder / key).write_text(value)

    def value(self, variable: Variable) -> str | None:
        """The value a variable takes from a Secret here; None when there is no such Secret."""
        assert variable.secret and variable.key
        path = self.folder("Secret", variable.secret) / variable.key
        return path.read_text() if path.exists() else None


def mounted_environment(
    docs: list[Doc], item: Workload, files: ObjectFiles, stand_in: str
) -> dict[str, str]:
    """The container's variables as it sees them, with the Secrets and ConfigMaps it mounts and
    reads taken from ``files``: a value from a Secret there is that Secret's (``stand_in`` when
    the Secret is not there, nothing when it is optional), and a path inside a mounted Secret
    or ConfigMap is the file of ``files`` mounted there."""
    mounts = {
        path: files.folder(kind, name) for path, (kind, name) in mounted_objects(item).items()
    }
    variables = {}
    for variable in environment(docs, item).values():
        value = variable.value
        if variable.secret:
            value = files.value(variable)
            if value is None and variable.optional:
                continue
            value = stand_in if value is None else value
        assert value is not None
        for target, source in mounts.items():
            if value.startswith(target + "/"):
                value = str(source) + value[len(target) :]
        variables[variable.name] = value
    return variables


def selects(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Whether a label selector (``matchLabels`` only) selects ``labels``."""
    unsupported = set(selector) - {"matchLabels"}
    assert not unsupported, f"this test reads matchLabels only, not {unsupported}"
    wanted: Mapping[str, str] = selector.get("matchLabels") or {}
    return all(labels.get(key) == value for key, value in wanted.items())


@dataclass(frozen=True)
class Pod:
    """A connection's source: a pod's labels and the labels of its namespace."""

    name: str
    labels: Mapping[str, str]
    namespace_labels: Mapping[str, str]


def _peer_admits(peer: Doc, source: Pod, namespace_labels: Mapping[str, str]) -> bool:
    if "ipBlock" in peer:
        return False  # addresses outside the cluster's pods
    if "namespaceSelector" in peer:
        if not selects(peer["namespaceSelector"], source.namespace_labels):
            return False
    elif source.namespace_labels != namespace_labels:
        return False  # a podSelector alone means this namespace
    return "podSelector" not in peer or selects(peer["podSelector"], source.labels)


def _port_admits(ports: list[Doc] | None, port: int, named: Mapping[str, int]) -> bool:
    if not ports:
        return True
    for entry in ports:
        if entry.get("protocol", "TCP") != "TCP":
            continue
        wanted = entry.get("port")
        if wanted is None or wanted == port or named.get(str(wanted)) == port:
            return True
    return False


def admitted(
    policies: list[Doc],
    namespace_labels: Mapping[str, str],
    source: Pod,
    target: Workload,
    port: int,
) -> bool:
    """Whether the NetworkPolicies let ``source`` open a TCP connection to ``target``:``port``
    (the Kubernetes semantics: a pod no ingress policy selects takes anything; one that some
    select takes what any of their rules admits)."""
    selecting = [
        policy
        for policy in policies
        if "Ingress" in policy["spec"].get("policyTypes", ["Ingress"])
        and selects(policy["spec"]["podSelector"], target.labels)
    ]
    if not selecting:
        return True
    for policy in selecting:
        for rule in policy["spec"].get("ingress", []):
            if not _port_admits(rule.get("ports"), port, target.container_ports):
                continue
            peers = rule.get("from")
            if not peers or any(_peer_admits(peer, source, namespace_labels) for peer in peers):
                return True
    return False
