"""Who is calling: the principal an authenticated call runs as, for the code it reaches.

The auth interceptor verifies a call's credentials and runs the handler inside
:func:`acting_as`; anything the handler calls (the audit trail, for instance) reads the caller
with :func:`current_principal`. A service running without auth (loopback development mode)
serves every call as :data:`ANONYMOUS`, so the audit trail still says so explicitly.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: its subject, the scopes it holds, and how it proved itself."""

    subject: str
    scopes: frozenset[str]
    authenticated_by: Literal["token", "certificate", "none"]


ANONYMOUS = Principal(subject="anonymous", scopes=frozenset(), authenticated_by="none")

_current: ContextVar[Principal] = ContextVar("principal", default=ANONYMOUS)


def current_principal() -> Principal:
    """The principal the running call acts as (:data:`ANONYMOUS` when auth is off)."""
    return _current.get()


@contextlib.contextmanager
def acting_as(principal: Principal) -> Iterator[Principal]:
    """Runs the enclosed code as ``principal``; the previous one is restored on exit."""
    token = _current.set(principal)
    try:
        yield principal
    finally:
        _current.reset(token)
