"""RPC metrics of every server: call durations by method and status, and calls in flight.

One :class:`RpcMetricsInterceptor`, outermost on every server (services.common.server), so that
calls refused by admission control or auth are counted with their status too. Names follow the
OpenTelemetry semantic conventions for RPC: ``rpc.server.call.duration`` (seconds) with
``rpc.system.name``, ``rpc.method`` (``package.Service/Method``) and
``rpc.response.status_code`` (the gRPC status name). The conventions define no gauge of calls in
flight; ``rpc.server.active_calls`` is named after ``http.server.active_requests``. A method is
one the server registered (gRPC answers unknown ones before interceptors run), so the label
values are a fixed set.
"""

from __future__ import annotations

import time
from typing import Any

import grpc
from opentelemetry import metrics
from opentelemetry.semconv._incubating.attributes.rpc_attributes import (
    RPC_METHOD,
    RPC_RESPONSE_STATUS_CODE,
    RPC_SYSTEM_NAME,
)
from opentelemetry.semconv._incubating.metrics.rpc_metrics import RPC_SERVER_CALL_DURATION
from opentelemetry.util.types import Attributes

from services.common.interceptors import Call, CallInterceptor, Context
from services.common.metrics import DURATION_BUCKETS_S
from services.common.outcome import outcome_of

RPC_SERVER_ACTIVE_CALLS = "rpc.server.active_calls"


class RpcMetricsInterceptor(CallInterceptor):
    """Records each call's duration and status, and how many calls are in flight."""

    def __init__(self, meter: metrics.Meter | None = None) -> None:
        meter = meter or metrics.get_meter(__name__)
        self._duration = meter.create_histogram(
            RPC_SERVER_CALL_DURATION,
            unit="s",
            description="Duration of incoming calls, by method and status.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS_S,
        )
        self._active = meter.create_up_down_counter(
            RPC_SERVER_ACTIVE_CALLS, unit="{call}", description="Calls in flight, by method."
        )
        # Attribute sets by method and by (method, status), made once rather than per call.
        self._methods: dict[str, Attributes] = {}
        self._outcomes: dict[tuple[str, str], Attributes] = {}

    def _method(self, method: str) -> Attributes:
        found = self._methods.get(method)
        if found is None:
            found = self._methods[method] = {
                RPC_SYSTEM_NAME: "grpc",
                RPC_METHOD: method.removeprefix("/"),
            }
        return found

    def _outcome(self, method: str, status: str) -> Attributes:
        found = self._outcomes.get((method, status))
        if found is None:
            found = self._outcomes[(method, status)] = {
                **(self._method(method) or {}),
                RPC_RESPONSE_STATUS_CODE: status,
            }
        return found

    async def around_call(self, method: str, context: Context, call: Call) -> Any:
        in_flight = self._method(method)
        self._active.add(1, in_flight)
        started = time.perf_counter()
        status = grpc.StatusCode.OK.name
        try:
            result = await call()
            code = context.code()  # a handler may set a status without raising
            if isinstance(code, grpc.StatusCode):
                status = code.name
            return result
        except BaseException as error:
            status = outcome_of(error, context)
            raise
        finally:
            self._duration.record(time.perf_counter() - started, self._outcome(method, status))
            self._active.add(-1, in_flight)
