"""Workspaces, apps and API tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from headrace.store.tables.base import Base, created_column, id_column, updated_column


class Workspace(Base):
    """A tenant: owns apps, keys, provider credentials and uploads."""

    __tablename__ = "workspaces"

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default="normal")
    created_at: Mapped[datetime] = created_column()


class App(Base):
    """An LLM application of one mode (chat, completion, agent-chat, advanced-chat, workflow)."""

    __tablename__ = "apps"

    id: Mapped[str] = id_column()
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    mode: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    icon_type: Mapped[str | None] = mapped_column(String(16), default="emoji")
    icon: Mapped[str | None] = mapped_column(String(255), default="🤖")
    icon_background: Mapped[str | None] = mapped_column(String(32), default="#FFEAD5")
    use_icon_as_answer_icon: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="normal")
    enable_api: Mapped[bool] = mapped_column(Boolean, default=True)
    max_active_requests: Mapped[int | None] = mapped_column(Integer, nullable=True)
    model_config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    tags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = updated_column()


class ApiToken(Base):
    """An API key, stored as its SHA-256 digest; `type` is `app` or `dataset`."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = id_column()
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), index=True)
    app_id: Mapped[str | None] = mapped_column(ForeignKey("apps.id"), nullable=True, index=True)
    type: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hint: Mapped[str] = mapped_column(String(32))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    created_at: Mapped[datetime] = created_column()
