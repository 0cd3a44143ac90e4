"""``Orchestrator.ListPatients``: the request validated into a :class:`PatientQuery`, a page of
patients as messages, and page tokens.

A page token is opaque to callers: the id of the last patient sent and a fingerprint of the
prefix, so that a token sent with another prefix is refused rather than silently listing
something else. Messages never echo the prefix (it may be part of a name).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace

from briefing.v1 import orchestrator_pb2

from services.common.errors import InvalidArgument
from services.common.limits import (
    DEFAULT_PATIENT_PAGE_SIZE,
    MAX_PATIENT_PAGE_SIZE,
    MAX_PATIENT_PREFIX_CHARS,
    PATIENT_ID,
)
from services.orchestrator.patients.store import PatientListing

_TOKEN_VERSION = 1


@dataclass(frozen=True)
class PatientQuery:
    """A validated ListPatients request: the prefix, the page size and where the page starts."""

    prefix: str
    limit: int
    after_id: str = ""


def _fingerprint(prefix: str) -> str:
    return hashlib.sha256(prefix.lower().encode()).hexdigest()[:16]


def page_token(query: PatientQuery, last_patient_id: str) -> str:
    """The token of the page after the one that ended with ``last_patient_id``."""
    payload = {"v": _TOKEN_VERSION, "after": last_patient_id, "filter": _fingerprint(query.prefix)}
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()


def _after_id(token: str, query: PatientQuery) -> str:
    try:
        payload = json.loads(base64.urlsafe_b64decode(token.encode()))
        after, fingerprint = str(payload["after"]), str(payload["filter"])
        valid = payload["v"] == _TOKEN_VERSION and PATIENT_ID.fullmatch(after) is not None
    except (binascii.Error, ValueError, TypeError, KeyError, UnicodeDecodeError):
        valid = False
    if not valid:
        raise InvalidArgument(
            "page_token is not a token this service issued; send the next_page_token of the "
            "previous page, or none for the first page"
        )
    if fingerprint != _fingerprint(query.prefix):
        raise InvalidArgument(
            "page_token belongs to a listing with another prefix; send the prefix of the first "
            "page with it"
        )
    return after


def list_query(request: orchestrator_pb2.ListPatientsRequest) -> PatientQuery:
    """The query of a ListPatients request, or InvalidArgument saying what to fix."""
    if len(request.prefix) > MAX_PATIENT_PREFIX_CHARS:
        raise InvalidArgument(f"prefix must be at most {MAX_PATIENT_PREFIX_CHARS} characters")
    if not request.prefix.isprintable():
        raise InvalidArgument("prefix must not hold control characters")
    if not 0 <= request.page_size <= MAX_PATIENT_PAGE_SIZE:
        raise InvalidArgument(
            f"page_size must be 0 to {MAX_PATIENT_PAGE_SIZE} (0: {DEFAULT_PATIENT_PAGE_SIZE})"
        )
    query = PatientQuery(
        prefix=request.prefix, limit=request.page_size or DEFAULT_PATIENT_PAGE_SIZE
    )
    if not request.page_token:
        return query
    return replace(query, after_id=_after_id(request.page_token, query))


def lookahead(query: PatientQuery) -> PatientQuery:
    """``query`` asking for one patient more than a page, to tell whether another page follows."""
    return replace(query, limit=query.limit + 1)


def patient_message(patient: PatientListing) -> orchestrator_pb2.PatientSummary:
    return orchestrator_pb2.PatientSummary(
        patient_id=patient.patient_id,
        given_name=patient.given_name,
        family_name=patient.family_name,
        birth_date=patient.birth_date.isoformat() if patient.birth_date else "",
    )


def list_response(
    query: PatientQuery, found: Sequence[PatientListing]
) -> orchestrator_pb2.ListPatientsResponse:
    """A page of the patients ``lookahead(query)`` found, with a next token when more follow."""
    page = found[: query.limit]
    more = len(found) > query.limit
    return orchestrator_pb2.ListPatientsResponse(
        patients=[patient_message(patient) for patient in page],
        next_page_token=page_token(query, page[-1].patient_id) if more else "",
    )
