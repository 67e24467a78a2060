"""`POST /v1/files/upload` and `GET /v1/files/{file_id}/preview` (spec §5.10)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import UploadFile as StarletteUpload

from headrace.apps.uploads import check_size, check_upload, keep_upload, size_limit_bytes
from headrace.crypto import sign_file_url
from headrace.errors import (
    FileAccessDeniedError,
    FileNotFoundDomainError,
    NoFileUploadedError,
    TooManyFilesError,
)
from headrace.http.deps import app_from_key, container_of, end_user_for, user_arg
from headrace.store.blobs import LocalBlobStore
from headrace.store.repos.files import FileRepo
from headrace.store.tables import App
from headrace.store.tables.base import to_unix

router = APIRouter()
CHUNK = 1 << 16
INLINE_UNSAFE = ("text/html", "application/xhtml+xml", "image/svg+xml")


async def _read_bounded(
    part: StarletteUpload, limit: int, extension: str, request: Request
) -> bytes:
    data = bytearray()
    while chunk := await part.read(CHUNK):
        data.extend(chunk)
        if len(data) > limit:
            check_size(container_of(request).settings, extension, len(data))
    return bytes(data)


@router.post("/files/upload", status_code=201, summary="Upload a file")
async def upload_file(request: Request, app: Annotated[App, Depends(app_from_key)]) -> JSONResponse:
    """Store one file for later use in messages."""
    container = container_of(request)
    settings = container.settings
    form = await request.form(max_files=10, max_part_size=1024 * 1024)
    parts = [v for k, v in form.multi_items() if k == "file" and isinstance(v, StarletteUpload)]
    if not parts:
        raise NoFileUploadedError()
    if len(parts) > 1:
        raise TooManyFilesError()
    part = parts[0]
    user_value = form.get("user")
    end_user = await end_user_for(
        request, app, user_arg(user_value if isinstance(user_value, str) else None, False)
    )
    checked = check_upload(settings, part.filename, part.content_type)
    data = await _read_bounded(
        part, size_limit_bytes(settings, checked.extension), checked.extension, request
    )
    async with container.db.session() as session:
        row = await keep_upload(
            session,
            settings.upload_dir,
            app.workspace_id,
            data,
            workspace_id=app.workspace_id,
            app_id=app.id,
            name=checked.name,
            extension=checked.extension,
            mime_type=checked.mime_type,
            created_by=end_user.id,
        )
    body: dict[str, Any] = {
        "id": row.id,
        "reference": None,
        "name": row.name,
        "size": row.size,
        "extension": row.extension,
        "mime_type": row.mime_type,
        "created_by": end_user.id,
        "created_at": to_unix(row.created_at),
        "preview_url": None,
        "source_url": sign_file_url(settings.files_url, row.id, settings.secret_key),
        "original_url": None,
        "user_id": None,
        "tenant_id": app.workspace_id,
        "conversation_id": None,
        "file_key": None,
    }
    return JSONResponse(body, status_code=201)


@router.get("/files/{file_id}/preview", summary="Download an uploaded file")
async def preview_file(
    request: Request,
    file_id: uuid.UUID,
    app: Annotated[App, Depends(app_from_key)],
    user: str | None = None,
    as_attachment: bool = False,
) -> Response:
    """The bytes of an upload that a message of this app references."""
    container = container_of(request)
    async with container.db.session() as session:
        repo = FileRepo(session)
        upload = await repo.upload(str(file_id))
        if upload is None:
            raise FileNotFoundDomainError("Upload file record not found")
        apps = await repo.referencing_app_ids(upload.id)
    if not apps:
        raise FileNotFoundDomainError()
    if app.id not in apps:
        raise FileAccessDeniedError()
    if upload.workspace_id != app.workspace_id:
        raise FileAccessDeniedError("File access denied: tenant mismatch")
    try:
        data = await LocalBlobStore(container.settings.upload_dir).get(upload.storage_key)
    except OSError as exc:
        raise FileNotFoundDomainError(f"Failed to load file content: {exc.strerror}") from None
    headers = {"Cache-Control": "public, max-age=3600"}
    media_type = upload.mime_type
    if as_attachment or media_type.startswith(INLINE_UNSAFE):
        headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(upload.name)}"
        media_type = "application/octet-stream" if as_attachment else media_type
    if media_type.startswith(("audio/", "video/")):
        headers["Accept-Ranges"] = "bytes"
    return Response(data, media_type=media_type, headers=headers)
