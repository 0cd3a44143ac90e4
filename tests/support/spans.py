"""Reading finished spans the way a collector would see them, for privacy assertions."""

from __future__ import annotations

from opentelemetry.sdk.trace import ReadableSpan


def everything_recorded(span: ReadableSpan) -> str:
    """Every string a span exports: name, attributes, events and the status description."""
    parts = [span.name, str(span.status.description or "")]
    parts += [f"{key}={value!r}" for key, value in (span.attributes or {}).items()]
    for event in span.events:
        parts.append(event.name)
        parts += [f"{key}={value!r}" for key, value in (event.attributes or {}).items()]
    return "\n".join(parts)
