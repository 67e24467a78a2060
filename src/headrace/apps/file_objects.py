"""File mappings of a request (spec §5.1.2) turned into the file objects a workflow sees
(spec §8.5), and the upload lookups both easy-UI and workflow runs share."""

from __future__ import annotations

import mimetypes
import uuid
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlparse

from sqlalchemy.ext.asyncio import AsyncSession

from headrace.crypto import sign_file_url
from headrace.errors import InvalidParamError
from headrace.settings import Settings
from headrace.store.repos.files import FileRepo
from headrace.store.tables import App, UploadFile

FILE_IDENTITY = "__dify__file__"


async def resolve_upload(session: AsyncSession, app: App, raw_id: Any) -> UploadFile:
    """The upload named by a mapping, checked to belong to the app's workspace."""
    if not raw_id:
        raise InvalidParamError("Invalid upload file id")
    try:
        uuid.UUID(str(raw_id))
    except ValueError:
        raise InvalidParamError("Invalid upload file id format") from None
    upload = await FileRepo(session).upload(str(raw_id))
    if upload is None or upload.workspace_id != app.workspace_id:
        raise InvalidParamError("Invalid upload file")
    return upload


async def file_object(
    session: AsyncSession, settings: Settings, app: App, mapping: Mapping[str, Any]
) -> dict[str, Any]:
    """The workflow file object of one mapping (validated)."""
    method = mapping.get("transfer_method")
    if not method:
        raise InvalidParamError("transfer_method is required in file mapping")
    kind = str(mapping.get("type") or "custom")
    if method == "remote_url":
        url = mapping.get("url") or mapping.get("remote_url")
        if not url:
            raise InvalidParamError("Invalid file url")
        name = PurePosixPath(urlparse(str(url)).path).name
        extension = PurePosixPath(name).suffix
        return {
            "dify_model_identity": FILE_IDENTITY,
            "id": None,
            "type": kind,
            "transfer_method": "remote_url",
            "remote_url": str(url),
            "reference": None,
            "filename": name,
            "extension": extension,
            "mime_type": mimetypes.guess_type(name)[0],
            "size": -1,
            "related_id": None,
            "url": str(url),
        }
    if method == "local_file":
        upload = await resolve_upload(session, app, mapping.get("upload_file_id"))
        return {
            "dify_model_identity": FILE_IDENTITY,
            "id": upload.id,
            "type": kind,
            "transfer_method": "local_file",
            "remote_url": None,
            "reference": None,
            "filename": upload.name,
            "extension": f".{upload.extension}" if upload.extension else "",
            "mime_type": upload.mime_type,
            "size": upload.size,
            "related_id": upload.id,
            "url": sign_file_url(settings.files_url, upload.id, settings.secret_key),
        }
    raise InvalidParamError(f"File validation failed for file: {mapping.get('url', '')}")
