"""Renders a run event and its envelope into the contract's JSON object (spec §8).

One function serves every mode: the mode picks the wrapper keys, the event its own keys.
"""

from __future__ import annotations

from typing import Any

from headrace.apps.events import (
    Envelope,
    ErrorEvent,
    MessageEndEvent,
    MessageEvent,
    MessageFileEvent,
    MessageReplaceEvent,
    RunEvent,
)
from headrace.workflow.events import GraphEvent, TextChunkEvent

CHAT_FAMILY = frozenset({"chat", "agent-chat", "advanced-chat", "agent"})


def wrapper(env: Envelope, name: str) -> dict[str, Any]:
    """The keys the mode puts before every event's own keys (spec §8.1)."""
    if env.mode in CHAT_FAMILY:
        return {
            "event": name,
            "conversation_id": env.conversation_id,
            "message_id": env.message_id,
            "created_at": env.created_at,
        }
    if env.mode == "completion":
        return {"event": name, "message_id": env.message_id, "created_at": env.created_at}
    return {"event": name, "workflow_run_id": env.workflow_run_id}


def to_wire(env: Envelope, ev: RunEvent) -> dict[str, Any]:
    """The JSON object of one stream event."""
    body = wrapper(env, ev.event)
    match ev:
        case MessageEvent():
            body["task_id"] = env.task_id
            body["id"] = env.message_id
            body["answer"] = ev.answer
            body["from_variable_selector"] = ev.from_variable_selector
        case MessageEndEvent():
            body["task_id"] = env.task_id
            body["id"] = env.message_id
            body["metadata"] = end_metadata(ev)
            body["files"] = ev.files
        case MessageFileEvent():
            body.update(task_id=env.task_id, id=ev.id, type=ev.type, belongs_to=ev.belongs_to)
            body["url"] = ev.url
        case MessageReplaceEvent():
            body.update(task_id=env.task_id, answer=ev.answer, reason=ev.reason)
        case GraphEvent():
            body["task_id"] = env.task_id
            body["workflow_run_id"] = env.workflow_run_id
            body["data"] = ev.data
        case TextChunkEvent():
            body["task_id"] = env.task_id
            body["data"] = {"text": ev.text, "from_variable_selector": ev.from_variable_selector}
        case ErrorEvent():
            # Dify omits task_id here; we add it so every stream event carries one.
            body.update(task_id=env.task_id, code=ev.code, status=ev.status, message=ev.message)
    return body


def end_metadata(ev: MessageEndEvent) -> dict[str, Any]:
    """`metadata` of `message_end` and of blocking bodies."""
    return {
        "annotation_reply": ev.annotation_reply,
        "retriever_resources": ev.retriever_resources,
        "usage": ev.usage.as_dict(),
    }
