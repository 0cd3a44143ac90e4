"""A program's TLS identity in PEM files: read, checked, and read again when the files change.

Servers keep serving while certificates are renewed: :meth:`IdentityFiles.changed` is cheap
(three ``stat`` calls) and is asked at every TLS handshake (by grpc's dynamic server
credentials, and by the gateway's :class:`HttpsContext`). A renewal caught half-written (a
certificate that does not match its key, a file that does not parse) is skipped with a warning,
and the identity served so far stays until the files are whole.
"""

from __future__ import annotations

import os
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from services.common.config import ConfigError
from services.common.logging import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class Identity:
    """A certificate chain, its private key and the CA bundle that verifies peers, as PEM."""

    certificate_chain: bytes
    private_key: bytes
    ca_bundle: bytes

    @property
    def common_name(self) -> str | None:
        """The subject common name of the leaf certificate."""
        names = _leaf(self.certificate_chain).subject.get_attributes_for_oid(
            x509.NameOID.COMMON_NAME
        )
        return str(names[0].value) if names else None

    @property
    def dns_names(self) -> list[str]:
        """The DNS names the leaf certificate is valid for."""
        try:
            extension = _leaf(self.certificate_chain).extensions.get_extension_for_class(
                x509.SubjectAlternativeName
            )
        except x509.ExtensionNotFound:
            return []
        return list(extension.value.get_values_for_type(x509.DNSName))


def _leaf(chain: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(chain)


def _check(identity: Identity) -> None:
    """Raises ValueError unless every file parses and the certificate matches the key."""
    certificate = _leaf(identity.certificate_chain)
    key = serialization.load_pem_private_key(identity.private_key, password=None)
    if not x509.load_pem_x509_certificates(identity.ca_bundle):
        raise ValueError("the CA bundle holds no certificate")
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    encoding = serialization.Encoding.DER
    if key.public_key().public_bytes(encoding, public) != certificate.public_key().public_bytes(
        encoding, public
    ):
        raise ValueError("the certificate does not match the private key")


class IdentityFiles:
    """The three PEM files of an identity; :meth:`changed` re-reads them once they change."""

    def __init__(self, cert_file: Path, key_file: Path, ca_file: Path) -> None:
        self.paths = (cert_file, key_file, ca_file)
        self._lock = threading.Lock()  # grpc asks from its own threads
        self._stamps = self._stat()
        try:
            self.current = self._read()
        except (OSError, ValueError) as exc:
            names = "TLS_CERT_FILE, TLS_KEY_FILE, TLS_CA_FILE"
            raise ConfigError(f"cannot use the TLS files ({names}): {exc}") from None

    def _stat(self) -> tuple[tuple[int, int, int], ...]:
        stamps = []
        for path in self.paths:
            try:
                status = os.stat(path)
            except OSError:
                stamps.append((0, 0, 0))
            else:
                stamps.append((status.st_mtime_ns, status.st_size, status.st_ino))
        return tuple(stamps)

    def _read(self) -> Identity:
        cert, key, ca = (path.read_bytes() for path in self.paths)
        identity = Identity(certificate_chain=cert, private_key=key, ca_bundle=ca)
        _check(identity)
        return identity

    def changed(self) -> Identity | None:
        """The identity read again if a file changed since the last read, else None."""
        stamps = self._stat()
        with self._lock:
            if stamps == self._stamps:
                return None
            self._stamps = stamps
            try:
                identity = self._read()
            except (OSError, ValueError) as exc:
                # A renewal in progress (one file written, not the other yet): keep serving
                # the identity read before; the next handshake after the next change retries.
                log.warning("tls_files_unusable", error=str(exc), keeping="previous identity")
                return None
            self.current = identity
        log.info("tls_files_reloaded", common_name=identity.common_name)
        return identity


class HttpsContext:
    """A server SSLContext for an HTTP server (the gateway) that picks up renewed files.

    At every handshake (Python calls the SNI callback even when the client sends no name) the
    files are checked; once they changed, new connections get a context loaded from them.
    """

    def __init__(self, files: IdentityFiles) -> None:
        self._files = files
        self.context = self._load()
        self._current = self.context
        self.context.sni_callback = self._on_client_hello

    def _load(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert_file, key_file, _ = self._files.paths
        context.load_cert_chain(cert_file, key_file)
        return context

    def _on_client_hello(
        self, connection: ssl.SSLObject | ssl.SSLSocket, server_name: str | None, _: ssl.SSLContext
    ) -> None:
        if self._files.changed() is not None:
            try:
                self._current = self._load()
            except (OSError, ssl.SSLError) as exc:
                log.warning("tls_files_unusable", error=str(exc), keeping="previous identity")
        if self._current is not self.context:
            connection.context = self._current
