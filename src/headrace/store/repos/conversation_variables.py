"""Chatflow conversation variables: current values per conversation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from headrace.store.tables import ConversationVariable
from headrace.store.tables.base import new_id, utcnow


class ConversationVariableRepo:
    """Reads and writes the variables of conversations."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def of_conversation(self, conversation_id: str) -> list[ConversationVariable]:
        """Every variable of a conversation, in creation order."""
        return list(
            await self.session.scalars(
                select(ConversationVariable)
                .where(ConversationVariable.conversation_id == conversation_id)
                .order_by(ConversationVariable.created_at, ConversationVariable.name)
            )
        )

    async def ensure(
        self, conversation_id: str, app_id: str, declared: Sequence[Mapping[str, Any]]
    ) -> list[ConversationVariable]:
        """The conversation's variables, creating declared ones at their defaults."""
        rows = {row.name: row for row in await self.of_conversation(conversation_id)}
        for item in declared:
            name = str(item.get("name") or "")
            if not name or name in rows:
                continue
            row = ConversationVariable(
                id=str(item.get("id") or "") or new_id(),
                conversation_id=conversation_id,
                app_id=app_id,
                name=name,
                value_type=str(item.get("value_type") or "string"),
                value=item.get("value"),
                description=str(item.get("description") or ""),
            )
            self.session.add(row)
            rows[name] = row
        await self.session.flush()
        return sorted(rows.values(), key=lambda r: (r.created_at, r.name))

    async def set_values(self, conversation_id: str, values: Mapping[str, Any]) -> None:
        """Store new values by name."""
        for row in await self.of_conversation(conversation_id):
            if row.name in values and values[row.name] != row.value:
                row.value = values[row.name]
                row.updated_at = utcnow()
        await self.session.flush()

    async def page(
        self, conversation_id: str, after: ConversationVariable | None, limit: int, name: str | None
    ) -> tuple[list[ConversationVariable], bool]:
        """A page in creation order after `after`, optionally filtered by name substring."""
        query = select(ConversationVariable).where(
            ConversationVariable.conversation_id == conversation_id
        )
        if after is not None:
            query = query.where(ConversationVariable.created_at > after.created_at)
        if name:
            query = query.where(func.lower(ConversationVariable.name).contains(name.lower()))
        rows = list(
            await self.session.scalars(
                query.order_by(ConversationVariable.created_at, ConversationVariable.name).limit(
                    limit + 1
                )
            )
        )
        return rows[:limit], len(rows) > limit

    async def get(self, conversation_id: str, variable_id: str) -> ConversationVariable | None:
        """A variable of the conversation by id."""
        return await self.session.scalar(
            select(ConversationVariable).where(
                ConversationVariable.conversation_id == conversation_id,
                ConversationVariable.id == variable_id,
            )
        )
