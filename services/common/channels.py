"""Client channels to the other services, configured by a gRPC service config.

Deadlines and retries live in the service config (per method), not in hand-written loops:
idempotent methods are retried on UNAVAILABLE with exponential backoff. Targets may be plain
``host:port``, ``dns:///name:port`` or a static list ``ipv4:ADDR:PORT,ADDR:PORT`` (gRPC's own
resolvers; validated in services.common.config); with the last two the channel balances calls
round-robin over every address, so replicas of a service share the load.

When a replica dies, its connection breaks and round-robin leaves it out; a call that was on it
fails with UNAVAILABLE and, for an idempotent method, is retried (on another replica), so only
non-idempotent calls in flight on the dead replica fail. A call that never reached the wire is
retried transparently by gRPC whatever its method. The dead address is tried again at least
every few seconds (``RECONNECT_OPTIONS``), so a replica that comes back takes calls again.

gRPC Python does not pass a handler's deadline on to the calls it makes: a handler that calls
another service takes its deadline with :func:`call_deadline` and gives each downstream call
what is left (:func:`seconds_left`) as its timeout, so no hop works for a caller that has given
up. (Cancellation needs no help: a cancelled handler task cancels the call it awaits.)
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ClassVar, Self, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.common.credentials import ChannelOptions, TransportCredentials, process_credentials
from services.common.errors import Unavailable, from_downstream

ResponseT = TypeVar("ResponseT")
Context = grpc.aio.ServicerContext[Any, Any]

KEEPALIVE_OPTIONS: list[tuple[str, int]] = [
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
]
# A peer that went away is tried again at least every 5 s. gRPC's defaults (first retry after
# 1 s, then x1.6 up to two minutes) left a Retriever answering UNAVAILABLE for 35 s after its
# Embedder came back from an 85 s outage. The first retry comes after 0.5 s, so a restart is
# noticed at once; one attempt may take 5 s (min_reconnect_backoff is gRPC's minimum connect
# timeout, 20 s by default), so a peer that does not answer at all is not waited on for long.
RECONNECT_OPTIONS: list[tuple[str, int]] = [
    ("grpc.initial_reconnect_backoff_ms", 500),
    ("grpc.min_reconnect_backoff_ms", 5_000),
    ("grpc.max_reconnect_backoff_ms", 5_000),
]
MAX_MESSAGE_BYTES = 32 * 1024 * 1024
SERVING = health_pb2.HealthCheckResponse.SERVING


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
    target: str,
    service: str,
    methods: Mapping[str, MethodPolicy],
    credentials: TransportCredentials | None = None,
) -> grpc.aio.Channel:
    """A grpc.aio channel to ``target`` with the service config for ``service``.

    Secured with this process's credentials (TLS as configured) unless ``credentials`` says
    otherwise.
    """
    options: ChannelOptions = [
        ("grpc.service_config", service_config(service, methods)),
        ("grpc.enable_retries", 1),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        *KEEPALIVE_OPTIONS,
        *RECONNECT_OPTIONS,
    ]
    return (credentials or process_credentials()).open_channel(target, options)


def call_deadline(context: Context) -> float | None:
    """The handled call's deadline on the running loop's clock; None when it has none."""
    remaining = context.time_remaining()
    return None if remaining is None else asyncio.get_running_loop().time() + remaining


def seconds_left(deadline: float | None) -> float | None:
    """The timeout of a downstream call made for a caller whose deadline is ``deadline`` (from
    :func:`call_deadline`): what is left of it, at least zero (the call then fails at once
    with DEADLINE_EXCEEDED); None (the method's own default) when there is no deadline."""
    if deadline is None:
        return None
    return max(deadline - asyncio.get_running_loop().time(), 0.0)


async def wait_until_serving(
    channel: grpc.aio.Channel, service: str, target: str, timeout_s: float
) -> None:
    """Waits (bounded) until ``service`` at ``target`` reports SERVING on its health endpoint:
    until it listens, then until its health (watched) says SERVING."""
    watch = health_pb2_grpc.HealthStub(channel).Watch(
        health_pb2.HealthCheckRequest(service=service), wait_for_ready=True
    )
    try:
        async with asyncio.timeout(timeout_s):
            async for reply in watch:
                if reply.status == SERVING:
                    return
    except TimeoutError:
        raise Unavailable(
            f"{service} at {target} did not report SERVING within {timeout_s:.0f}s"
        ) from None
    except grpc.aio.AioRpcError as exc:
        raise Unavailable(
            f"{service} at {target} did not report SERVING: {exc.code().name}"
        ) from None
    finally:
        watch.cancel()
    raise Unavailable(f"{service} at {target} stopped reporting its health")


class ServiceClient:
    """Base of the clients of our services: one channel, readiness, errors, ``async with``.

    A subclass names its dependency, its service and its method policies, builds its stub on
    ``self.channel`` and awaits every call through :meth:`call`, which turns a failed call into
    a ``ServiceError`` (see :func:`services.common.errors.from_downstream`). The channel is
    secured with the process's credentials (a service's own identity) unless ``credentials``
    says otherwise (a command-line client's, with its user's token).
    """

    dependency: ClassVar[str]
    service_name: ClassVar[str]
    method_policies: ClassVar[Mapping[str, MethodPolicy]]

    def __init__(self, target: str, credentials: TransportCredentials | None = None) -> None:
        self.target = target
        self.channel = create_channel(target, self.service_name, self.method_policies, credentials)

    async def call(self, pending: Awaitable[ResponseT]) -> ResponseT:
        """Awaits a stub call; a failed call raises this service's own ``ServiceError``."""
        try:
            return await pending
        except grpc.aio.AioRpcError as exc:
            raise from_downstream(self.dependency, self.target, exc) from None

    async def wait_until_serving(self, timeout_s: float) -> None:
        """Waits (bounded) until the service reports SERVING; raises Unavailable otherwise."""
        await wait_until_serving(self.channel, self.service_name, self.target, timeout_s)

    async def is_serving(self) -> bool:
        """Whether the service answers its health check with SERVING now; a failed call raises
        (the probe of a dependency's health, see :mod:`services.common.health`)."""
        reply = await health_pb2_grpc.HealthStub(self.channel).Check(
            health_pb2.HealthCheckRequest(service=self.service_name)
        )
        return bool(reply.status == SERVING)

    async def close(self) -> None:
        """Closes the channel; calls in flight are cancelled."""
        await self.channel.close(None)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
