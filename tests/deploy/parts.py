"""What the code says each deployable part is: its command, its variables, its port, its health.

The deployment files (Kubernetes, compose, the Dockerfile) are checked against this, and this is
read from the code itself: the settings classes give the variable names (as the README's
configuration table does), the generated descriptors the gRPC service names the servers
register on their health service.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field

from briefing.v1 import embedder_pb2, orchestrator_pb2, retriever_pb2
from google.protobuf.descriptor import FileDescriptor
from opentelemetry.sdk.environment_variables import (
    OTEL_EXPORTER_OTLP_CERTIFICATE,
    OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE,
    OTEL_EXPORTER_OTLP_CLIENT_KEY,
)
from pydantic_settings import BaseSettings

from scripts.config_table import variable
from services.common.config import (
    CallerSettings,
    CommonSettings,
    DatabaseSettings,
    SecuritySettings,
)
from services.embedder.config import EmbedderSettings
from services.orchestrator.config import ClaudeSettings, GatewaySettings, OrchestratorSettings
from services.retriever.config import RetrieverSettings

# Set by the image for every process (Dockerfile), read by Python or the model libraries.
IMAGE_VARIABLES = frozenset(
    {"PATH", "PYTHONPATH", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE", "HOME"}
    | {"HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"}
)


# Read by the OpenTelemetry OTLP exporter itself in every part that exports spans
# (services.common.telemetry): the collector's CA, and the client certificate presented to it.
EXPORTER_VARIABLES = frozenset(
    {
        OTEL_EXPORTER_OTLP_CERTIFICATE,
        OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE,
        OTEL_EXPORTER_OTLP_CLIENT_KEY,
    }
)


@dataclass(frozen=True)
class Part:
    """One command the image runs."""

    module: str
    settings: tuple[type[BaseSettings], ...]
    # Variables the module reads with os.environ rather than through a settings class.
    direct_variables: frozenset[str] = field(default_factory=frozenset)
    # The port variable and the gRPC service registered on the health service, for servers.
    port_variable: str | None = None
    grpc_service: str | None = None

    def variables(self) -> frozenset[str]:
        """Every environment variable this part reads."""
        names = {
            variable(settings_cls, name, info)
            for settings_cls in self.settings
            for name, info in settings_cls.model_fields.items()
        }
        return frozenset(names) | self.direct_variables


def _full_name(descriptor: FileDescriptor, service: str) -> str:
    return descriptor.services_by_name[service].full_name


PARTS: dict[str, Part] = {
    "embedder": Part(
        "services.embedder",
        (CommonSettings, SecuritySettings, EmbedderSettings),
        EXPORTER_VARIABLES,
        port_variable="EMBEDDER_PORT",
        grpc_service=_full_name(embedder_pb2.DESCRIPTOR, "Embedder"),
    ),
    "retriever": Part(
        "services.retriever",
        (CommonSettings, SecuritySettings, RetrieverSettings),
        EXPORTER_VARIABLES,
        port_variable="RETRIEVER_PORT",
        grpc_service=_full_name(retriever_pb2.DESCRIPTOR, "Retriever"),
    ),
    "orchestrator": Part(
        "services.orchestrator",
        (CommonSettings, SecuritySettings, OrchestratorSettings, ClaudeSettings),
        EXPORTER_VARIABLES,
        port_variable="ORCHESTRATOR_PORT",
        grpc_service=_full_name(orchestrator_pb2.DESCRIPTOR, "Orchestrator"),
    ),
    "gateway": Part(
        "services.orchestrator.gateway",
        (CommonSettings, SecuritySettings, GatewaySettings),
        EXPORTER_VARIABLES,
        port_variable="GATEWAY_PORT",
    ),
    # services/retriever/ingest/__main__.py reads RETRIEVER_ADDR itself.
    "ingest": Part(
        "services.retriever.ingest",
        (SecuritySettings, CallerSettings),
        frozenset({"RETRIEVER_ADDR"}),
    ),
    "seed": Part("services.orchestrator.patients.seed", (DatabaseSettings,)),
}
# Which part a client variable must lead to.
ADDRESS_TARGETS = {
    "EMBEDDER_ADDR": "embedder",
    "RETRIEVER_ADDR": "retriever",
    "ORCHESTRATOR_ADDR": "orchestrator",
}
#: The flag of every gRPC server part (services.common.server) that asks the part already
#: running with these settings whether it is SERVING: its port on loopback, its own credentials.
CHECK_HEALTH_FLAG = "--check-health"


def health_check_command(name: str) -> list[str]:
    """The command a deployment declares to ask gRPC server part ``name`` for its health."""
    part = PARTS[name]
    assert part.grpc_service, f"{name} is no gRPC server"
    return ["python", "-m", part.module, CHECK_HEALTH_FLAG]


def runnable(module: str) -> bool:
    """Whether ``python -m module`` finds something to run (a module, or a package's __main__)."""
    spec = importlib.util.find_spec(module)
    if spec is None:
        return False
    if spec.submodule_search_locations is None:
        return True
    return importlib.util.find_spec(f"{module}.__main__") is not None


def part_of_command(command: list[str]) -> tuple[str, Part]:
    """The part a ``python -m MODULE ...`` command runs; AssertionError for anything else."""
    assert command[:2] == ["python", "-m"], f"not a 'python -m' command: {command}"
    matches = [(name, part) for name, part in PARTS.items() if part.module == command[2]]
    assert matches, f"{command[2]} is none of the parts ({', '.join(PARTS)})"
    return matches[0]
