"""Uploaded files and their use in messages."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from headrace.store.tables.base import Base, created_column, id_column


class UploadFile(Base):
    """A file uploaded through `/v1/files/upload`, bytes kept under `storage_key`."""

    __tablename__ = "upload_files"

    id: Mapped[str] = id_column()
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"))
    app_id: Mapped[str | None] = mapped_column(ForeignKey("apps.id"), nullable=True)
    storage_key: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(Integer)
    extension: Mapped[str] = mapped_column(String(32))
    mime_type: Mapped[str] = mapped_column(String(255))
    created_by_role: Mapped[str] = mapped_column(String(16), default="end_user")
    created_by: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[datetime] = created_column()


class MessageFile(Base):
    """A file attached to a message (by the user, or produced for the assistant)."""

    __tablename__ = "message_files"

    id: Mapped[str] = id_column()
    message_id: Mapped[str] = mapped_column(ForeignKey("messages.id"), index=True)
    type: Mapped[str] = mapped_column(String(16))
    transfer_method: Mapped[str] = mapped_column(String(16))
    url: Mapped[str | None] = mapped_column(Text, nullable=True)
    upload_file_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    belongs_to: Mapped[str] = mapped_column(String(16), default="user")
    created_at: Mapped[datetime] = created_column()
