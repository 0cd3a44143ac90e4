"""Client channels to the other services, configured by a gRPC service config.

Deadlines and retries live in the service config (per method), not in hand-written loops:
idempotent methods are retried on UNAVAILABLE with exponential backoff. Targets may be plain
``host:port`` or ``dns:///name:port``; with the latter the channel balances calls round-robin
over every address the name resolves to, so replicas of a service share the load.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.common.errors import Unavailable

KEEPALIVE_OPTIONS: list[tuple[str, int]] = [
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
]
MAX_MESSAGE_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class MethodPolicy:
    """How one RPC method is called: its default deadline and whether it may be retried."""

    timeout_s: float
    idempotent: bool


def service_config(service: str, methods: Mapping[str, MethodPolicy]) -> str:
    """The JSON service config for ``service`` (its full name, e.g. ``briefing.v1.Embedder``)."""
    method_configs = []
    for method, policy in methods.items():
        config: dict[str, object] = {
            "name": [{"service": service, "method": method}],
            "timeout": f"{policy.timeout_s:.3f}s",
        }
        if policy.idempotent:
            config["retryPolicy"] = {
                "maxAttempts": 4,
                "initialBackoff": "0.1s",
                "maxBackoff": "2s",
                "backoffMultiplier": 2,
                "retryableStatusCodes": ["UNAVAILABLE"],
            }
        method_configs.append(config)
    return json.dumps(
        {"loadBalancingConfig": [{"round_robin": {}}], "methodConfig": method_configs}
    )


def create_channel(
    target: str, service: str, methods: Mapping[str, MethodPolicy]
) -> grpc.aio.Channel:
    """An insecure grpc.aio channel to ``target`` with the service config for ``service``."""
    options: list[tuple[str, str | int]] = [
        ("grpc.service_config", service_config(service, methods)),
        ("grpc.enable_retries", 1),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        *KEEPALIVE_OPTIONS,
    ]
    # Looked up at call time so that the OpenTelemetry client instrumentation applies.
    return grpc.aio.insecure_channel(target, options=options)


async def wait_until_serving(
    channel: grpc.aio.Channel, service: str, target: str, timeout_s: float
) -> None:
    """Waits (bounded) until ``service`` at ``target`` reports SERVING on its health endpoint."""
    stub = health_pb2_grpc.HealthStub(channel)
    try:
        reply = await stub.Check(
            health_pb2.HealthCheckRequest(service=service), timeout=timeout_s, wait_for_ready=True
        )
    except grpc.aio.AioRpcError as exc:
        raise Unavailable(
            f"{service} at {target} did not become ready within {timeout_s:.0f}s: {exc.code().name}"
        ) from None
    if reply.status != health_pb2.HealthCheckResponse.SERVING:
        raise Unavailable(f"{service} at {target} is not serving")
