"""How every server and channel secures its connections, decided in :func:`build_credentials`.

The server bootstrap binds its port, and the channel factory and the health-check command open
their channels, with what it returns: plaintext for now; TLS will come with settings passed in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import grpc

ChannelOptions = Sequence[tuple[str, str | int]]


@dataclass(frozen=True)
class TransportCredentials:
    """Credentials for this process's servers and channels; ``None`` on a side is plaintext."""

    server: grpc.ServerCredentials | None
    channel: grpc.ChannelCredentials | None

    def add_port(self, server: grpc.aio.Server, address: str) -> int:
        """Binds ``address`` (``host:port``) on ``server``; returns the port, 0 if it failed."""
        if self.server is None:
            return server.add_insecure_port(address)
        return server.add_secure_port(address, self.server)

    def open_channel(self, target: str, options: ChannelOptions = ()) -> grpc.aio.Channel:
        """A grpc.aio channel to ``target``."""
        # Looked up at call time so that the OpenTelemetry client instrumentation applies.
        if self.channel is None:
            return grpc.aio.insecure_channel(target, options=options)
        return grpc.aio.secure_channel(target, self.channel, options=options)


def build_credentials() -> TransportCredentials:
    """The credentials every server and channel uses: plaintext, for now."""
    return TransportCredentials(server=None, channel=None)
