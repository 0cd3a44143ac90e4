"""Length-prefixed frames over a stream socket: the edge engine's calls and answers.

Each frame is its payload's length (8 bytes, big-endian) and the payload. The child reads and
writes them on a blocking socket; the parent, on the event loop, through asyncio streams.
"""

from __future__ import annotations

import socket
import struct
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the child, which reads with sockets only, is spared importing asyncio
    import asyncio

_LENGTH = struct.Struct("!Q")


def frame(payload: bytes) -> bytes:
    return _LENGTH.pack(len(payload)) + payload


def send(connection: socket.socket, payload: bytes) -> None:
    # One write, so the reader wakes once for the whole frame rather than for its header first.
    connection.sendall(frame(payload))


def receive(connection: socket.socket) -> bytearray:
    """The next frame's payload; EOFError when the other end has closed."""
    (length,) = _LENGTH.unpack(_exactly(connection, _LENGTH.size))
    return _exactly(connection, length)


def _exactly(connection: socket.socket, size: int) -> bytearray:
    received = bytearray(size)
    view = memoryview(received)
    done = 0
    while done < size:
        got = connection.recv_into(view[done:])
        if not got:
            raise EOFError
        done += got
    return received


async def read(reader: asyncio.StreamReader) -> bytes:
    """The next frame's payload; asyncio.IncompleteReadError when the other end has closed."""
    (length,) = _LENGTH.unpack(await reader.readexactly(_LENGTH.size))
    return await reader.readexactly(length)
