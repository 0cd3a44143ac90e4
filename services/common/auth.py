"""The auth interceptor: every call is authenticated and must hold its method's scope.

A caller proves itself by a bearer token (``authorization: Bearer <JWT>``, checked by
:class:`~services.common.tokens.TokenVerifier`) or, when it sends none, by the verified client
certificate mutual TLS gave it: its common name maps to scopes in ``AUTH_CERTIFICATE_SCOPES``.
That is how the services call each other, each with its own identity, never with a caller's
token. A token, when sent, always decides (a caller cannot fall back on its certificate after
sending a bad token).

- no credentials, or a token that fails a check: UNAUTHENTICATED, saying which check;
- authenticated without the method's scope: PERMISSION_DENIED, naming the scope;
- otherwise the handler runs as the caller (:func:`services.common.principal.acting_as`).

Health checks and reflection (the *open* services) are answered for everyone.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

import grpc

from services.common.interceptors import Call, CallInterceptor, Context
from services.common.logging import get_logger
from services.common.principal import Principal, acting_as
from services.common.scopes import ServiceAccess
from services.common.tokens import MISSING_TOKEN, TokenRejected, TokenVerifier, bearer_token

log = get_logger(__name__)


class AuthInterceptor(CallInterceptor):
    """Admits each call by its caller's scopes (see the module docstring).

    The services' scopes are registered after construction (:meth:`register`), since a server
    takes its interceptors before its setup registers the services; a method nobody registered
    is refused.
    """

    def __init__(
        self,
        verifier: TokenVerifier,
        certificate_scopes: Mapping[str, Collection[str]],
        open_services: Collection[str],
    ) -> None:
        self._verifier = verifier
        self._certificate_scopes = {
            name: frozenset(scopes) for name, scopes in certificate_scopes.items()
        }
        self._open_services = frozenset(open_services)
        self._scopes: dict[str, str] = {}

    def register(self, accesses: Iterable[ServiceAccess]) -> None:
        """Adds the scope each method of ``accesses`` needs."""
        for access in accesses:
            self._scopes.update(access.scopes_by_path())

    def authenticate(self, context: Context) -> Principal:
        """The caller of this call; TokenRejected when it proved nothing or a bad token."""
        authorization = [
            value for key, value in context.invocation_metadata() or () if key == "authorization"
        ]
        if len(authorization) > 1:
            raise TokenRejected("malformed authorization: sent more than once")
        if authorization:
            value = authorization[0]
            text = value.decode(errors="replace") if isinstance(value, bytes) else value
            return self._verifier.verify(bearer_token(text))
        names = context.auth_context().get("x509_common_name", ())
        for name in (raw.decode(errors="replace") for raw in names):
            scopes = self._certificate_scopes.get(name)
            if scopes is not None:
                return Principal(subject=name, scopes=scopes, authenticated_by="certificate")
        raise TokenRejected(MISSING_TOKEN)

    async def around_call(self, method: str, context: Context, call: Call) -> Any:
        if method[1:].partition("/")[0] in self._open_services:
            return await call()
        try:
            principal = self.authenticate(context)
        except TokenRejected as exc:
            log.info("call_refused", method=method, code="UNAUTHENTICATED", reason=str(exc))
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, str(exc))
        scope = self._scopes.get(method)
        if scope is None or scope not in principal.scopes:
            log.info(
                "call_refused", method=method, code="PERMISSION_DENIED", subject=principal.subject
            )
            needed = f"the scope '{scope}'" if scope else "a scope no caller holds"
            await context.abort(
                grpc.StatusCode.PERMISSION_DENIED,
                f"{method} needs {needed}, which the caller's credentials do not grant",
            )
        with acting_as(principal):
            return await call()
