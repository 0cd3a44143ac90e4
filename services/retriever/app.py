"""Builds the Retriever inside the shared server bootstrap: store, Embedder channel, servicer."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import grpc
from briefing.v1 import retriever_pb2_grpc

from services.common.config import CommonSettings
from services.common.logging import get_logger
from services.common.scopes import GUIDELINES_READ, GUIDELINES_WRITE, ServiceAccess
from services.embedder.client import EmbedderClient
from services.retriever.client import SERVICE_NAME
from services.retriever.config import RetrieverSettings
from services.retriever.servicer import RetrieverServicer
from services.retriever.store import open_store

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
) -> Sequence[ServiceAccess]:
    """Opens the store and the Embedder channel, registers the servicer; closes all at shutdown."""
    store = open_store(settings)
    resources.push_async_callback(store.close)
    embedder = EmbedderClient(settings.embedder_addr)
    resources.push_async_callback(embedder.close)
    servicer = RetrieverServicer(store, embedder, settings)
    resources.push_async_callback(servicer.close)
    retriever_pb2_grpc.add_RetrieverServicer_to_server(servicer, server)
    log.info(
        "store_opened",
        store=settings.store_description,
        collection=settings.collection,
        embedder=settings.embedder_addr,
    )
    return [ACCESS]
