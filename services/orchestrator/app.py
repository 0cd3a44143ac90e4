"""Builds the Orchestrator inside the shared server bootstrap: patient store, Retriever channel,
agents, servicer.

The patient database is made ready (embedded server or DATABASE_URL, migrations), asyncpg is
traced when spans are exported, and the Retriever must report SERVING within DEPENDENCY_WAIT_S.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import grpc
from briefing.v1 import orchestrator_pb2_grpc

from services.common.config import CommonSettings
from services.common.scopes import AUDIT_READ, BRIEFING_READ, ServiceAccess
from services.orchestrator.agent.registry import AgentRegistry
from services.orchestrator.client import SERVICE_NAME
from services.orchestrator.config import OrchestratorSettings
from services.orchestrator.patients.store import open_patient_store
from services.orchestrator.patients.telemetry import instrument_asyncpg
from services.orchestrator.servicer import OrchestratorServicer
from services.retriever.client import RetrieverClient

#: Who may call the Orchestrator: external callers (the gateway on a caller's behalf, the
#: client CLI, grpcurl), by bearer token only. No client certificate is asked for: the callers
#: are people and applications known to the hospital's identity provider, which issues their
#: tokens; the project's CA certifies its own services, not every caller of the front door.
ACCESS = ServiceAccess(
    SERVICE_NAME,
    {"Brief": BRIEFING_READ, "BriefStream": BRIEFING_READ, "ListAuditEvents": AUDIT_READ},
    client_certificates=False,
)


async def setup(
    server: grpc.aio.Server,
    settings: OrchestratorSettings,
    common: CommonSettings,
    resources: contextlib.AsyncExitStack,
) -> Sequence[ServiceAccess]:
    """Opens what a briefing needs and registers the Orchestrator servicer; closes all at
    shutdown."""
    tracing = bool(common.otel_exporter_otlp_endpoint)
    if tracing:  # like the gRPC instrumentors: only when exporting
        instrument_asyncpg()
    patients = await resources.enter_async_context(open_patient_store(settings))
    retriever = await resources.enter_async_context(RetrieverClient(settings.retriever_addr))
    await retriever.wait_until_serving(common.dependency_wait_s)
    agents = AgentRegistry(settings, tracing=tracing)
    resources.push_async_callback(agents.aclose)
    servicer = OrchestratorServicer(settings, patients, retriever, agents)
    orchestrator_pb2_grpc.add_OrchestratorServicer_to_server(servicer, server)
    return [ACCESS]
