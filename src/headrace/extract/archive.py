"""Zip-bomb guard for ZIP-based formats (.docx, .xlsx, .pptx, .epub).

Only the central directory is read: the declared uncompressed sizes are summed and checked
before any parser inflates a member. Python's ``zipfile`` never inflates a member past its
declared size (it stops there and the CRC check fails), so the declared sizes are a real bound.
"""

from __future__ import annotations

import io
import zipfile

from .base import MIB, ExtractionError, ExtractLimits, format_size, not_a
from .compound import OLE_MAGIC

_ALLOWED_METHODS = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED})
_RATIO_FLOOR = MIB  # members smaller than this are never refused for their ratio


def open_zip(data: bytes, limits: ExtractLimits, kind: str) -> zipfile.ZipFile:
    """Open ``data`` as a ZIP archive after checking it cannot expand beyond the limits.

    ``kind`` names the format in messages ("Word document", "EPUB", ...).
    """
    if data.startswith(OLE_MAGIC):
        # Office wraps password-protected OOXML files in an OLE container.
        raise ExtractionError(
            f"Could not read {kind}: it is password-protected or in an old binary format"
        )
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as exc:
        raise ExtractionError(not_a(kind)) from exc
    try:
        check_zip(archive, limits, kind)
    except BaseException:
        archive.close()
        raise
    return archive


def check_zip(archive: zipfile.ZipFile, limits: ExtractLimits, kind: str) -> None:
    """Refuse archives with too many members, odd compression or a suspicious expansion."""
    members = archive.infolist()
    if len(members) > limits.max_zip_entries:
        raise ExtractionError(
            f"Could not read {kind}: it contains {len(members):,} parts; "
            f"the limit is {limits.max_zip_entries:,}"
        )
    total = 0
    for member in members:
        if member.compress_type not in _ALLOWED_METHODS:
            raise ExtractionError(f"Could not read {kind}: it uses an unsupported compression")
        total += member.file_size
        if total > limits.max_unzipped_bytes:
            raise ExtractionError(
                f"Could not read {kind}: its contents expand to more than "
                f"{format_size(limits.max_unzipped_bytes)}"
            )
        if (
            member.file_size > _RATIO_FLOOR
            and member.file_size > max(member.compress_size, 1) * limits.max_compression_ratio
        ):
            raise ExtractionError(
                f"Could not read {kind}: a part is compressed more than "
                f"{limits.max_compression_ratio}:1 (possible zip bomb)"
            )


def read_member(archive: zipfile.ZipFile, name: str, kind: str) -> bytes:
    """Read one member; a missing or corrupt member becomes an :class:`ExtractionError`."""
    try:
        return archive.read(name)
    except KeyError as exc:
        raise ExtractionError(f"Could not read {kind}: it is missing {name}") from exc
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as exc:
        raise ExtractionError(f"Could not read {kind}: file is damaged") from exc
