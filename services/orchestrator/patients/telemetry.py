"""OpenTelemetry spans for asyncpg queries, with no patient value on them.

``AsyncPGInstrumentor`` makes one CLIENT span per query with the SQL text (``db.statement``).
That is safe here because every statement is parameterised: values travel as bind parameters,
which the instrumentor records only with ``capture_parameters=True`` (left off). One leak
remains in the stock set-up: a failing query's span records the exception, and the message of
an asyncpg error may quote a value (a DETAIL line, or "invalid input for query argument $1:
<value>"). The instrumentor is therefore given a tracer that records neither the exception event
nor its message as the status description; the span still ends with status ERROR.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.util.types import Attributes

_instrumentor = AsyncPGInstrumentor(capture_parameters=False)  # type: ignore[no-untyped-call]


class _NoExceptionDetailsTracer(trace.Tracer):
    """Delegates to a tracer but never records exception details on spans."""

    def __init__(self, tracer: trace.Tracer) -> None:
        self._tracer = tracer

    def start_span(  # noqa: PLR0917 (the signature of trace.Tracer)
        self,
        name: str,
        context: Context | None = None,
        kind: trace.SpanKind = trace.SpanKind.INTERNAL,
        attributes: Attributes = None,
        links: Sequence[trace.Link] | None = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> trace.Span:
        return self._tracer.start_span(
            name,
            context,
            kind,
            attributes,
            links,
            start_time,
            record_exception=False,
            set_status_on_exception=False,
        )

    # The base class declares its own context-manager type; the protocol is the same.
    @contextlib.contextmanager
    def start_as_current_span(  # type: ignore[override]  # noqa: PLR0917
        self,
        name: str,
        context: Context | None = None,
        kind: trace.SpanKind = trace.SpanKind.INTERNAL,
        attributes: Attributes = None,
        links: Sequence[trace.Link] | None = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
        end_on_exit: bool = True,
    ) -> Iterator[trace.Span]:
        with self._tracer.start_as_current_span(
            name,
            context,
            kind,
            attributes,
            links,
            start_time,
            record_exception=False,
            set_status_on_exception=False,
            end_on_exit=end_on_exit,
        ) as span:
            yield span


class _NoExceptionDetailsTracerProvider(trace.TracerProvider):
    """Hands out the tracers of a provider (default: the process's), wrapped."""

    def __init__(self, provider: trace.TracerProvider | None = None) -> None:
        self._provider = provider

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: Attributes = None,
    ) -> trace.Tracer:
        provider = self._provider or trace.get_tracer_provider()
        return _NoExceptionDetailsTracer(
            provider.get_tracer(
                instrumenting_module_name, instrumenting_library_version, schema_url, attributes
            )
        )


def instrument_asyncpg(tracer_provider: trace.TracerProvider | None = None) -> None:
    """Traces asyncpg queries (idempotent) through ``tracer_provider`` or the global one.

    Call it once at start-up, after ``setup_telemetry``.
    """
    if not _instrumentor.is_instrumented_by_opentelemetry:
        _instrumentor.instrument(tracer_provider=_NoExceptionDetailsTracerProvider(tracer_provider))
