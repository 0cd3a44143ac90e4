"""The health probe: is the service at an address SERVING?

Each service runs it against itself with ``python -m services.<service> --check-health``, which
reads the port from that service's own settings (the container health check); an operator can
probe any address with ``python -m services.common.healthcheck host:port``.
"""

from __future__ import annotations

import asyncio
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.common.credentials import build_credentials


async def check(address: str, timeout_s: float = 3.0) -> bool:
    """Whether the server at ``address`` answers its overall health check with SERVING."""
    async with build_credentials().open_channel(address) as channel:
        try:
            reply = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=timeout_s
            )
        except grpc.aio.AioRpcError:
            return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m services.common.healthcheck host:port")
    sys.exit(0 if asyncio.run(check(sys.argv[1])) else 1)
