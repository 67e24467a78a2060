"""Message feedback (like/dislike)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from headrace.store.tables import Message, MessageFeedback
from headrace.store.tables.base import utcnow


class FeedbackRepo:
    """Feedback rows, one per message and source."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def of_message(self, message_id: str) -> MessageFeedback | None:
        """The end user's feedback on a message."""
        return await self.session.scalar(
            select(MessageFeedback).where(
                MessageFeedback.message_id == message_id, MessageFeedback.from_source == "user"
            )
        )

    async def for_messages(self, ids: Sequence[str]) -> dict[str, MessageFeedback]:
        """End-user feedback keyed by message id."""
        rows = await self.session.scalars(
            select(MessageFeedback).where(
                MessageFeedback.message_id.in_(ids), MessageFeedback.from_source == "user"
            )
        )
        return {row.message_id: row for row in rows}

    async def upsert(self, message: Message, rating: str, content: str | None) -> None:
        """Create or update the end user's feedback."""
        row = await self.of_message(message.id)
        if row is None:
            self.session.add(
                MessageFeedback(
                    app_id=message.app_id,
                    conversation_id=message.conversation_id,
                    message_id=message.id,
                    rating=rating,
                    content=content,
                    from_source="user",
                    from_end_user_id=message.end_user_id,
                )
            )
        else:
            row.rating = rating
            row.content = content
            row.updated_at = utcnow()
        await self.session.flush()

    async def remove(self, feedback: MessageFeedback) -> None:
        """Delete a feedback row."""
        await self.session.execute(delete(MessageFeedback).where(MessageFeedback.id == feedback.id))

    async def page_for_app(self, app_id: str, page: int, limit: int) -> list[MessageFeedback]:
        """An app's feedback, newest first."""
        return list(
            await self.session.scalars(
                select(MessageFeedback)
                .where(MessageFeedback.app_id == app_id)
                .order_by(MessageFeedback.created_at.desc())
                .offset((page - 1) * limit)
                .limit(limit)
            )
        )
