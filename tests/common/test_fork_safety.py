"""gRPC's fork handlers stay off in the services (see ``services/__init__``)."""

from __future__ import annotations

from pathlib import Path

from services.launcher import start_service
from tests.support.otlp_receiver import OtlpReceiver


async def test_starting_embedded_postgres_runs_no_grpc_fork_handlers(tmp_path: Path) -> None:
    """The retriever forks (``initdb``, ``pg_ctl``) after gRPC is running (its trace exporter).
    With the handlers on, gRPC logs each fork at INFO from ``fork_posix.cc``."""
    receiver = await OtlpReceiver.start()
    service = await start_service(
        "retriever",
        {
            "GRPC_VERBOSITY": "INFO",
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "RETRIEVER_QDRANT_PATH": str(tmp_path / "qdrant"),
            "EMBEDDER_ADDR": "127.0.0.1:9",  # nothing listens there
        },
    )
    try:
        assert not [line for line in service.log_lines if "fork_posix" in line]
    finally:
        assert await service.stop() == 0
        await receiver.stop()
