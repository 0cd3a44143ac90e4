"""Helpers of the health tests: a recorder of a Watch stream, and the embedded PostgreSQL of a
folder stopped and started again from outside the services that use it."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
WAIT_S = 60.0  # a flip is seen within a few check intervals; the machine may be loaded


class WatchRecorder:
    """Every status a ``Health/Watch`` stream sends, in order, read by a background task."""

    def __init__(self, channel: grpc.aio.Channel, service: str) -> None:
        self.service = service
        self.statuses: list[int] = []
        self._changed = asyncio.Event()
        self._call = health_pb2_grpc.HealthStub(channel).Watch(
            health_pb2.HealthCheckRequest(service=service)
        )
        self._task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        async for reply in self._call:
            self.statuses.append(reply.status)
            self._changed.set()

    async def until(self, status: int, timeout_s: float = WAIT_S) -> None:
        """Returns once the last status sent is ``status``."""
        async with asyncio.timeout(timeout_s):
            while not self.statuses or self.statuses[-1] != status:
                if self._task.done():
                    self._task.result()  # the stream failed: raise its error
                    raise AssertionError(f"the Watch of {self.service!r} ended")
                self._changed.clear()
                await self._changed.wait()

    async def close(self) -> None:
        self._call.cancel()
        with contextlib.suppress(asyncio.CancelledError, grpc.aio.AioRpcError):
            await self._task


@contextlib.asynccontextmanager
async def watching(address: str, *services: str) -> AsyncIterator[tuple[WatchRecorder, ...]]:
    """One recorder per health name of the server at ``address``."""
    async with grpc.aio.insecure_channel(address) as channel:
        recorders = tuple(WatchRecorder(channel, service) for service in services)
        try:
            yield recorders
        finally:
            for recorder in recorders:
                await recorder.close()


async def check(address: str, service: str) -> int:
    """The status a ``Health/Check`` of ``service`` answers now."""
    async with grpc.aio.insecure_channel(address) as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=service), timeout=10
        )
    return int(reply.status)


async def start_embedded_postgres(pg_data_dir: Path) -> None:
    """Starts the embedded server of ``pg_data_dir`` again, as a service would (same socket, so
    the services' URLs still point at it), from a process of its own: the server outlives it,
    still owned by the services that opened it."""
    code = (
        "import sys; from pathlib import Path; "
        "from services.common.database import start_embedded; start_embedded(Path(sys.argv[1]))"
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code,
        str(pg_data_dir),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    assert process.returncode == 0, output.decode(errors="replace")
