"""A child process that serves calls over a pipe, awaited from the event loop.

The parent's side of :func:`.edge_engine.serve`. A call is pickled and written by one sender
thread (a large write, such as an upsert of hundreds of chunks, waits for the child to read it
there, never on the event loop), and its answer is read by one reader thread, which completes
the call's future; the event loop neither pickles nor blocks. That is two thread
hand-offs per call, where ``concurrent.futures.ProcessPoolExecutor`` takes four (its manager and
feeder threads), about a millisecond each on a busy 2-core machine.

Calls are answered in the order they were sent. A call whose caller went away still runs (the
child cannot be interrupted mid-call); its answer is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError, ThreadPoolExecutor
from typing import Any


class EngineStopped(Exception):
    """The child process has exited (crashed, killed, or stopped by :meth:`stop`)."""


class EngineProcess:
    """``target(connection, *args)`` in a spawned child (never forked: the parent has gRPC's
    threads, which a fork must not copy); :meth:`call` and :meth:`call_blocking` reach it."""

    def __init__(self, target: Callable[..., None], *args: Any, name: str) -> None:
        context = multiprocessing.get_context("spawn")
        self._connection, child_end = context.Pipe()
        self._process = context.Process(
            target=target, args=(child_end, *args), name=name, daemon=True
        )
        self._process.start()
        child_end.close()
        self._pending: dict[int, Future[Any]] = {}
        self._ids = itertools.count()
        self._stopped = False
        self._sender = ThreadPoolExecutor(1, thread_name_prefix=f"{name}-send")
        self._reader = threading.Thread(target=self._read, name=f"{name}-read", daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def submit(self, method: str, *args: Any) -> Future[Any]:
        """Sends one call; its future completes with the child's answer."""
        if self._stopped:
            raise self._stopped_error()
        request_id = next(self._ids)
        future: Future[Any] = Future()
        self._pending[request_id] = future
        self._sender.submit(self._send, (request_id, method, args))
        return future

    async def call(self, method: str, *args: Any) -> Any:
        return await asyncio.wrap_future(self.submit(method, *args))

    def call_blocking(self, method: str, *args: Any) -> Any:
        """For start-up, before the event loop serves."""
        return self.submit(method, *args).result()

    def _send(self, request: tuple[int, str, tuple[Any, ...]]) -> None:
        try:
            self._connection.send(request)
        except (OSError, ValueError):  # the child is gone, or the pipe closed by stop()
            self._fail(self._pending.pop(request[0], None))

    def _read(self) -> None:
        while True:
            try:
                request_id, ok, value = self._connection.recv()
            except (EOFError, OSError):
                break
            future = self._pending.pop(request_id, None)
            if future is not None:
                with contextlib.suppress(InvalidStateError):  # its caller cancelled it
                    if ok:
                        future.set_result(value)
                    else:
                        future.set_exception(value)
        self._stopped = True
        while self._pending:
            self._fail(self._pending.popitem()[1])

    def _fail(self, future: Future[Any] | None) -> None:
        if future is not None:
            with contextlib.suppress(InvalidStateError):
                future.set_exception(self._stopped_error())

    def _stopped_error(self) -> EngineStopped:
        self._process.join(1.0)  # the pipe closes just before the process is gone
        return EngineStopped(
            f"the {self._process.name} process has exited (exit code {self._process.exitcode})"
        )

    def stop(self, timeout_s: float = 30.0) -> None:
        """Asks the child to return once the calls already sent are answered, waits for it
        (killing it after ``timeout_s``), and closes the pipe. Blocking."""
        if self._process.is_alive():
            with contextlib.suppress(OSError, ValueError, RuntimeError):
                self._sender.submit(self._connection.send, None).result()
            self._process.join(timeout_s)
            if self._process.is_alive():
                self._process.kill()
                self._process.join()
        self._sender.shutdown(wait=True)
        self._connection.close()
        self._reader.join()
