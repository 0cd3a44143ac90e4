"""Secure by default: a server reachable beyond loopback runs with TLS and auth, or not at all.

On loopback (``127.0.0.0/8``, ``::1``, ``localhost``) a developer may run without either, and
the server says so in one log line. On any other interface it refuses to start, naming the
settings to set, unless ``ALLOW_INSECURE=true``, which is logged as a warning at every start.
"""

from __future__ import annotations

import ipaddress

from services.common.config import ConfigError, SecuritySettings
from services.common.logging import get_logger

log = get_logger(__name__)

TLS_SETTINGS = "TLS_CERT_FILE, TLS_KEY_FILE and TLS_CA_FILE"
AUTH_SETTINGS = "AUTH_JWT_PUBLIC_KEY_FILE (or AUTH_JWKS_FILE), AUTH_ISSUER and AUTH_AUDIENCE"


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) is reachable from this machine only."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve anywhere
        return False


def check_exposure(host: str, settings: SecuritySettings, server: str) -> None:
    """Logs how ``server`` (e.g. "the embedder") is protected listening on ``host``.

    Raises ConfigError when it would listen beyond loopback without TLS or auth and
    ALLOW_INSECURE is not set.
    """
    missing = []
    if not settings.tls_server:
        missing.append(f"TLS ({TLS_SETTINGS})")
    if not settings.auth:
        missing.append(f"auth ({AUTH_SETTINGS})")
    if not missing:
        log.info("secured", host=host, tls=True, auth=True)
        return
    without = " and ".join(missing)
    if is_loopback(host):
        log.info(
            "insecure_loopback",
            host=host,
            tls=settings.tls_server,
            auth=settings.auth,
            detail=f"development mode on loopback, without {without}",
        )
        return
    if settings.allow_insecure:
        log.warning(
            "insecure_exposed",
            host=host,
            tls=settings.tls_server,
            auth=settings.auth,
            detail=f"ALLOW_INSECURE=true: reachable beyond loopback without {without}",
        )
        return
    raise ConfigError(
        f"refusing to run {server} on {host} without {without}: set them, listen on "
        "127.0.0.1, or set ALLOW_INSECURE=true to accept the risk"
    )
