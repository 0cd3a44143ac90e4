"""``python -m services.orchestrator.gateway``: a small HTTP front of Orchestrator.Brief and
Orchestrator.ListPatients.

    POST /api/v1/patients/{patient_id}/briefing   body (optional): BriefOptions as JSON,
                                                  e.g. {"mode": "AGENT_MODE_OFFLINE"}
    GET  /api/v1/patients                         who can be briefed (ListPatientsResponse);
                                                  query: prefix, page_size, page_token
    GET  /healthz                                 the Orchestrator's health: 200 while it is
                                                  SERVING, 503 otherwise

The briefing comes back as JSON (protobuf JSON mapping, proto field names), with HTTP 200 and a
``Briefing-Completeness`` header: ``complete``, ``partial-guidelines`` (some guideline searches
failed) or ``no-guidelines`` (the briefing rests on the record alone), as the briefing's
``completeness`` field says. Not 206: that status answers a Range request, and caches and
clients treat it so. A failed call
keeps its meaning: gRPC statuses map to HTTP ones (INVALID_ARGUMENT 400, NOT_FOUND 404,
RESOURCE_EXHAUSTED 429, UNAVAILABLE 503, DEADLINE_EXCEEDED 504, ...) with a JSON body
``{"error": {"code": "NOT_FOUND", "message": "..."}}``. The Orchestrator is reached at
ORCHESTRATOR_ADDR; like the gRPC services the gateway logs one JSON ``ready`` line with its
address, so ``services.launcher.start_service("orchestrator.gateway")`` can start it.

``/healthz`` mirrors the Orchestrator's health (``briefing.v1.Orchestrator``, which needs
PostgreSQL) and says whether briefings rest on the guidelines
(``briefing.v1.Orchestrator/guidelines``, which also needs the Retriever)::

    200 {"status": "ok",          "orchestrator": "SERVING",     "guidelines": "SERVING"}
    200 {"status": "degraded",    "orchestrator": "SERVING",     "guidelines": "NOT_SERVING"}
    503 {"status": "unavailable", "orchestrator": "NOT_SERVING", "guidelines": "NOT_SERVING"}

An Orchestrator that cannot be reached reports its call's status code (``UNAVAILABLE``, ...)
in place of a health status.

Hostile or slow requests are answered, never left to fail inside: a body that is not JSON (too
deeply nested, wrong types, numbers out of range) is 400 with a message; a body longer than
GATEWAY_MAX_BODY_BYTES is 413, before it is read when its length is declared (also to
``Expect: 100-continue``, which then gets no ``100 Continue``); a body that does not arrive within
GATEWAY_BODY_TIMEOUT_S is 408; a connection whose request headers do not arrive within
GATEWAY_HEADER_TIMEOUT_S is closed (aiohttp's keep-alive timeout, which also runs from the
connection's start). Every response is JSON (``application/json``) or aiohttp's own plain text,
never HTML, and carries ``X-Content-Type-Options: nosniff`` and ``Cache-Control: no-store`` (a
briefing is about a patient).

Security follows the services' settings (TLS_*, AUTH_*): HTTPS with TLS_CERT_FILE and
TLS_KEY_FILE (renewed files are picked up without a restart), TLS to the Orchestrator with
TLS_CA_FILE, and beyond loopback it refuses to start without TLS and auth, as they do. A
request's ``Authorization: Bearer <JWT>`` is passed on to the Orchestrator, which checks the
token and its scope; with auth configured the gateway verifies the token first too, so that a
bad one is refused (401) at the edge.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import grpc
from aiohttp import web

# aiohttp's own answer to Expect (100 Continue, or 417), which a route's handler replaces.
from aiohttp.web_urldispatcher import _default_expect_handler as aiohttp_expect_handler
from briefing.v1 import orchestrator_pb2, orchestrator_pb2_grpc
from google.protobuf import json_format
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.common.certificates import HttpsContext, IdentityFiles
from services.common.channels import MethodPolicy, create_channel
from services.common.config import CommonSettings, ConfigError, SecuritySettings, load_settings
from services.common.credentials import process_credentials, process_security
from services.common.exposure import check_exposure
from services.common.logging import configure_logging, get_logger
from services.common.telemetry import setup_telemetry
from services.common.tokens import TokenRejected, TokenVerifier, bearer_token
from services.orchestrator.client import SERVICE_NAME, WITH_GUIDELINES
from services.orchestrator.config import GatewaySettings

if TYPE_CHECKING:
    from briefing.v1.orchestrator_pb2_grpc import OrchestratorAsyncStub

log = get_logger(__name__)

#: Most characters of a JSON parse error quoted back (it may quote the body's keys or values).
MAX_ERROR_CHARS = 300
HEALTH_TIMEOUT_S = 2.0
LIST_TIMEOUT_S = 10.0

# https://github.com/googleapis/googleapis/blob/master/google/rpc/code.proto
HTTP_STATUS: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}

STUB_KEY: web.AppKey[OrchestratorAsyncStub] = web.AppKey("stub")
HEALTH_KEY = web.AppKey("health", health_pb2_grpc.HealthStub)
SETTINGS_KEY = web.AppKey("settings", GatewaySettings)
VERIFIER_KEY: web.AppKey[TokenVerifier | None] = web.AppKey("verifier")


def error_response(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


def _options(body: bytes) -> orchestrator_pb2.BriefOptions:
    """BriefOptions from a JSON body (empty: defaults); ValueError saying what is wrong when it
    is not valid."""
    options = orchestrator_pb2.BriefOptions()
    if not body.strip():
        return options
    try:
        payload: Any = json.loads(body)
    except RecursionError:
        raise ValueError("the body is nested too deeply to be BriefOptions") from None
    except ValueError:  # JSONDecodeError, UnicodeDecodeError, a number too long to convert
        raise ValueError("the body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise ValueError("the body must be a JSON object of BriefOptions")
    try:
        json_format.ParseDict(payload, options)
    except json_format.ParseError as exc:
        message = str(exc)
        if len(message) > MAX_ERROR_CHARS:
            message = message[:MAX_ERROR_CHARS] + "..."
        raise ValueError(message) from None
    return options


def _too_large(limit: int) -> web.Response:
    return error_response(
        413,
        "PAYLOAD_TOO_LARGE",
        f"the body is longer than {limit:,} bytes (GATEWAY_MAX_BODY_BYTES)",
    )


async def expect_within_limit(request: web.Request) -> web.StreamResponse | None:
    """``Expect: 100-continue`` with a declared length over the limit: 413 at once, so that the
    client never sends the body; otherwise aiohttp's usual answer."""
    limit = request.app[SETTINGS_KEY].max_body_bytes
    if (request.content_length or 0) > limit:
        return _too_large(limit)
    await aiohttp_expect_handler(request)
    return None


async def _read_body(request: web.Request) -> bytes | web.Response:
    """The request's body, or the response refusing it (413 too long, 408 too slow)."""
    settings = request.app[SETTINGS_KEY]
    if (request.content_length or 0) > settings.max_body_bytes:
        return _too_large(settings.max_body_bytes)
    try:
        async with asyncio.timeout(settings.body_timeout_s):
            return await request.read()
    except web.HTTPRequestEntityTooLarge:  # a chunked body, without a declared length
        return _too_large(settings.max_body_bytes)
    except TimeoutError:
        return error_response(
            408,
            "REQUEST_TIMEOUT",
            f"the body did not arrive within {settings.body_timeout_s:g} s "
            "(GATEWAY_BODY_TIMEOUT_S)",
        )


COMPLETENESS_HEADER = "Briefing-Completeness"


def completeness_headers(briefing: orchestrator_pb2.PatientBriefing) -> dict[str, str]:
    """The ``Briefing-Completeness`` header of a briefing, e.g. ``partial-guidelines``."""
    name = orchestrator_pb2.BriefingCompleteness.Name(briefing.completeness)
    return {
        COMPLETENESS_HEADER: name.removeprefix("BRIEFING_COMPLETENESS_").lower().replace("_", "-")
    }


def briefing_json(briefing: orchestrator_pb2.PatientBriefing) -> dict[str, Any]:
    """The briefing as JSON: proto field names, and false/zero/empty fields included."""
    return json_format.MessageToDict(
        briefing, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def caller_metadata(request: web.Request) -> tuple[tuple[str, str], ...]:
    """The caller's bearer token as gRPC metadata (none without one); TokenRejected when it is
    malformed or, with auth configured here, fails verification."""
    authorization = request.headers.get("Authorization")
    if authorization is None:
        return ()
    token = bearer_token(authorization)
    verifier = request.app[VERIFIER_KEY]
    if verifier is not None:
        verifier.verify(token)
    return (("authorization", f"Bearer {token}"),)


def _unauthenticated(exc: TokenRejected) -> web.Response:
    refusal = error_response(401, "UNAUTHENTICATED", str(exc))
    refusal.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    return refusal


def _failed(call: str, exc: grpc.aio.AioRpcError) -> web.Response:
    """The failed call's status as HTTP, with the Orchestrator's message (never patient data)."""
    code = exc.code()
    log.info(f"{call}_failed", code=code.name)
    return error_response(HTTP_STATUS.get(code, 500), code.name, exc.details() or code.name)


def _list_request(query: Any) -> orchestrator_pb2.ListPatientsRequest:
    """ListPatientsRequest from the URL's query; ValueError when page_size is not a number."""
    unknown = sorted(set(query) - {"prefix", "page_size", "page_token"})
    if unknown:
        raise ValueError(
            f"unknown query parameter {unknown[0]!r}; use prefix, page_size, page_token"
        )
    page_size = query.get("page_size", "0")
    if not page_size.isdigit():
        raise ValueError("page_size must be a whole number")
    return orchestrator_pb2.ListPatientsRequest(
        prefix=query.get("prefix", ""),
        page_size=min(int(page_size), 2**31 - 1),
        page_token=query.get("page_token", ""),
    )


async def list_patients(request: web.Request) -> web.Response:
    try:
        metadata = caller_metadata(request)
    except TokenRejected as exc:
        return _unauthenticated(exc)
    try:
        call = _list_request(request.query)
    except ValueError as exc:
        return error_response(400, "INVALID_ARGUMENT", str(exc))
    try:
        response = await request.app[STUB_KEY].ListPatients(
            call, timeout=LIST_TIMEOUT_S, metadata=metadata
        )
    except grpc.aio.AioRpcError as exc:
        return _failed("list_patients", exc)
    return web.json_response(
        json_format.MessageToDict(
            response,
            preserving_proto_field_name=True,
            always_print_fields_with_no_presence=True,
        )
    )


async def brief(request: web.Request) -> web.Response:
    try:
        metadata = caller_metadata(request)
    except TokenRejected as exc:
        return _unauthenticated(exc)
    body = await _read_body(request)
    if isinstance(body, web.Response):
        return body
    try:
        options = _options(body)
    except ValueError as exc:
        return error_response(400, "INVALID_ARGUMENT", f"bad BriefOptions: {exc}")
    call = orchestrator_pb2.BriefRequest(
        patient_id=request.match_info["patient_id"], options=options
    )
    settings = request.app[SETTINGS_KEY]
    try:
        response = await request.app[STUB_KEY].Brief(
            call, timeout=settings.brief_timeout_s, metadata=metadata
        )
    except grpc.aio.AioRpcError as exc:
        return _failed("brief", exc)
    briefing = response.briefing
    return web.json_response(briefing_json(briefing), headers=completeness_headers(briefing))


async def _health(stub: health_pb2_grpc.HealthStub, service: str) -> str:
    """The service's health status by name, or the failed call's status code."""
    check = health_pb2.HealthCheckRequest(service=service)
    try:
        reply = await stub.Check(check, timeout=HEALTH_TIMEOUT_S)
    except grpc.aio.AioRpcError as exc:
        return str(exc.code().name)
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))


async def healthz(request: web.Request) -> web.Response:
    stub = request.app[HEALTH_KEY]
    orchestrator, guidelines = await asyncio.gather(
        _health(stub, SERVICE_NAME), _health(stub, WITH_GUIDELINES)
    )
    if orchestrator != "SERVING":
        status, code = "unavailable", 503
    else:
        status, code = ("ok" if guidelines == "SERVING" else "degraded"), 200
    return web.json_response(
        {"status": status, "orchestrator": orchestrator, "guidelines": guidelines}, status=code
    )


def make_app(settings: GatewaySettings, verifier: TokenVerifier | None = None) -> web.Application:
    """The aiohttp application; its channel to the Orchestrator closes with it. With a
    ``verifier``, bearer tokens are verified before they are passed on."""
    app = web.Application(client_max_size=settings.max_body_bytes)
    app[SETTINGS_KEY] = settings
    app[VERIFIER_KEY] = verifier

    async def channel_context(app: web.Application) -> Any:
        channel = create_channel(
            settings.orchestrator_addr,
            SERVICE_NAME,
            # Not retried: a briefing may be a costly model run, and a retry could not be faster.
            {
                "Brief": MethodPolicy(timeout_s=settings.brief_timeout_s, idempotent=False),
                "ListPatients": MethodPolicy(timeout_s=LIST_TIMEOUT_S, idempotent=True),
            },
        )
        app[STUB_KEY] = orchestrator_pb2_grpc.OrchestratorStub(channel)
        app[HEALTH_KEY] = health_pb2_grpc.HealthStub(channel)
        yield
        await channel.close(None)

    app.cleanup_ctx.append(channel_context)
    app.on_response_prepare.append(_protective_headers)
    app.router.add_post(
        "/api/v1/patients/{patient_id}/briefing", brief, expect_handler=expect_within_limit
    )
    app.router.add_get("/api/v1/patients", list_patients)
    app.router.add_get("/healthz", healthz)
    return app


async def _protective_headers(request: web.Request, response: web.StreamResponse) -> None:
    """No content sniffing (a JSON body is never run as HTML or script), no caching."""
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"


def make_runner(app: web.Application, settings: GatewaySettings) -> web.AppRunner:
    """The runner serving ``app``: aiohttp's keep-alive timeout, which runs from a connection's
    start until its request's headers are in, bounds how long headers may take."""
    return web.AppRunner(app, access_log=None, keepalive_timeout=settings.header_timeout_s)


async def serve(
    settings: GatewaySettings, security: SecuritySettings, verifier: TokenVerifier | None
) -> None:
    """Serves until SIGTERM or SIGINT, then finishes requests in flight and stops."""
    https = None
    if security.tls_cert_file and security.tls_key_file and security.tls_ca_file:
        files = IdentityFiles(security.tls_cert_file, security.tls_key_file, security.tls_ca_file)
        https = HttpsContext(files).context
    app = make_app(settings, verifier)
    runner = make_runner(app, settings)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port, ssl_context=https)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise ConfigError(
            f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}"
        ) from None
    host, port = runner.addresses[0][:2]
    log.info("ready", address=f"{host}:{port}", services=["http"])
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting_down")
    await runner.cleanup()
    log.info("stopped")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.orchestrator.gateway")
    parser.add_argument("--host", help="interface to listen on (overrides GATEWAY_HOST)")
    parser.add_argument("--port", type=int, help="port to listen on; 0 picks a free one")
    args = parser.parse_args(argv)
    flags = {"host": args.host, "port": args.port}
    try:
        common = load_settings(CommonSettings)
        settings = load_settings(
            GatewaySettings, **{k: v for k, v in flags.items() if v is not None}
        )
        security = process_security()
        process_credentials()  # reads and checks the TLS files
        verifier = TokenVerifier.from_settings(security)
    except ConfigError as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 2
    configure_logging("gateway", common.log_level, common.log_format)
    try:
        check_exposure(settings.host, security, "the gateway")
    except ConfigError as exc:
        log.error("startup_refused", error=str(exc))
        return 2
    telemetry = setup_telemetry("gateway", common.otel_exporter_otlp_endpoint)
    try:
        asyncio.run(serve(settings, security, verifier))
    except ConfigError as exc:
        log.error("startup_failed", error=str(exc))
        return 1
    finally:
        telemetry.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
