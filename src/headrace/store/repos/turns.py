"""The reads and writes of a message turn, as hot reads and writes for `Database.read` and
`Database.write`.

A continued turn first reads its conversation and history. A turn writes twice or three times:
its rows when it opens, its outcome when it ends, and the name of a new conversation when a
model titles it. Each is on the path of every chat, so each is a list of precompiled
statements (`hot_reads`, `hot_writes`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Integer, Table, Update, bindparam, case, select, update

from headrace.store.hot_reads import HotRead, Reads
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


_VISIBLE_CONVERSATION = HotRead(
    select(
        CONVERSATIONS.c.id,
        CONVERSATIONS.c.inputs,
        CONVERSATIONS.c.status,
        CONVERSATIONS.c.dialogue_count,
    ).where(
        CONVERSATIONS.c.id == bindparam("conversation_id"),
        CONVERSATIONS.c.app_id == bindparam("app_id"),
        CONVERSATIONS.c.end_user_id == bindparam("end_user_id"),
        CONVERSATIONS.c.from_source == "api",
        CONVERSATIONS.c.is_deleted.is_(False),
    )
)
_NEWEST_TURNS = HotRead(
    select(MESSAGES.c.query, MESSAGES.c.answer)
    .where(
        MESSAGES.c.conversation_id == bindparam("conversation_id"),
        MESSAGES.c.status == "normal",
        MESSAGES.c.answer != "",
    )
    .order_by(MESSAGES.c.created_at.desc())
    .limit(bindparam("limit", type_=Integer))
)


def newest_turns_read(conversation_id: str, limit: int) -> tuple[HotRead, dict[str, Any]]:
    """The `(query, answer)` of a conversation's newest `limit` finished turns, newest first."""
    return _NEWEST_TURNS, {"conversation_id": conversation_id, "limit": limit}


def continued_conversation_reads(
    conversation_id: str, app_id: str, end_user_id: str, history_limit: int
) -> Reads:
    """The conversation `(id, inputs, status, dialogue_count)` if this end user of this app
    may see it, then (when `history_limit` > 0) `newest_turns_read`."""
    owner = {"conversation_id": conversation_id, "app_id": app_id, "end_user_id": end_user_id}
    reads: list[tuple[HotRead, dict[str, Any]]] = [(_VISIBLE_CONVERSATION, owner)]
    if history_limit > 0:
        reads.append(newest_turns_read(conversation_id, history_limit))
    return reads


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
