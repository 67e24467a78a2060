"""Bounded access to OLE compound files (legacy .xls, Outlook .msg) through olefile.

olefile reads sector chains with a fixed-length loop, but the length comes from the size a
stream declares, so a forged size plus a looping chain could make it read gigabytes. Every read
here first checks the declared size against the file's own size.
"""

from __future__ import annotations

import io

import olefile

from .base import ExtractionError, not_a

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def open_ole(data: bytes, kind: str) -> olefile.OleFileIO[str]:
    """Open ``data`` as a compound file; anything else is "damaged or not a <kind>"."""
    if not data.startswith(OLE_MAGIC):
        raise ExtractionError(not_a(kind))
    try:
        return olefile.OleFileIO(io.BytesIO(data))
    except (OSError, ValueError, IndexError, KeyError, TypeError) as exc:
        raise ExtractionError(f"Could not read {kind}: file is damaged") from exc


def read_stream(ole: olefile.OleFileIO[str], path: str, kind: str, max_size: int) -> bytes | None:
    """The stream's bytes, ``None`` when absent; refuses a declared size over ``max_size``."""
    if not ole.exists(path):
        return None
    if ole.get_size(path) > max_size:
        raise ExtractionError(f"Could not read {kind}: file is damaged")
    with ole.openstream(path) as stream:
        return stream.read()
