"""Builds the Orchestrator inside the shared server bootstrap: database (patients and the audit
trail), Retriever and Embedder channels, agents, servicer, and what its health depends on.

The Embedder scores the recommendations' support by their passages
(:mod:`services.orchestrator.grounding`); it is not waited for, and without it briefings carry a
note that their semantic support was not checked. Its health is not a dependency.

The database is made ready (embedded server or DATABASE_URL, migrations) and asyncpg is traced
when spans are exported. The Orchestrator waits up to DEPENDENCY_WAIT_S for the Retriever to
report SERVING; without it, it starts all the same and serves briefings without guidelines.

Its health has two names: ``briefing.v1.Orchestrator`` (and the overall health) is SERVING
while PostgreSQL answers, since no briefing can be made without the record; and
``briefing.v1.Orchestrator/guidelines`` (:data:`~services.orchestrator.client.WITH_GUIDELINES`)
is SERVING while the Retriever is too, that is while briefings can rest on the guidelines.
"""

from __future__ import annotations

import contextlib

import grpc
from briefing.v1 import orchestrator_pb2_grpc

from services.common.audit import AuditTrail
from services.common.config import CommonSettings
from services.common.database import open_database
from services.common.database_telemetry import instrument_asyncpg
from services.common.errors import Unavailable
from services.common.health import Dependency, ServiceHealth
from services.common.logging import get_logger
from services.common.scopes import AUDIT_READ, BRIEFING_READ, ServiceAccess
from services.common.server import Registration
from services.embedder.client import EmbedderClient
from services.orchestrator.agent.registry import AgentRegistry
from services.orchestrator.client import SERVICE_NAME, WITH_GUIDELINES
from services.orchestrator.config import OrchestratorSettings
from services.orchestrator.grounding import GroundingChecker
from services.orchestrator.patients.store import PatientStore
from services.orchestrator.servicer import OrchestratorServicer
from services.retriever.client import RetrieverClient

log = get_logger(__name__)

#: Who may call the Orchestrator: external callers (the gateway on a caller's behalf, the
#: client CLI, grpcurl), by bearer token only. No client certificate is asked for: the callers
#: are people and applications known to the hospital's identity provider, which issues their
#: tokens; the project's CA certifies its own services, not every caller of the front door.
ACCESS = ServiceAccess(
    SERVICE_NAME,
    {
        "Brief": BRIEFING_READ,
        "BriefStream": BRIEFING_READ,
        # Who can be briefed: the same scope as a briefing.
        "ListPatients": BRIEFING_READ,
        "ListAuditEvents": AUDIT_READ,
    },
    client_certificates=False,
)


async def setup(
    server: grpc.aio.Server,
    settings: OrchestratorSettings,
    common: CommonSettings,
    resources: contextlib.AsyncExitStack,
) -> Registration:
    """Opens what a briefing needs and registers the Orchestrator servicer; closes all at
    shutdown."""
    tracing = bool(common.otel_exporter_otlp_endpoint)
    if tracing:  # like the gRPC instrumentors: only when exporting
        instrument_asyncpg()
    database = await resources.enter_async_context(open_database(settings))
    retriever = await resources.enter_async_context(RetrieverClient(settings.retriever_addr))
    try:
        await retriever.wait_until_serving(common.dependency_wait_s)
    except Unavailable as exc:
        log.warning("starting_without_guidelines", reason=str(exc))
    embedder = await resources.enter_async_context(EmbedderClient(settings.embedder_addr))
    grounding = GroundingChecker(embedder, settings.grounding_min_similarity)
    agents = AgentRegistry(settings, tracing=tracing)
    resources.push_async_callback(agents.aclose)
    servicer = OrchestratorServicer(
        settings,
        PatientStore(database.pool),
        retriever,
        agents,
        AuditTrail(database.pool),
        grounding=grounding,
    )
    orchestrator_pb2_grpc.add_OrchestratorServicer_to_server(servicer, server)
    postgresql = Dependency("postgresql", database.is_reachable)
    guidelines = Dependency("retriever", retriever.is_serving)
    return Registration(
        access=[ACCESS],
        health=[
            ServiceHealth(SERVICE_NAME, [postgresql]),
            ServiceHealth(WITH_GUIDELINES, [postgresql, guidelines]),
        ],
    )
