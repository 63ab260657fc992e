"""The frames a worker and the runner exchange: a 4-byte length, then a pickle.

Only plain data travels (str, int, float, tuples, lists, dicts, None): a
test's id, its outcome, its formatted traceback, what it printed and how
long it took, never a test object or an exception, so nothing a test makes
has to be picklable.
"""

from __future__ import annotations

import pickle
import struct
from typing import Any, BinaryIO

__all__ = ("read_frame", "write_frame")

_HEADER = struct.Struct("!I")


def write_frame(stream: BinaryIO, message: Any) -> None:
    """Write one message and flush."""
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


def read_frame(stream: BinaryIO) -> Any:
    """Read one message; raise EOFError at the end of the stream (or a stream cut short)."""
    header = _read_exactly(stream, _HEADER.size)
    (size,) = _HEADER.unpack(header)
    return pickle.loads(_read_exactly(stream, size))


def _read_exactly(stream: BinaryIO, size: int) -> bytes:
    chunks = []
    while size:
        chunk = stream.read(size)
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)

