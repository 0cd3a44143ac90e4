"""The scopes a caller's token (or a service's certificate) grants, and what a service declares.

Each service's ``app.py`` declares, in the :class:`ServiceAccess` its setup returns, the scope
each of its methods needs; the auth interceptor (services.common.auth) admits a call only for a
caller holding it. Health checks and reflection need none.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

BRIEFING_READ: Final = "briefing:read"
GUIDELINES_READ: Final = "guidelines:read"
GUIDELINES_WRITE: Final = "guidelines:write"
EMBEDDINGS: Final = "embeddings"
AUDIT_READ: Final = "audit:read"
#: Every scope of the project, for development tokens.
ALL_SCOPES: Final = (BRIEFING_READ, GUIDELINES_READ, GUIDELINES_WRITE, EMBEDDINGS, AUDIT_READ)


@dataclass(frozen=True)
class ServiceAccess:
    """A service a setup registered, and who may call it.

    ``method_scopes`` maps each method name to the scope it needs; a method without one is
    refused to everyone (and the bootstrap refuses to start). ``client_certificates``: callers
    must present a certificate signed by the CA of TLS_CA_FILE (mutual TLS), as the services
    do when they call each other.
    """

    service: str
    method_scopes: Mapping[str, str]
    client_certificates: bool = True

    def scopes_by_path(self) -> dict[str, str]:
        """The scopes by the method's full path, ``/package.Service/Method``."""
        return {f"/{self.service}/{method}": scope for method, scope in self.method_scopes.items()}
