"""How every server and channel secures its connections, decided in :func:`build_credentials`.

The server bootstrap binds its port, and the channel factory and the health-check command open
their channels, with what it returns, built from :class:`SecuritySettings` (read once per
process by :func:`process_credentials`):

- no TLS files: plaintext (loopback development; services.common.exposure says when allowed);
- ``TLS_CA_FILE``: channels speak TLS and verify the server against that CA, presenting
  ``TLS_CERT_FILE`` as their client certificate when it is set;
- ``TLS_CERT_FILE`` and ``TLS_KEY_FILE`` too: servers speak TLS, asking callers for a
  certificate signed by that CA when the service wants mutual TLS.

Rotation: a server re-reads its files at the first handshake after they change (grpc's dynamic
server credentials), so new connections get the new certificate without a restart; established
connections keep theirs. A channel presents the client certificate read when the process
started (grpc has no reloading channel credentials): renew client certificates before they
expire, then restart the process, as a rolling restart does.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import grpc

from services.common.certificates import IdentityFiles
from services.common.config import CallerSettings, ConfigError, SecuritySettings, load_settings

ChannelOptions = Sequence[tuple[str, str | int]]


@dataclass(frozen=True)
class TransportCredentials:
    """Credentials for this process's servers and channels; ``None`` on a side is plaintext.

    ``server_name``: a name the process's own certificate is valid for, so that it can probe
    its own port on loopback (the container health check) whatever the names in it.
    """

    server: grpc.ServerCredentials | None
    channel: grpc.ChannelCredentials | None
    server_name: str | None = None

    def add_port(self, server: grpc.aio.Server, address: str) -> int:
        """Binds ``address`` (``host:port``) on ``server``; returns the port.

        Raises RuntimeError when the address cannot be bound (a port in use, with port sharing
        turned off as the bootstrap does, or an address not on this host).
        """
        if self.server is None:
            return server.add_insecure_port(address)
        return server.add_secure_port(address, self.server)

    def open_channel(self, target: str, options: ChannelOptions = ()) -> grpc.aio.Channel:
        """A grpc.aio channel to ``target``."""
        # Looked up at call time so that the OpenTelemetry client instrumentation applies.
        if self.channel is None:
            return grpc.aio.insecure_channel(target, options=options)
        return grpc.aio.secure_channel(target, self.channel, options=options)

    def with_token(self, token: str) -> TransportCredentials:
        """These credentials, whose channels send ``authorization: Bearer <token>`` on every
        call (for a command-line client acting as its user). TLS only: gRPC sends call
        credentials over a secure channel alone, and a token must never travel in clear."""
        if self.channel is None:
            raise ConfigError("AUTH_TOKEN is sent over TLS only: set TLS_CA_FILE")
        channel = grpc.composite_channel_credentials(
            self.channel, grpc.access_token_call_credentials(token)
        )
        return TransportCredentials(server=self.server, channel=channel, server_name=None)

    def open_own_channel(self, port: int) -> grpc.aio.Channel:
        """A channel to this process's own server on loopback (its health check)."""
        options: ChannelOptions = ()
        if self.channel is not None and self.server_name:
            options = [("grpc.ssl_target_name_override", self.server_name)]
        return self.open_channel(f"127.0.0.1:{port}", options)


#: Plaintext on both sides: for a peer outside the project that speaks no TLS (a Vertex AI
#: stand-in on loopback), whatever the project's own channels do.
PLAINTEXT = TransportCredentials(server=None, channel=None)


def build_credentials(
    settings: SecuritySettings, *, require_client_certificate: bool = True
) -> TransportCredentials:
    """The credentials ``settings`` describe (see the module docstring).

    ``require_client_certificate``: the server admits only callers whose certificate the CA
    signed (mutual TLS). Raises ConfigError when the files cannot be used.
    """
    channel: grpc.ChannelCredentials | None = None
    server: grpc.ServerCredentials | None = None
    server_name: str | None = None
    if settings.tls_cert_file and settings.tls_key_file and settings.tls_ca_file:
        files = IdentityFiles(settings.tls_cert_file, settings.tls_key_file, settings.tls_ca_file)
        identity = files.current
        channel = grpc.ssl_channel_credentials(
            identity.ca_bundle, identity.private_key, identity.certificate_chain
        )

        def configuration() -> grpc.ServerCertificateConfiguration:
            current = files.current
            return grpc.ssl_server_certificate_configuration(
                [(current.private_key, current.certificate_chain)], current.ca_bundle
            )

        def fetch_changed() -> grpc.ServerCertificateConfiguration | None:
            # Called by grpc at every handshake; None keeps the configuration it has.
            return configuration() if files.changed() is not None else None

        server = grpc.dynamic_ssl_server_credentials(
            configuration(),
            fetch_changed,  # type: ignore[arg-type]  # grpc-stubs omit the None grpc documents
            require_client_authentication=require_client_certificate,
        )
        server_name = next(iter(identity.dns_names), None) or identity.common_name
    elif settings.tls_ca_file:
        channel = grpc.ssl_channel_credentials(settings.tls_ca_file.read_bytes())
    return TransportCredentials(server=server, channel=channel, server_name=server_name)


@functools.cache
def process_security() -> SecuritySettings:
    """This process's security settings, read from the environment once (ConfigError if bad)."""
    return load_settings(SecuritySettings)


@functools.cache
def process_credentials() -> TransportCredentials:
    """The credentials of this process's channels, built once from :func:`process_security`."""
    return build_credentials(process_security())


def caller_credentials() -> TransportCredentials:
    """A command-line client's credentials: the process's, with AUTH_TOKEN when it is set."""
    token = load_settings(CallerSettings).auth_token
    if token is None:
        return process_credentials()
    return process_credentials().with_token(token.get_secret_value())
