"""Traces you can see without a collector: an in-process OTLP receiver, a span tree drawn in the
terminal, and ``python -m services.tracing`` (``make trace``), which traces one briefing."""
