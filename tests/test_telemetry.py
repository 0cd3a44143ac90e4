"""The one privacy rule of spans: an exception's type is recorded, never its message."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from services.common.telemetry import PrivateTracerProvider
from tests.support.spans import everything_recorded

SECRET = "Zebulon-Quartermaine-1931 potassium 6.1"


@pytest.mark.parametrize("asked_to_record", [True, False])
def test_a_failed_span_records_the_type_never_the_message(asked_to_record: bool) -> None:
    exporter = InMemorySpanExporter()
    sdk = TracerProvider()
    sdk.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = PrivateTracerProvider(sdk).get_tracer("test")

    with (
        pytest.raises(ValueError, match="Zebulon"),
        tracer.start_as_current_span(
            "current", record_exception=asked_to_record, set_status_on_exception=asked_to_record
        ),
    ):
        raise ValueError(SECRET)
    manual = tracer.start_span("manual", record_exception=asked_to_record)
    with pytest.raises(KeyError), manual:  # the SDK's own exit path for a started span
        raise KeyError(SECRET)

    spans = {span.name: span for span in exporter.get_finished_spans()}
    assert set(spans) == {"current", "manual"}
    assert spans["current"].status.status_code is StatusCode.ERROR
    assert spans["current"].status.description == "ValueError"
    for span in spans.values():
        assert not span.events
        assert "Zebulon" not in everything_recorded(span)
