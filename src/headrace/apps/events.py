"""THE run event union: every event a run can yield, with Dify's wire names.

Workflow events (`GraphEvent`, `TextChunkEvent`) come from the engine with their `data` ready.

Events carry only their own payload; what is constant for a run (task id, message id,
conversation id, creation time, mode) lives in the `Envelope`. `apps/wire.py` renders an
event plus its envelope into the contract's JSON object.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from headrace.providers.usage import UsageInfo
from headrace.workflow.events import GraphEvent, TextChunkEvent

ChatFamilyMode = Literal["chat", "agent-chat", "advanced-chat"]
AppMode = Literal["chat", "agent-chat", "advanced-chat", "completion", "workflow"]


@dataclass(frozen=True, slots=True)
class Envelope:
    """Identity of one run, shared by every event it yields."""

    mode: str
    task_id: str
    message_id: str = ""
    conversation_id: str | None = None
    created_at: int = 0
    workflow_run_id: str | None = None


@dataclass(frozen=True, slots=True)
class MessageEvent:
    """A text delta of the answer."""

    answer: str
    from_variable_selector: list[str] | None = None
    event: Literal["message"] = "message"


@dataclass(frozen=True, slots=True)
class MessageFileEvent:
    """A file produced for (or attached to) the message."""

    id: str
    type: str
    belongs_to: str
    url: str
    event: Literal["message_file"] = "message_file"


@dataclass(frozen=True, slots=True)
class MessageReplaceEvent:
    """The whole answer replaced (output moderation)."""

    answer: str
    reason: str = ""
    event: Literal["message_replace"] = "message_replace"


@dataclass(frozen=True, slots=True)
class MessageEndEvent:
    """End of a turn: usage, citations, files."""

    usage: UsageInfo
    retriever_resources: list[dict[str, Any]] = field(default_factory=list)
    annotation_reply: dict[str, Any] | None = None
    files: list[dict[str, Any]] | None = None
    event: Literal["message_end"] = "message_end"


@dataclass(frozen=True, slots=True)
class ErrorEvent:
    """A failure after the stream started; always the last event."""

    code: str
    status: int
    message: str
    event: Literal["error"] = "error"


RunEvent = (
    MessageEvent
    | MessageFileEvent
    | MessageReplaceEvent
    | MessageEndEvent
    | ErrorEvent
    | GraphEvent
    | TextChunkEvent
)

TERMINAL_EVENTS = frozenset({"message_end", "error", "workflow_finished"})
