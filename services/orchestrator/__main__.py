"""``python -m services.orchestrator``: the Orchestrator service (Brief, BriefStream).

Start-up: the patient database is made ready (embedded server or DATABASE_URL, migrations),
asyncpg is traced, and the Retriever must report SERVING within DEPENDENCY_WAIT_S.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Sequence

import grpc
from briefing.v1 import orchestrator_pb2, orchestrator_pb2_grpc

from services.common.config import CommonSettings
from services.common.server import run
from services.orchestrator.agent.factory import AgentFactory
from services.orchestrator.config import OrchestratorSettings
from services.orchestrator.patients.store import open_patient_store
from services.orchestrator.patients.telemetry import instrument_asyncpg
from services.orchestrator.servicer import OrchestratorServicer
from services.retriever.client import RetrieverClient

SERVICE_NAME: str = orchestrator_pb2.DESCRIPTOR.services_by_name["Orchestrator"].full_name


async def setup(
    server: grpc.aio.Server,
    settings: OrchestratorSettings,
    common: CommonSettings,
    resources: contextlib.AsyncExitStack,
) -> Sequence[str]:
    if common.otel_exporter_otlp_endpoint:  # like the gRPC instrumentors: only when exporting
        instrument_asyncpg()
    patients = await resources.enter_async_context(open_patient_store(settings))
    retriever = await resources.enter_async_context(RetrieverClient(settings.retriever_addr))
    await retriever.wait_until_serving(common.dependency_wait_s)
    agents = AgentFactory(
        claude_key_set=settings.anthropic_api_key is not None,
        tracing=bool(common.otel_exporter_otlp_endpoint),
    )
    resources.push_async_callback(agents.aclose)
    servicer = OrchestratorServicer(settings, patients, retriever, agents)
    orchestrator_pb2_grpc.add_OrchestratorServicer_to_server(servicer, server)
    return [SERVICE_NAME]


if __name__ == "__main__":
    sys.exit(run("orchestrator", OrchestratorSettings, setup))
