"""File mappings given with a turn (spec §5.1.2): validated, and images made into
vision inputs (remote URLs as given, uploads as data URLs).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from headrace.apps.app_config import AppConfig
from headrace.apps.file_objects import resolve_upload
from headrace.errors import InvalidParamError
from headrace.providers.types import ImagePart
from headrace.store.blobs import LocalBlobStore
from headrace.store.tables import App, EndUser

if TYPE_CHECKING:
    from headrace.container import Container

EXTENSION_FAMILIES: dict[str, frozenset[str]] = {
    "image": frozenset({"jpg", "jpeg", "png", "webp", "gif", "svg"}),
    "video": frozenset({"mp4", "mov", "mpeg", "webm"}),
    "audio": frozenset({"mp3", "m4a", "wav", "amr", "mpga"}),
    "document": frozenset(
        {
            "txt",
            "markdown",
            "md",
            "mdx",
            "pdf",
            "html",
            "htm",
            "xlsx",
            "xls",
            "docx",
            "csv",
            "vtt",
            "properties",
        }
    ),
}


def family_of(extension: str) -> str:
    """The file-type family of an extension (`custom` when none matches)."""
    ext = extension.lower().lstrip(".")
    for family, extensions in EXTENSION_FAMILIES.items():
        if ext in extensions:
            return family
    return "custom"


def _upload_limits(config: AppConfig) -> tuple[int, bool]:
    upload = config.file_upload
    image = upload.get("image") if isinstance(upload.get("image"), dict) else {}
    limit = upload.get("number_limits") or (image or {}).get("number_limits") or 3
    return int(limit), bool(upload.get("enabled"))


async def resolve_files(
    session: AsyncSession,
    container: Container,
    app: App,
    end_user: EndUser,
    config: AppConfig,
    files: Sequence[Any],
) -> list[ImagePart]:
    """Validate the turn's files; return the images to show the model."""
    if not files or not config.vision_enabled:
        return []
    limit, general = _upload_limits(config)
    if len(files) > limit:
        what = "files" if general else "image files"
        raise InvalidParamError(f"Number of {what} exceeds the maximum limit {limit}")
    detail = str((config.file_upload.get("image") or {}).get("detail") or "high")
    images: list[ImagePart] = []
    store = LocalBlobStore(container.settings.upload_dir)
    for mapping in files:
        if not isinstance(mapping, dict):
            raise InvalidParamError("transfer_method is required in file mapping")
        method = mapping.get("transfer_method")
        if not method:
            raise InvalidParamError("transfer_method is required in file mapping")
        declared = str(mapping.get("type") or "image")
        if method == "remote_url":
            url = mapping.get("url") or mapping.get("remote_url")
            if not url:
                raise InvalidParamError("Invalid file url")
            if declared == "image":
                images.append(ImagePart(str(url), _detail(detail)))
        elif method == "local_file":
            upload = await resolve_upload(session, app, mapping.get("upload_file_id"))
            if declared != "custom" and family_of(upload.extension) != declared:
                raise InvalidParamError(
                    "Detected file type does not match the specified type. Please verify the file."
                )
            if declared == "image":
                data = await store.get(upload.storage_key)
                encoded = base64.b64encode(data).decode()
                images.append(
                    ImagePart(f"data:{upload.mime_type};base64,{encoded}", _detail(detail))
                )
        else:
            raise InvalidParamError(f"File validation failed for file: {mapping.get('url', '')}")
    return images


def _detail(value: str) -> Any:
    return value if value in ("low", "high", "auto") else "high"
