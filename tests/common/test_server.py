"""The shared server bootstrap, through a real service process."""

from __future__ import annotations

from pathlib import Path

from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.common.credentials import process_credentials
from services.launcher import start_service
from tests.support.otlp_receiver import OtlpReceiver


async def test_health_watch_works_with_tracing_on(tmp_path: Path) -> None:
    """OpenTelemetry's server interceptor iterates stream handlers; Watch writes instead."""
    receiver = await OtlpReceiver.start()
    service = await start_service(
        "retriever",
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "RETRIEVER_QDRANT_PATH": str(tmp_path / "qdrant"),
            "EMBEDDER_ADDR": "127.0.0.1:9",  # nothing listens there
        },
    )
    try:
        async with process_credentials().open_channel(service.address) as channel:
            watch = health_pb2_grpc.HealthStub(channel).Watch(
                health_pb2.HealthCheckRequest(), timeout=10
            )
            first = await watch.read()
            watch.cancel()
        # Watch answers; and truthfully: without its embedder the retriever cannot search.
        assert first.status == health_pb2.HealthCheckResponse.NOT_SERVING
    finally:
        assert await service.stop() == 0
        await receiver.stop()
