"""Builds the Embedder inside the shared server bootstrap: backend, batcher, cache, servicer."""

from __future__ import annotations

import contextlib

import grpc
from briefing.v1 import embedder_pb2_grpc

from services.common.config import CommonSettings
from services.common.health import Dependency, ServiceHealth
from services.common.logging import get_logger
from services.common.scopes import EMBEDDINGS, ServiceAccess
from services.common.server import Registration
from services.embedder.backends import create_backend
from services.embedder.batcher import Batcher
from services.embedder.cache import QueryCache
from services.embedder.client import SERVICE_NAME
from services.embedder.config import EmbedderSettings
from services.embedder.servicer import EmbedderServicer

log = get_logger(__name__)

#: Who may call the Embedder: the retriever, by its client certificate (mutual TLS).
ACCESS = ServiceAccess(SERVICE_NAME, {"Embed": EMBEDDINGS, "GetModelInfo": EMBEDDINGS})


async def setup(
    server: grpc.aio.Server,
    settings: EmbedderSettings,
    common: CommonSettings,
    resources: contextlib.AsyncExitStack,
) -> Registration:
    """Loads the backend and registers the Embedder servicer; closes both at shutdown. Healthy
    while the model backend answers."""
    backend = await create_backend(settings)
    resources.push_async_callback(backend.close)
    await backend.warm_up()
    batcher = Batcher(
        backend.embed,
        max_batch_size=settings.max_batch_size,
        max_batch_tokens=settings.max_batch_tokens,
        max_wait_s=settings.batch_wait_ms / 1000,
        max_queued_texts=settings.max_queued_texts,
        max_item_tokens=backend.max_input_tokens,
        max_concurrent_batches=backend.max_concurrent_batches,
    )
    batcher.start()
    resources.push_async_callback(batcher.close)
    cache = QueryCache(settings.cache_size, settings.cache_max_bytes)
    servicer = EmbedderServicer(backend, batcher, cache, settings)
    embedder_pb2_grpc.add_EmbedderServicer_to_server(servicer, server)
    log.info(
        "model_ready",
        backend=backend.backend_name,
        model=backend.model_name,
        dimension=backend.dimension,
        max_input_tokens=backend.max_input_tokens,
    )
    return Registration(
        access=[ACCESS],
        health=[ServiceHealth(SERVICE_NAME, [Dependency("model", backend.is_healthy)])],
    )
