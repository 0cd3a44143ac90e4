"""OpenTelemetry spans for asyncpg queries, with no patient value on them.

``AsyncPGInstrumentor`` makes one CLIENT span per query with the SQL text (``db.statement``).
That is safe here because every statement is parameterised: values travel as bind parameters,
which the instrumentor records only with ``capture_parameters=True`` (left off). One leak
remains in the stock set-up: a failing query's span records the exception, and the message of
an asyncpg error may quote a value (a DETAIL line, or "invalid input for query argument $1:
<value>"). The instrumentor is therefore given the project's private tracers
(:class:`services.common.telemetry.PrivateTracerProvider`): the span still ends with status
ERROR, described by the exception's type alone.
"""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

from services.common.telemetry import PrivateTracerProvider

_instrumentor = AsyncPGInstrumentor(capture_parameters=False)  # type: ignore[no-untyped-call]


def instrument_asyncpg(tracer_provider: trace.TracerProvider | None = None) -> None:
    """Traces asyncpg queries (idempotent) through ``tracer_provider`` or the global one.

    Call it once at start-up, after ``setup_telemetry``.
    """
    if not _instrumentor.is_instrumented_by_opentelemetry:
        _instrumentor.instrument(tracer_provider=PrivateTracerProvider(tracer_provider))
