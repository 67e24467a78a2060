"""`POST /v1/chat-messages`, `POST /v1/completion-messages` and their stop endpoints."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field, field_validator

from headrace.apps.chatflow_run import ChatflowService
from headrace.apps.generation import MessageService, TurnCommand
from headrace.apps.pipeline import owner_key, require_query
from headrace.errors import AppUnavailableError, NotChatAppError
from headrace.http.deps import (
    app_from_key,
    container_of,
    end_user_for,
    json_body,
    user_arg,
    validate,
)
from headrace.http.hot_lane import HotEndpoint
from headrace.http.streaming import blocking_response, sse_response
from headrace.store.tables import App

router = APIRouter()
CHAT_MODES = frozenset({"chat", "agent-chat", "advanced-chat"})
#: Modes whose runners arrive with later issues; until then these apps are unavailable here.
PENDING_MODES = frozenset({"agent-chat"})


class _TurnPayload(BaseModel):
    inputs: dict[str, Any]
    response_mode: Literal["streaming", "blocking"] | None = None
    files: list[dict[str, Any]] | None = None
    retriever_from: str = "dev"
    trace_id: str | None = None


class ChatPayload(_TurnPayload):
    """Body of `POST /v1/chat-messages`."""

    query: str
    conversation_id: str | None = None
    auto_generate_name: bool = True
    workflow_id: str | None = None

    @field_validator("conversation_id")
    @classmethod
    def _uuid_or_blank(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        try:
            uuid.UUID(value)
        except ValueError:
            raise ValueError("conversation_id must be a valid UUID") from None
        return value


class CompletionPayload(_TurnPayload):
    """Body of `POST /v1/completion-messages`."""

    query: str = ""


class StopPayload(BaseModel):
    """Body of the stop endpoints (only `user`)."""

    user: str | None = Field(None, description="The user of the generating request.")


async def _respond(
    request: Request,
    app: App,
    user: str | None,
    payload: _TurnPayload,
    cmd: TurnCommand,
    workflow_id: str | None = None,
) -> Response:
    container = container_of(request)
    end_user = await end_user_for(request, app, user)
    if app.mode == "advanced-chat":
        stream = await ChatflowService(container).start(app, end_user, cmd, workflow_id)
    else:
        stream = await MessageService(container).start(app, end_user, cmd)
    if payload.response_mode == "streaming":
        return sse_response(stream, container.settings.ping_interval)
    return await blocking_response(stream)


@router.post(
    "/chat-messages",
    summary="Send a chat message",
    openapi_extra={
        "requestBody": {
            "content": {"application/json": {"schema": ChatPayload.model_json_schema()}}
        }
    },
)
async def chat_messages(request: Request) -> Response:
    """One chat turn, blocking or streaming."""
    app = await app_from_key(request)
    body = await json_body(request)
    user = user_arg(body.get("user"), required=True)
    if app.mode not in CHAT_MODES:
        raise NotChatAppError()
    if app.mode in PENDING_MODES:
        raise AppUnavailableError()
    payload = validate(ChatPayload, body)
    cmd = TurnCommand(
        query=require_query(payload.query),
        inputs=payload.inputs,
        files=payload.files or [],
        conversation_id=payload.conversation_id,
        auto_generate_name=payload.auto_generate_name,
    )
    return await _respond(request, app, user, payload, cmd, payload.workflow_id)


@router.post(
    "/completion-messages",
    summary="Send a completion request",
    openapi_extra={
        "requestBody": {
            "content": {"application/json": {"schema": CompletionPayload.model_json_schema()}}
        }
    },
)
async def completion_messages(request: Request) -> Response:
    """One completion, blocking or streaming."""
    app = await app_from_key(request)
    body = await json_body(request)
    user = user_arg(body.get("user"), required=True)
    if app.mode != "completion":
        raise AppUnavailableError()
    payload = validate(CompletionPayload, body)
    cmd = TurnCommand(
        query=payload.query.replace("\x00", ""),
        inputs=payload.inputs,
        files=payload.files or [],
        auto_generate_name=False,
    )
    return await _respond(request, app, user, payload, cmd)


def hot_endpoints() -> list[HotEndpoint]:
    """The busiest endpoints, which take only the request: served on the hot lane
    (`http/hot_lane.py`)."""
    return [("/chat-messages", chat_messages), ("/completion-messages", completion_messages)]


async def _stop(request: Request, app: App, task_id: str) -> dict[str, str]:
    body = await json_body(request)
    user = user_arg(body.get("user"), required=True)
    container = container_of(request)
    end_user = await end_user_for(request, app, user)
    if await container.runs.owner(task_id) == owner_key(end_user.id):
        await container.runs.request_stop(task_id)
    return {"result": "success"}


@router.post("/chat-messages/{task_id}/stop", summary="Stop a chat generation")
async def stop_chat(
    request: Request, task_id: str, app: Annotated[App, Depends(app_from_key)]
) -> dict[str, str]:
    """Stop a running chat turn of this end user."""
    if app.mode not in CHAT_MODES:
        raise NotChatAppError()
    return await _stop(request, app, task_id)


@router.post("/completion-messages/{task_id}/stop", summary="Stop a completion")
async def stop_completion(
    request: Request, task_id: str, app: Annotated[App, Depends(app_from_key)]
) -> dict[str, str]:
    """Stop a running completion of this end user."""
    if app.mode != "completion":
        raise AppUnavailableError()
    return await _stop(request, app, task_id)
