"""The OTLP receiver the tests export their services' spans to: the one ``make trace`` uses
(:mod:`services.tracing.receiver`), under the name the tests import it by."""

from services.tracing.receiver import OtlpReceiver, ReceivedSpan

__all__ = ["OtlpReceiver", "ReceivedSpan"]
