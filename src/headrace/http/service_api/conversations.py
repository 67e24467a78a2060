"""`/v1/conversations`: list, delete, rename, variables (spec §5.8)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from headrace.apps.app_config import parse_app_config
from headrace.apps.naming import generate_title
from headrace.errors import (
    ConversationNotExistsError,
    InvalidParamError,
    NotChatAppError,
    NotFoundError,
)
from headrace.http.deps import (
    app_from_key,
    container_of,
    end_user_for,
    json_body,
    user_arg,
    validate,
)
from headrace.store.repos.conversations import ConversationRepo, MessageRepo
from headrace.store.tables import App, Conversation
from headrace.store.tables.base import to_unix

router = APIRouter()
CHAT_MODES = frozenset({"chat", "agent-chat", "advanced-chat"})
UUIDPath = Annotated[uuid.UUID, "a conversation id"]


def conversation_body(row: Conversation) -> dict[str, Any]:
    """The Conversation object of the contract."""
    return {
        "id": row.id,
        "name": row.name,
        "inputs": row.inputs,
        "status": row.status,
        "introduction": row.introduction,
        "created_at": to_unix(row.created_at),
        "updated_at": to_unix(row.updated_at),
    }


def require_chat(app: App) -> None:
    """Chat-family endpoints refuse other modes."""
    if app.mode not in CHAT_MODES:
        raise NotChatAppError()


def cursor_id(value: str | None, name: str) -> str | None:
    """A UUID cursor argument, blank meaning none."""
    if not value:
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise InvalidParamError(f"{name} must be a valid UUID") from None


@router.get("/conversations", summary="List the user's conversations")
async def list_conversations(
    request: Request,
    app: Annotated[App, Depends(app_from_key)],
    user: str | None = None,
    last_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    sort_by: Literal["created_at", "-created_at", "updated_at", "-updated_at"] = "-updated_at",
) -> dict[str, Any]:
    """Conversations of this end user, newest first by default, cursor-paged."""
    require_chat(app)
    end_user = await end_user_for(request, app, user_arg(user, required=False))
    last_uuid = cursor_id(last_id, "last_id")
    async with container_of(request).db.session() as session:
        repo = ConversationRepo(session)
        last = None
        if last_uuid:
            last = await repo.get_visible(app.id, end_user.id, last_uuid)
            if last is None:
                raise NotFoundError("Last Conversation Not Exists.")
        rows, has_more = await repo.page(app.id, end_user.id, last, limit, sort_by)
    return {"limit": limit, "has_more": has_more, "data": [conversation_body(r) for r in rows]}


async def owned_conversation(
    request: Request, app: App, conversation_id: uuid.UUID, user: str | None
) -> Conversation:
    """The conversation if the requesting end user owns it, else `conversation_not_exists`."""
    end_user = await end_user_for(request, app, user)
    async with container_of(request).db.session() as session:
        row = await ConversationRepo(session).get_visible(app.id, end_user.id, str(conversation_id))
    if row is None:
        raise ConversationNotExistsError()
    return row


@router.delete("/conversations/{c_id}", status_code=204, summary="Delete a conversation")
async def delete_conversation(
    request: Request, c_id: uuid.UUID, app: Annotated[App, Depends(app_from_key)]
) -> Response:
    """Hide a conversation of this end user."""
    body = await json_body(request)
    require_chat(app)
    row = await owned_conversation(request, app, c_id, user_arg(body.get("user"), required=False))
    async with container_of(request).db.session() as session:
        await ConversationRepo(session).soft_delete(await session.merge(row))
    return Response(status_code=204)


class RenamePayload(BaseModel):
    """Body of the rename endpoint."""

    name: str | None = None
    auto_generate: bool = False


@router.post("/conversations/{c_id}/name", summary="Rename a conversation")
async def rename_conversation(
    request: Request, c_id: uuid.UUID, app: Annotated[App, Depends(app_from_key)]
) -> dict[str, Any]:
    """Set a name, or generate one from the first message."""
    body = await json_body(request)
    require_chat(app)
    user = user_arg(body.get("user"), required=False)
    payload = validate(RenamePayload, body)
    if not payload.auto_generate and not (payload.name or "").strip():
        raise InvalidParamError(
            "1 validation error for RenamePayload\n  name is required when auto_generate is false"
        )
    row = await owned_conversation(request, app, c_id, user)
    container = container_of(request)
    name = (payload.name or "").strip()
    async with container.db.session() as session:
        if payload.auto_generate:
            first = await MessageRepo(session).first_of(row.id)
            if first is None:
                raise InvalidParamError("")
            name = row.name
            config = parse_app_config(app.model_config)
            gateway = container.models
            try:
                model = await gateway.bind(app.workspace_id, config.model.provider)
                name = await generate_title(model, config.model.name, first.query)
            except Exception:
                name = row.name
        attached = await session.merge(row)
        await ConversationRepo(session).rename(attached, name)
        return conversation_body(attached)
