"""Conversations and their messages, as seen by one end user through the Service API."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from headrace.store.repos.turns import finish_message
from headrace.store.tables import Conversation, Message
from headrace.store.tables.base import utcnow

SORT_FIELDS = {
    "created_at": (Conversation.created_at, False),
    "-created_at": (Conversation.created_at, True),
    "updated_at": (Conversation.updated_at, False),
    "-updated_at": (Conversation.updated_at, True),
}


class ConversationRepo:
    """Conversation rows visible to one end user of one app."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def _visible(self, app_id: str, end_user_id: str) -> list[ColumnElement[bool]]:
        return [
            Conversation.app_id == app_id,
            Conversation.end_user_id == end_user_id,
            Conversation.from_source == "api",
            Conversation.is_deleted.is_(False),
        ]

    async def get_visible(
        self, app_id: str, end_user_id: str, conversation_id: str
    ) -> Conversation | None:
        """The conversation if this end user may see it."""
        return await self.session.scalar(
            select(Conversation).where(
                Conversation.id == conversation_id, *self._visible(app_id, end_user_id)
            )
        )

    async def page(
        self, app_id: str, end_user_id: str, last: Conversation | None, limit: int, sort_by: str
    ) -> tuple[list[Conversation], bool]:
        """One page in `sort_by` order after `last`; the flag says whether more exist."""
        column, descending = SORT_FIELDS[sort_by]
        query = select(Conversation).where(*self._visible(app_id, end_user_id))
        if last is not None:
            pivot = getattr(last, column.key)
            query = query.where(column < pivot if descending else column > pivot)
        query = query.order_by(column.desc() if descending else column.asc()).limit(limit + 1)
        rows = list(await self.session.scalars(query))
        return rows[:limit], len(rows) > limit

    async def rename(self, conversation: Conversation, name: str) -> None:
        """Set the conversation's name."""
        conversation.name = name
        conversation.updated_at = utcnow()
        await self.session.flush()

    async def soft_delete(self, conversation: Conversation) -> None:
        """Hide the conversation from every listing."""
        conversation.is_deleted = True
        await self.session.flush()


class MessageRepo:
    """Message rows."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def finish(self, message_id: str, **fields: Any) -> None:
        """Write fields of a message."""
        await self.session.execute(finish_message(message_id, **fields))

    async def get_visible(self, app_id: str, end_user_id: str, message_id: str) -> Message | None:
        """The message if this end user sent it through the Service API."""
        return await self.session.scalar(
            select(Message).where(
                Message.id == message_id,
                Message.app_id == app_id,
                Message.end_user_id == end_user_id,
                Message.from_source == "api",
            )
        )

    async def first_of(self, conversation_id: str) -> Message | None:
        """The first message of a conversation."""
        return await self.session.scalar(
            select(Message)
            .where(Message.conversation_id == conversation_id)
            .order_by(Message.created_at.asc())
            .limit(1)
        )

    async def page_before(
        self, conversation_id: str, first: Message | None, limit: int
    ) -> tuple[list[Message], bool]:
        """The `limit` newest messages older than `first`, oldest first, and whether more exist."""
        query = select(Message).where(Message.conversation_id == conversation_id)
        if first is not None:
            query = query.where(Message.created_at < first.created_at)
        rows = list(
            await self.session.scalars(query.order_by(Message.created_at.desc()).limit(limit + 1))
        )
        has_more = len(rows) > limit
        page = rows[:limit]
        page.reverse()
        return page, has_more

    async def in_conversation(self, conversation_id: str, message_id: str) -> Message | None:
        """A message by id within a conversation."""
        return await self.session.scalar(
            select(Message).where(
                Message.id == message_id, Message.conversation_id == conversation_id
            )
        )

    async def count(self, app_id: str) -> int:
        """How many messages an app has."""
        return int(
            await self.session.scalar(select(func.count()).where(Message.app_id == app_id)) or 0
        )

    async def by_ids(self, ids: Sequence[str]) -> list[Message]:
        """Messages by id."""
        return list(await self.session.scalars(select(Message).where(Message.id.in_(ids))))
