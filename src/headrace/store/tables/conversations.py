"""End users, conversations, messages and feedback."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from headrace.store.tables.base import Base, created_column, id_column, updated_column


class EndUser(Base):
    """The caller named by `user`, one per (app, user string, source type)."""

    __tablename__ = "end_users"
    __table_args__ = (UniqueConstraint("app_id", "type", "session_id", name="uq_end_users_key"),)

    id: Mapped[str] = id_column()
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"))
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id"))
    type: Mapped[str] = mapped_column(String(32), default="service-api")
    external_user_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    session_id: Mapped[str] = mapped_column(String(255))
    is_anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = updated_column()


class Conversation(Base):
    """A chat thread of one end user with one app."""

    __tablename__ = "conversations"
    __table_args__ = (
        Index("ix_conversations_owner", "app_id", "end_user_id", "from_source", "is_deleted"),
    )

    id: Mapped[str] = id_column()
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id"))
    end_user_id: Mapped[str] = mapped_column(ForeignKey("end_users.id"))
    from_source: Mapped[str] = mapped_column(String(16), default="api")
    mode: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(255), default="")
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    introduction: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="normal")
    dialogue_count: Mapped[int] = mapped_column(Integer, default=0)
    is_deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = updated_column()


class Message(Base):
    """One turn: the query, the answer, its status and its usage."""

    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_conversation", "conversation_id", "created_at"),)

    id: Mapped[str] = id_column()
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id"), index=True)
    conversation_id: Mapped[str | None] = mapped_column(
        ForeignKey("conversations.id"), nullable=True
    )
    end_user_id: Mapped[str] = mapped_column(ForeignKey("end_users.id"))
    from_source: Mapped[str] = mapped_column(String(16), default="api")
    mode: Mapped[str] = mapped_column(String(32))
    task_id: Mapped[str] = mapped_column(String(36))
    parent_message_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    query: Mapped[str] = mapped_column(Text, default="")
    answer: Mapped[str] = mapped_column(Text, default="")
    files: Mapped[list[Any]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="normal")
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    model_provider: Mapped[str] = mapped_column(String(255), default="")
    model_id: Mapped[str] = mapped_column(String(255), default="")
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    prompt_unit_price: Mapped[str] = mapped_column(String(32), default="0")
    completion_unit_price: Mapped[str] = mapped_column(String(32), default="0")
    price_unit: Mapped[str] = mapped_column(String(32), default="0.000001")
    total_price: Mapped[str] = mapped_column(String(32), default="0")
    currency: Mapped[str] = mapped_column(String(8), default="USD")
    latency: Mapped[float] = mapped_column(Float, default=0.0)
    suggested_questions: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    workflow_run_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    retriever_resources: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = updated_column()


class ConversationVariable(Base):
    """A chatflow conversation variable's current value in one conversation."""

    __tablename__ = "conversation_variables"
    __table_args__ = (
        UniqueConstraint("conversation_id", "name", name="uq_conversation_variables_name"),
    )

    #: The declared variable's id (shared by every conversation of the app), as in Dify.
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("conversations.id"), primary_key=True, index=True
    )
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id"))
    name: Mapped[str] = mapped_column(String(255))
    value_type: Mapped[str] = mapped_column(String(32))
    value: Mapped[Any] = mapped_column(JSON, nullable=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = updated_column()


class MessageFeedback(Base):
    """A like/dislike of a message by its end user."""

    __tablename__ = "message_feedbacks"
    __table_args__ = (UniqueConstraint("message_id", "from_source", name="uq_feedback_message"),)

    id: Mapped[str] = id_column()
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id"), index=True)
    conversation_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    message_id: Mapped[str] = mapped_column(ForeignKey("messages.id"))
    rating: Mapped[str] = mapped_column(String(16))
    content: Mapped[str | None] = mapped_column(Text, nullable=True)
    from_source: Mapped[str] = mapped_column(String(16), default="user")
    from_end_user_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    from_account_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = updated_column()
