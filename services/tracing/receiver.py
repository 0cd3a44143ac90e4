"""An OTLP/gRPC trace receiver: services export their spans to it on a loopback port.

It implements ``opentelemetry.proto.collector.trace.v1.TraceService/Export`` on a grpc.aio server
in the caller's event loop (``make trace``, the tests) and keeps every span it receives,
flattened into :class:`ReceivedSpan` (hex ids, the resource's ``service.name`` and
``service.instance.id``, attributes and events as plain Python values). It is the receiving end
of the OTLP protocol only, with the protocol's own generated messages; a deployment sends its
spans to an OpenTelemetry collector instead.

    receiver = await OtlpReceiver.start()
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "200"}
    ...
    spans = await receiver.wait_for(lambda spans: ..., timeout_s=20)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue


def any_value(value: AnyValue) -> Any:
    """An OTLP AnyValue as a Python value."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return attributes(value.kvlist_value.values)
    return getattr(value, kind)


def attributes(pairs: Sequence[KeyValue]) -> dict[str, Any]:
    return {pair.key: any_value(pair.value) for pair in pairs}


@dataclass(frozen=True)
class ReceivedSpan:
    """One exported span, flattened."""

    service: str
    trace_id: str
    span_id: str
    parent_span_id: str  # "" for a root span
    name: str
    kind: int
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    status_code: int = 0
    status_message: str = ""
    links: list[str] = field(default_factory=list)  # span ids this span is linked to
    # The resource's service.instance.id (OTEL_RESOURCE_ATTRIBUTES), naming one replica.
    instance: str = ""

    @property
    def duration_ms(self) -> float:
        return (self.end_ns - self.start_ns) / 1e6

    def texts(self) -> list[str]:
        """Every string this span carries (name, attribute and event values, status), to scan
        for values that must not be there."""
        found = [self.name, self.status_message]

        def collect(value: Any) -> None:
            if isinstance(value, str):
                found.append(value)
            elif isinstance(value, bytes):
                found.append(value.decode(errors="replace"))
            elif isinstance(value, list):
                for item in value:
                    collect(item)
            elif isinstance(value, dict):
                for key, item in value.items():
                    found.append(str(key))
                    collect(item)

        collect(self.attributes)
        for name, values in self.events:
            found.append(name)
            collect(values)
        return found


class _TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, sink: list[ReceivedSpan], changed: asyncio.Condition) -> None:
        self._sink = sink
        self._changed = changed

    async def Export(
        self,
        request: trace_service_pb2.ExportTraceServiceRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        received = []
        for resource_spans in request.resource_spans:
            resource = attributes(resource_spans.resource.attributes)
            service = str(resource.get("service.name", ""))
            instance = str(resource.get("service.instance.id", ""))
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    received.append(
                        ReceivedSpan(
                            service=service,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_span_id=span.parent_span_id.hex(),
                            name=span.name,
                            kind=span.kind,
                            start_ns=span.start_time_unix_nano,
                            end_ns=span.end_time_unix_nano,
                            attributes=attributes(span.attributes),
                            events=[(e.name, attributes(e.attributes)) for e in span.events],
                            status_code=span.status.code,
                            status_message=span.status.message,
                            links=[link.span_id.hex() for link in span.links],
                            instance=instance,
                        )
                    )
        async with self._changed:
            self._sink.extend(received)
            self._changed.notify_all()
        return trace_service_pb2.ExportTraceServiceResponse()


class OtlpReceiver:
    """Collects spans exported over OTLP/gRPC; start with :meth:`start`, end with :meth:`stop`."""

    def __init__(self, server: grpc.aio.Server, port: int, scheme: str = "http") -> None:
        self._server = server
        self.port = port
        self.scheme = scheme
        self.spans: list[ReceivedSpan] = []
        self._changed = asyncio.Condition()

    @classmethod
    async def start(
        cls, host: str = "127.0.0.1", credentials: grpc.ServerCredentials | None = None
    ) -> OtlpReceiver:
        """A receiver on a free port of ``host``: plaintext, or TLS with ``credentials``."""
        server = grpc.aio.server()
        address = f"{host}:0"
        if credentials is None:
            receiver = cls(server, server.add_insecure_port(address))
        else:
            receiver = cls(server, server.add_secure_port(address, credentials), "https")
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(  # type: ignore[no-untyped-call]
            _TraceService(receiver.spans, receiver._changed), server
        )
        await server.start()
        return receiver

    @property
    def endpoint(self) -> str:
        """The value for OTEL_EXPORTER_OTLP_ENDPOINT."""
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def trace(self, trace_id: str) -> list[ReceivedSpan]:
        return [span for span in self.spans if span.trace_id == trace_id]

    async def wait_for(
        self, ready: Callable[[list[ReceivedSpan]], bool], timeout_s: float
    ) -> list[ReceivedSpan]:
        """Waits until ``ready(all spans so far)`` holds; returns the spans (also on timeout,
        so the caller's assertions say what is missing)."""
        deadline = time.monotonic() + timeout_s
        async with self._changed:
            while not ready(list(self.spans)):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    await asyncio.wait_for(self._changed.wait(), remaining)
                except TimeoutError:
                    break
            return list(self.spans)

    async def stop(self) -> None:
        await self._server.stop(None)
