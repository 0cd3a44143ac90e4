"""``python -m services.retriever``: the Retriever service (owns the Qdrant collection)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Sequence

import grpc
from briefing.v1 import retriever_pb2, retriever_pb2_grpc

from services.common.config import CommonSettings
from services.common.logging import get_logger
from services.common.server import run
from services.embedder.client import EmbedderClient
from services.retriever.config import RetrieverSettings
from services.retriever.servicer import RetrieverServicer
from services.retriever.store import ChunkStore, open_client

log = get_logger(__name__)

SERVICE_NAME = retriever_pb2.DESCRIPTOR.services_by_name["Retriever"].full_name


async def setup(
    server: grpc.aio.Server,
    settings: RetrieverSettings,
    common: CommonSettings,
    resources: contextlib.AsyncExitStack,
) -> Sequence[str]:
    """Opens the store and the Embedder channel, registers the servicer."""
    client = open_client(settings)
    resources.push_async_callback(client.close)
    embedder = EmbedderClient(settings.embedder_addr)
    resources.push_async_callback(embedder.close)
    store = ChunkStore(client, settings.collection, local=settings.qdrant_url is None)
    servicer = RetrieverServicer(store, embedder, settings)
    resources.push_async_callback(servicer.close)
    retriever_pb2_grpc.add_RetrieverServicer_to_server(servicer, server)
    log.info(
        "store_opened",
        store=settings.store_description,
        collection=settings.collection,
        embedder=settings.embedder_addr,
    )
    return [SERVICE_NAME]


if __name__ == "__main__":
    sys.exit(run("retriever", RetrieverSettings, setup))
