"""Random ids: row ids (UUID4 text) and trace ids (32 hex digits).

The randomness comes from the OS (`os.urandom`), unpredictable as `uuid.uuid4()`'s, but read
4 KiB at a time per thread: `os.urandom` lets go of the GIL around its system call, and on a
busy server the event loop then waited for another thread (the SQLite writer, a database
driver's) to hand the GIL back, up to the 5 ms switch interval, several times a request.
A forked child starts with an empty buffer, so parent and child never share bytes.
"""

from __future__ import annotations

import os
import threading

_CHUNK = 4096


class _RandomBuffer(threading.local):
    def __init__(self) -> None:
        self.data = b""
        self.pos = 0


_buffer = _RandomBuffer()


def _forget_buffer() -> None:
    _buffer.data = b""
    _buffer.pos = 0


os.register_at_fork(after_in_child=_forget_buffer)


def random_bytes16() -> bytes:
    """16 random bytes from the OS."""
    buffer = _buffer
    start = buffer.pos
    if start + 16 > len(buffer.data):
        buffer.data = os.urandom(_CHUNK)
        start = 0
    buffer.pos = start + 16
    return buffer.data[start : start + 16]


def new_id() -> str:
    """A fresh UUID4 string, the same text as `str(uuid.uuid4())` (without the `UUID` object,
    which cost half of its 2 µs)."""
    raw = bytearray(random_bytes16())
    raw[6] = raw[6] & 0x0F | 0x40  # version 4
    raw[8] = raw[8] & 0x3F | 0x80  # RFC 4122 variant
    digits = raw.hex()
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


def new_hex_id() -> str:
    """32 random hex digits (trace ids)."""
    return random_bytes16().hex()
