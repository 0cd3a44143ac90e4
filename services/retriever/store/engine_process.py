"""A child process that serves calls over a socket, awaited on the event loop.

The parent's side of :func:`.edge_engine.serve`. Each call and each answer is a pickled frame
(:mod:`.frames`). The event loop writes calls itself (asyncio buffers what the socket cannot take
yet, so a large upsert never blocks it) and reads the answers as they arrive: no thread stands
between a call and its answer. Threads did, one to send and one to read: a round trip to the
child took 0.30-0.35 ms that way and takes 0.12-0.15 ms now (measured side by side, one caller).

Calls are answered in the order they were sent. A call whose caller went away still runs (the
child cannot be interrupted mid-call); its answer is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import multiprocessing
import pickle
import socket
from collections.abc import Callable
from typing import Any

from services.retriever.store import frames

# Answers are read through a buffer of this size (asyncio's default is 64 KiB; a page of records
# with their vectors is megabytes).
READ_BUFFER = 1 << 20


class EngineStopped(Exception):
    """The child process has exited (crashed, killed, or stopped by :meth:`stop`)."""


class EngineProcess:
    """``target(connection, *args)`` in a spawned child (never forked: the parent has gRPC's
    threads, which a fork must not copy), ``connection`` being its end of a socket pair.

    :meth:`call_blocking` serves start-up, before the event loop's first :meth:`call`.
    """

    def __init__(self, target: Callable[..., None], *args: Any, name: str) -> None:
        context = multiprocessing.get_context("spawn")
        self._socket, child_end = socket.socketpair()
        self._process = context.Process(
            target=target, args=(child_end, *args), name=name, daemon=True
        )
        self._process.start()
        child_end.close()
        self._ids = itertools.count()
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._connecting: asyncio.Future[asyncio.StreamWriter] | None = None
        self._reading: asyncio.Task[None] | None = None
        self._stopped = False

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def call_blocking(self, method: str, *args: Any) -> Any:
        """One call, waited for on this thread (the socket is not on the event loop yet)."""
        if self._connecting is not None:
            raise RuntimeError("the engine is already called from the event loop")
        try:
            frames.send(self._socket, _pickled((next(self._ids), method, args)))
            _, ok, value = pickle.loads(frames.receive(self._socket))
        except (OSError, EOFError):
            raise self._stopped_error() from None
        if not ok:
            raise value
        return value

    async def call(self, method: str, *args: Any) -> Any:
        if self._stopped:
            raise await self._stopped_error_async()
        writer = await self._writer()
        request_id = next(self._ids)
        answer = asyncio.get_running_loop().create_future()
        self._pending[request_id] = answer
        try:
            try:
                writer.write(frames.frame(_pickled((request_id, method, args))))
                await writer.drain()
            except ConnectionError:  # the socket, not an error the engine answered with
                raise await self._stopped_error_async() from None
            return await answer
        finally:
            self._pending.pop(request_id, None)

    async def _writer(self) -> asyncio.StreamWriter:
        """The socket's writer on this event loop, connected by the first call."""
        if self._connecting is None:
            self._connecting = asyncio.ensure_future(self._connect())
        # Shielded: a cancelled first caller must not cancel the connection the others await.
        return await asyncio.shield(self._connecting)

    async def _connect(self) -> asyncio.StreamWriter:
        reader, writer = await asyncio.open_connection(sock=self._socket, limit=READ_BUFFER)
        self._reading = asyncio.create_task(self._read(reader), name=f"{self._process.name}-read")
        return writer

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                request_id, ok, value = pickle.loads(await frames.read(reader))
                answer = self._pending.get(request_id)
                if answer is not None and not answer.done():  # else its caller went away
                    if ok:
                        answer.set_result(value)
                    else:
                        answer.set_exception(value)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the child is gone
        self._stopped = True
        error = await self._stopped_error_async()
        for answer in self._pending.values():
            if not answer.done():
                answer.set_exception(error)

    def _stopped_error(self) -> EngineStopped:
        self._process.join(1.0)  # the socket closes just before the process is gone
        return EngineStopped(
            f"the {self._process.name} process has exited (exit code {self._process.exitcode})"
        )

    async def _stopped_error_async(self) -> EngineStopped:
        return await asyncio.to_thread(self._stopped_error)

    async def stop(self, timeout_s: float = 30.0) -> None:
        """Asks the child to return once the calls already sent are answered, waits for it
        (killing it after ``timeout_s``), and closes the socket."""
        if self._connecting is None:
            await asyncio.to_thread(self.stop_blocking, timeout_s)
            return
        writer = await self._writer()
        if not self._stopped:
            writer.write(frames.frame(_pickled(None)))
            with contextlib.suppress(ConnectionError):  # already gone
                await writer.drain()
        await asyncio.to_thread(self._join, timeout_s)
        writer.close()
        if self._reading is not None:
            await self._reading

    def stop_blocking(self, timeout_s: float = 30.0) -> None:
        """:meth:`stop` before the event loop's first call."""
        with contextlib.suppress(OSError):  # already gone
            frames.send(self._socket, _pickled(None))
        self._join(timeout_s)
        self._socket.close()

    def _join(self, timeout_s: float) -> None:
        self._process.join(timeout_s)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()


def _pickled(value: Any) -> bytes:
    return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
