"""The writes of a message turn, as synchronous units for `Database.write`.

A turn writes three times: its rows when it opens, its outcome when it ends, and the name of a
new conversation. Each is one short transaction on the hot path of every chat, so each is a
plain function of a synchronous session (one hand-off to SQLite's writer thread; `run_sync` on
PostgreSQL) built from Core statements where no ORM object is needed back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table, Update, update
from sqlalchemy.orm import Session

from headrace.store.tables import Conversation, Message, MessageFile
from headrace.store.tables.base import new_id, utcnow


def _table(model: type[Any]) -> Table:
    return cast(Table, model.__table__)


def finish_message(message_id: str, **fields: Any) -> Update:
    """The UPDATE that writes fields of a message (its outcome, its suggestions, …)."""
    table = _table(Message)
    return update(table).where(table.c.id == message_id).values(updated_at=utcnow(), **fields)


def insert_turn(
    session: Session,
    conversation: dict[str, Any] | None,
    message: dict[str, Any],
    files: Sequence[dict[str, Any]],
) -> Message:
    """Insert a new conversation (when given its fields), the turn's message and its files.

    The message's `conversation_id` is set to the new conversation's id.
    """
    if conversation is not None:
        row = Conversation(id=new_id(), **conversation)
        session.add(row)
        message = {**message, "conversation_id": row.id}
    created = Message(id=new_id(), created_at=utcnow(), **message)
    session.add(created)
    for item in files:
        session.add(
            MessageFile(
                message_id=created.id,
                type=item.get("type", "image"),
                transfer_method=item.get("transfer_method", "remote_url"),
                url=item.get("url"),
                upload_file_id=item.get("upload_file_id"),
                belongs_to="user",
            )
        )
    return created


def record_outcome(
    session: Session, message_id: str, conversation_id: str | None, outcome: dict[str, Any]
) -> None:
    """Write a turn's outcome and count the turn on its conversation."""
    session.execute(finish_message(message_id, **outcome))
    if conversation_id:
        table = _table(Conversation)
        session.execute(
            update(table)
            .where(table.c.id == conversation_id)
            .values(dialogue_count=table.c.dialogue_count + 1, updated_at=utcnow())
        )


def name_if_unnamed(session: Session, conversation_id: str, name: str) -> None:
    """Name a conversation that still has no name."""
    table = _table(Conversation)
    session.execute(
        update(table).where(table.c.id == conversation_id, table.c.name == "").values(name=name)
    )
