"""Container health probe: exits 0 when the local service reports SERVING.

    python -m services.common.healthcheck [host:port]

The address defaults to 127.0.0.1 and the port the service was configured with
(``EMBEDDER_PORT``, ``RETRIEVER_PORT`` or ``ORCHESTRATOR_PORT``, whichever is set).
"""

from __future__ import annotations

import asyncio
import os
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.common.credentials import build_credentials


async def check(address: str, timeout_s: float = 3.0) -> bool:
    async with build_credentials().open_channel(address) as channel:
        try:
            reply = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=timeout_s
            )
        except grpc.aio.AioRpcError:
            return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


def default_address() -> str:
    for name in ("ORCHESTRATOR_PORT", "RETRIEVER_PORT", "EMBEDDER_PORT"):
        if os.environ.get(name):
            return f"127.0.0.1:{os.environ[name]}"
    return "127.0.0.1:50051"


if __name__ == "__main__":
    target = sys.argv[1] if len(sys.argv) > 1 else default_address()
    sys.exit(0 if asyncio.run(check(target)) else 1)
