"""Uploaded files and the messages that reference them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from headrace.store.tables import Message, MessageFile, UploadFile


class FileRepo:
    """Upload rows and message-file links."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add_upload(self, **fields: Any) -> UploadFile:
        """Insert an upload record."""
        row = UploadFile(**fields)
        self.session.add(row)
        await self.session.flush()
        return row

    async def upload(self, file_id: str) -> UploadFile | None:
        """An upload by id."""
        return await self.session.get(UploadFile, file_id)

    async def referencing_app_ids(self, upload_file_id: str) -> set[str]:
        """Apps whose messages reference the upload."""
        rows = await self.session.scalars(
            select(Message.app_id)
            .join(MessageFile, MessageFile.message_id == Message.id)
            .where(MessageFile.upload_file_id == upload_file_id)
        )
        return set(rows)

    async def of_messages(self, ids: Sequence[str]) -> dict[str, list[MessageFile]]:
        """Message files keyed by message id."""
        rows = await self.session.scalars(
            select(MessageFile).where(MessageFile.message_id.in_(ids))
        )
        grouped: dict[str, list[MessageFile]] = {}
        for row in rows:
            grouped.setdefault(row.message_id, []).append(row)
        return grouped
