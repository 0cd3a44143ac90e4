"""Builds the Retriever inside the shared server bootstrap: store, Embedder channel, the audit
trail's database, servicer, and what its health depends on.

The database is the orchestrator's (``DATABASE_URL``, or the embedded server in ``PG_DATA_DIR``
that whichever service starts first runs and the other joins); the Retriever writes only audit
rows there. Its health is SERVING while the store answers and the Embedder reports SERVING: a
search needs both.
"""

from __future__ import annotations

import contextlib

import grpc
from briefing.v1 import retriever_pb2_grpc

from services.common.audit import AuditTrail
from services.common.config import CommonSettings
from services.common.database import open_database
from services.common.database_telemetry import instrument_asyncpg
from services.common.health import Dependency, ServiceHealth
from services.common.logging import get_logger
from services.common.scopes import GUIDELINES_READ, GUIDELINES_WRITE, ServiceAccess
from services.common.server import Registration
from services.embedder.client import EmbedderClient
from services.retriever.client import SERVICE_NAME
from services.retriever.config import RetrieverSettings
from services.retriever.servicer import RetrieverServicer
from services.retriever.store.engines import open_store

log = get_logger(__name__)

#: Who may call the Retriever: the orchestrator by its client certificate, the ingest CLI by
#: a token with guidelines:write (and a client certificate: mutual TLS).
ACCESS = ServiceAccess(
    SERVICE_NAME,
    {
        "Search": GUIDELINES_READ,
        "GetCollectionInfo": GUIDELINES_READ,
        "Ingest": GUIDELINES_WRITE,
        "DeleteDocument": GUIDELINES_WRITE,
    },
)


async def setup(
    server: grpc.aio.Server,
    settings: RetrieverSettings,
    common: CommonSettings,
    resources: contextlib.AsyncExitStack,
) -> Registration:
    """Opens the store, the Embedder channel and the database, registers the servicer; closes
    all at shutdown."""
    if common.otel_exporter_otlp_endpoint:  # like the gRPC instrumentors: only when exporting
        instrument_asyncpg()
    store = open_store(settings)
    resources.push_async_callback(store.close)
    embedder = EmbedderClient(settings.embedder_addr)
    resources.push_async_callback(embedder.close)
    database = await resources.enter_async_context(open_database(settings))
    servicer = RetrieverServicer(store, embedder, settings, AuditTrail(database.pool))
    resources.push_async_callback(servicer.close)
    retriever_pb2_grpc.add_RetrieverServicer_to_server(servicer, server)
    log.info(
        "store_opened",
        store=settings.store_description,
        collection=settings.collection,
        embedder=settings.embedder_addr,
    )
    return Registration(
        access=[ACCESS],
        health=[
            ServiceHealth(
                SERVICE_NAME,
                [
                    Dependency("store", store.is_healthy),
                    Dependency("embedder", embedder.is_serving),
                ],
            )
        ],
    )
