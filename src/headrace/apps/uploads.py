"""Uploads: the rules for `/v1/files/upload` (spec §5.10: names, extensions, size limits),
and keeping an upload's bytes and record, for every path that makes one."""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from headrace.apps.file_inputs import family_of
from headrace.errors import (
    FilenameNotExistsError,
    FileTooLargeError,
    InvalidParamError,
    UnsupportedFileTypeError,
)
from headrace.ids import new_id
from headrace.settings import Settings
from headrace.store.blobs import LocalBlobStore
from headrace.store.repos.files import FileRepo
from headrace.store.tables import UploadFile

FORBIDDEN_NAME_CHARS = frozenset('/\\:*?"<>|')
MAX_NAME_LENGTH = 200


@dataclass(frozen=True, slots=True)
class CheckedUpload:
    """A filename and type that passed the upload rules."""

    name: str
    extension: str
    mime_type: str


def size_limit_bytes(settings: Settings, extension: str) -> int:
    """The byte limit for a file of this extension's family."""
    family = family_of(extension)
    megabytes = {
        "image": settings.upload_image_file_size_limit_mb,
        "video": settings.upload_video_file_size_limit_mb,
        "audio": settings.upload_audio_file_size_limit_mb,
    }.get(family, settings.upload_file_size_limit_mb)
    return megabytes * 1024 * 1024


def check_upload(
    settings: Settings, filename: str | None, content_type: str | None
) -> CheckedUpload:
    """Validate the name and type of an uploaded part (before reading its bytes)."""
    if not content_type:
        raise UnsupportedFileTypeError()
    if not filename:
        raise FilenameNotExistsError()
    if any(ch in FORBIDDEN_NAME_CHARS for ch in filename):
        raise InvalidParamError("Filename contains invalid characters")
    stem, dot, ext = filename.rpartition(".")
    if not dot:
        stem, ext = filename, ""
    if len(filename) > MAX_NAME_LENGTH:
        keep = MAX_NAME_LENGTH - (len(ext) + 1 if ext else 0)
        filename = stem[:keep] + (f".{ext}" if ext else "")
    blocked = {
        e.strip().lower().lstrip(".")
        for e in settings.upload_file_extension_blacklist.split(",")
        if e.strip()
    }
    if ext.lower() in blocked:
        raise InvalidParamError(
            f"File extension '.{ext.lower()}' is not allowed for security reasons"
        )
    mime = content_type
    if mime == "application/octet-stream":
        mime = mimetypes.guess_type(filename)[0] or mime
    return CheckedUpload(name=filename, extension=ext.lower(), mime_type=mime)


def check_size(settings: Settings, extension: str, size: int) -> None:
    """Refuse a file above its family's limit."""
    if size > size_limit_bytes(settings, extension):
        raise FileTooLargeError()


async def keep_upload(
    session: AsyncSession, upload_dir: Path, prefix: str, data: bytes, **fields: Any
) -> UploadFile:
    """Store `data` under `<prefix>/<new id>` in the upload directory and add its record
    (`fields`: the record's other columns; id, storage key and size are set here)."""
    file_id = new_id()
    key = f"{prefix}/{file_id}"
    await LocalBlobStore(upload_dir).put(key, data)
    return await FileRepo(session).add_upload(id=file_id, storage_key=key, size=len(data), **fields)
