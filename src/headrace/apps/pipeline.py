"""The run pipeline every message-producing mode shares: concurrency slots, conversation and
message rows, persistence of a finished turn, and conversation naming.

Mode runners (easy-UI chat/completion now; chatflow later) decide what to generate; this module
decides how a turn is opened, recorded and closed, so every mode stores the same way.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from headrace.apps.events import Envelope
from headrace.apps.message_run import TurnOutcome
from headrace.apps.models import BoundModel
from headrace.apps.naming import fallback_title, generate_title
from headrace.apps.prompt import Turn
from headrace.container import Container
from headrace.errors import (
    ConversationCompletedError,
    ConversationNotExistsError,
    InvalidParamError,
    TooManyRequestsError,
)
from headrace.store.repos.turns import (
    continued_conversation_reads,
    name_writes,
    open_turn_writes,
    outcome_writes,
)
from headrace.store.tables import App, EndUser
from headrace.store.tables.base import new_id

ROOT_PARENT_ID = "00000000-0000-0000-0000-000000000000"


def concurrency_limit(app: App, default: int, maximum: int) -> int:
    """The app's active-request cap (spec §11.1); 0 means unlimited."""
    per_app = app.max_active_requests if app.max_active_requests else default
    positive = [v for v in (per_app, maximum) if v and v > 0]
    return min(positive) if positive else 0


def owner_key(end_user_id: str) -> str:
    """The owner recorded for a run started by an end user."""
    return f"end-user-{end_user_id}"


def require_query(query: str | None) -> str:
    """Chat turns need a non-empty query (NUL characters stripped)."""
    cleaned = (query or "").replace("\x00", "")
    if not cleaned:
        raise InvalidParamError("query is required")
    return cleaned


@dataclass(frozen=True, slots=True)
class OpenedTurn:
    """A turn whose rows are being written: its envelope, its inputs, and `written`, which
    settles once the rows are committed."""

    envelope: Envelope
    inputs: dict[str, Any]
    new_conversation: bool
    written: asyncio.Future[None]


@dataclass(frozen=True, slots=True)
class ContinuedConversation:
    """What a turn needs of the conversation it continues."""

    id: str
    inputs: dict[str, Any]
    dialogue_count: int


class MessagePipeline:
    """Opens, records and closes turns of one app for one end user."""

    def __init__(self, container: Container, app: App, end_user: EndUser) -> None:
        self.c = container
        self.app = app
        self.end_user = end_user

    async def existing_conversation(
        self, conversation_id: str | None, history_limit: int = 0
    ) -> tuple[ContinuedConversation | None, list[Turn]]:
        """The conversation to continue, checked for visibility and status, and (up to
        `history_limit`) its newest finished turns, oldest first."""
        if not conversation_id or self.app.mode == "completion":
            return None, []
        reads = continued_conversation_reads(
            conversation_id, self.app.id, self.end_user.id, history_limit
        )
        found, *history = await self.c.db.read(reads)
        if not found:
            raise ConversationNotExistsError()
        row_id, inputs, status, dialogue_count = found[0]
        if status != "normal":
            raise ConversationCompletedError()
        turns = [Turn(query, answer) for query, answer in reversed(history[0])] if history else []
        return ContinuedConversation(row_id, dict(inputs or {}), dialogue_count), turns

    async def acquire_slot(self) -> str:
        """Take a concurrency slot; returns the request id that holds it."""
        settings = self.c.settings
        limit = concurrency_limit(
            self.app, settings.app_default_active_requests, settings.app_max_active_requests
        )
        request_id = new_id()
        if not await self.c.runs.acquire_slot(self.app.id, request_id, limit):
            raise TooManyRequestsError(
                "Too many requests. Please try again later. The current maximum concurrent "
                f"requests allowed for {self.app.id} is {limit}."
            )
        return request_id

    async def release_slot(self, request_id: str) -> None:
        """Give the slot back."""
        await self.c.runs.release_slot(self.app.id, request_id)

    async def open_turn(
        self,
        conversation: ContinuedConversation | None,
        query: str,
        inputs: dict[str, Any],
        files: list[dict[str, Any]],
        model_ref: tuple[str, str],
        introduction: str | None,
    ) -> OpenedTurn:
        """Start writing the conversation (if new) and the message row of this turn; the
        caller awaits `written` before anything relies on the rows."""
        app = self.app
        chat = app.mode != "completion"
        new_fields: dict[str, Any] | None = None
        if chat and conversation is None:
            new_fields = {
                "app_id": app.id,
                "end_user_id": self.end_user.id,
                "mode": app.mode,
                "inputs": inputs,
                "introduction": introduction or "",
            }
        elif conversation is not None:
            inputs = dict(conversation.inputs)
        task_id = new_id()
        fields = {
            "app_id": app.id,
            "conversation_id": conversation.id if conversation else None,
            "end_user_id": self.end_user.id,
            "mode": app.mode,
            "task_id": task_id,
            "parent_message_id": ROOT_PARENT_ID if chat else None,
            "inputs": inputs,
            "query": query,
            "files": files,
            "model_provider": model_ref[0],
            "model_id": model_ref[1],
        }
        writes, message_id, conversation_id, created_at = open_turn_writes(
            new_fields, fields, files
        )
        written = self.c.db.start_write(writes)
        envelope = Envelope(
            mode=app.mode,
            task_id=task_id,
            message_id=message_id,
            conversation_id=conversation_id,
            created_at=created_at,
        )
        return OpenedTurn(envelope, inputs, new_fields is not None, written)

    async def record(self, env: Envelope, outcome: TurnOutcome, name: str | None = None) -> None:
        """Store the outcome of a turn on its message and count it on the conversation; `name`
        names a new conversation in the same transaction (when no model will title it)."""
        usage = outcome.usage
        fields = {
            "answer": outcome.answer,
            "status": outcome.status,
            "error": outcome.error,
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "prompt_unit_price": usage.prompt_unit_price,
            "completion_unit_price": usage.completion_unit_price,
            "price_unit": usage.prompt_price_unit,
            "total_price": usage.total_price,
            "currency": usage.currency,
            "latency": usage.latency,
            "retriever_resources": outcome.resources or None,
        }
        await self.c.db.write(outcome_writes(env.message_id, env.conversation_id, fields, name))

    async def name_conversation(
        self, conversation_id: str, query: str, model: BoundModel | None, model_name: str
    ) -> None:
        """Name a new conversation: by the model when given one, else from the query."""
        name = fallback_title(query)
        if model is not None:
            name = await generate_title(model, model_name, query)
        await self.c.db.write(name_writes(conversation_id, name))
