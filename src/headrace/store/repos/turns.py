"""The writes of a message turn, as hot writes for `Database.write`.

A turn writes twice or three times: its rows when it opens, its outcome when it ends, and the
name of a new conversation when a model titles it. Each is one short transaction on the path of
every chat, so each is a list of precompiled statements (`hot_writes`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, Update, bindparam, case, update

from headrace.store.hot_writes import HotWrite, Writes, full_row, insert_row
from headrace.store.tables import Conversation, Message, MessageFile
from headrace.store.tables.base import new_id, utcnow

CONVERSATIONS = cast(Table, Conversation.__table__)
MESSAGES = cast(Table, Message.__table__)
MESSAGE_FILES = cast(Table, MessageFile.__table__)

#: The fields a finished turn writes on its message.
OUTCOME_FIELDS = (
    "answer",
    "status",
    "error",
    "prompt_tokens",
    "completion_tokens",
    "prompt_unit_price",
    "completion_unit_price",
    "price_unit",
    "total_price",
    "currency",
    "latency",
    "retriever_resources",
)

_INSERT_CONVERSATION = insert_row(CONVERSATIONS)
_INSERT_MESSAGE = insert_row(MESSAGES)
_INSERT_MESSAGE_FILE = insert_row(MESSAGE_FILES)
_RECORD_OUTCOME = HotWrite(
    update(MESSAGES)
    .where(MESSAGES.c.id == bindparam("message_id"))
    .values({name: bindparam(name) for name in (*OUTCOME_FIELDS, "updated_at")})
)
_COUNT_TURN = HotWrite(
    update(CONVERSATIONS)
    .where(CONVERSATIONS.c.id == bindparam("conversation_id"))
    .values(dialogue_count=CONVERSATIONS.c.dialogue_count + 1, updated_at=bindparam("updated_at"))
)
#: The turn counted and, in the same statement, the name given if the conversation has none.
_COUNT_TURN_NAMING = HotWrite(
    update(CONVERSATIONS)
    .where(CONVERSATIONS.c.id == bindparam("conversation_id"))
    .values(
        dialogue_count=CONVERSATIONS.c.dialogue_count + 1,
        name=case(
            (CONVERSATIONS.c.name == "", bindparam("name", type_=CONVERSATIONS.c.name.type)),
            else_=CONVERSATIONS.c.name,
        ),
        updated_at=bindparam("updated_at"),
    )
)
_NAME_IF_UNNAMED = HotWrite(
    update(CONVERSATIONS)
    .where(CONVERSATIONS.c.id == bindparam("conversation_id"), CONVERSATIONS.c.name == "")
    .values(name=bindparam("name"), updated_at=bindparam("updated_at"))
)


def finish_message(message_id: str, **fields: Any) -> Update:
    """The UPDATE that writes fields of a message (its suggestions, its workflow run, …)."""
    return update(MESSAGES).where(MESSAGES.c.id == message_id).values(updated_at=utcnow(), **fields)


def open_turn_writes(
    conversation: dict[str, Any] | None,
    message: dict[str, Any],
    files: Sequence[dict[str, Any]],
) -> tuple[Writes, str, str | None, int]:
    """Rows of a new conversation (when given its fields), the turn's message and its files.

    Returns the writes, the message id, the conversation id and the message's creation time
    in Unix seconds.
    """
    writes: list[tuple[HotWrite, Mapping[str, Any]]] = []
    stamp = time.time()
    now = datetime.fromtimestamp(stamp, UTC).replace(tzinfo=None)
    if conversation is not None:
        conversation_id = new_id()
        row = {"id": conversation_id, "created_at": now, "updated_at": now, **conversation}
        writes.append((_INSERT_CONVERSATION, full_row(CONVERSATIONS, row)))
        message = {**message, "conversation_id": conversation_id}
    message_id = new_id()
    row = {"id": message_id, "created_at": now, "updated_at": now, **message}
    writes.append((_INSERT_MESSAGE, full_row(MESSAGES, row)))
    for item in files:
        link = {
            "message_id": message_id,
            "type": item.get("type", "image"),
            "transfer_method": item.get("transfer_method", "remote_url"),
            "url": item.get("url"),
            "upload_file_id": item.get("upload_file_id"),
            "belongs_to": "user",
        }
        writes.append((_INSERT_MESSAGE_FILE, full_row(MESSAGE_FILES, link)))
    return writes, message_id, message.get("conversation_id"), int(stamp)


def outcome_writes(
    message_id: str,
    conversation_id: str | None,
    outcome: dict[str, Any],
    name: str | None = None,
) -> Writes:
    """A turn's outcome on its message, the turn counted on its conversation and, when
    given, the conversation's name (if it has none yet)."""
    now = utcnow()
    writes: list[tuple[HotWrite, Mapping[str, Any]]] = [
        (_RECORD_OUTCOME, {**outcome, "message_id": message_id, "updated_at": now})
    ]
    if conversation_id:
        counted = {"conversation_id": conversation_id, "updated_at": now}
        if name is None:
            writes.append((_COUNT_TURN, counted))
        else:
            writes.append((_COUNT_TURN_NAMING, {**counted, "name": name}))
    return writes


def name_writes(conversation_id: str, name: str) -> Writes:
    """Name a conversation that still has no name."""
    values = {"conversation_id": conversation_id, "name": name, "updated_at": utcnow()}
    return [(_NAME_IF_UNNAMED, values)]
