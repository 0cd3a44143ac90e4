"""The health probe: is the service at an address SERVING?

Each service runs it against itself with ``python -m services.<service> --check-health``, which
reads the port from that service's own settings and probes it on loopback with the service's
own credentials (the container health check); an operator can probe any address with
``python -m services.common.healthcheck host:port`` (TLS as the TLS_* settings say).
"""

from __future__ import annotations

import asyncio
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.common.config import ConfigError
from services.common.credentials import process_credentials


async def probe(channel: grpc.aio.Channel, timeout_s: float = 3.0) -> bool:
    """Whether the server behind ``channel`` answers its overall health check with SERVING."""
    try:
        reply = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=timeout_s
        )
    except grpc.aio.AioRpcError:
        return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


async def check(address: str, timeout_s: float = 3.0) -> bool:
    """Whether the server at ``address`` is SERVING, asked over this process's credentials."""
    async with process_credentials().open_channel(address) as channel:
        return await probe(channel, timeout_s)


async def check_own(port: int, timeout_s: float = 3.0) -> bool:
    """Whether this service's own server, on ``port`` of loopback, is SERVING."""
    async with process_credentials().open_own_channel(port) as channel:
        return await probe(channel, timeout_s)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m services.common.healthcheck host:port")
    try:
        healthy = asyncio.run(check(sys.argv[1]))
    except ConfigError as exc:
        sys.exit(f"healthcheck: {exc}")
    sys.exit(0 if healthy else 1)
