"""`GET/PUT /v1/conversations/{id}/variables`: chatflow conversation variables (spec §5.8)."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from headrace.errors import BadRequestError, ConversationVariableNotExistsError, InvalidParamError
from headrace.http.deps import app_from_key, container_of, json_body, user_arg, validate
from headrace.http.service_api.conversations import cursor_id, owned_conversation, require_chat
from headrace.store.repos.conversation_variables import ConversationVariableRepo
from headrace.store.tables import App, ConversationVariable
from headrace.store.tables.base import to_unix, utcnow

router = APIRouter()
NUMBER_TYPES = frozenset({"number", "integer", "float"})


def value_text(value: Any) -> str:
    """The wire form of a value: strings as-is, objects and arrays as JSON text (a documented
    choice; Dify shows Python reprs), other scalars as Python renders them."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def variable_body(row: ConversationVariable) -> dict[str, Any]:
    """The Var object of the contract."""
    return {
        "id": row.id,
        "name": row.name,
        "value_type": "number" if row.value_type in NUMBER_TYPES else row.value_type,
        "value": value_text(row.value),
        "description": row.description,
        "created_at": to_unix(row.created_at),
        "updated_at": to_unix(row.updated_at),
    }


@router.get("/conversations/{c_id}/variables", summary="List conversation variables")
async def list_variables(
    request: Request,
    c_id: uuid.UUID,
    app: Annotated[App, Depends(app_from_key)],
    user: str | None = None,
    last_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    variable_name: Annotated[
        str | None, Query(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9_.-]+$")
    ] = None,
) -> dict[str, Any]:
    """A conversation's variables in creation order, cursor-paged, filtered by name."""
    require_chat(app)
    after_id = cursor_id(last_id, "last_id")
    conversation = await owned_conversation(request, app, c_id, user_arg(user, required=False))
    async with container_of(request).db.session() as session:
        repo = ConversationVariableRepo(session)
        after = None
        if after_id:
            after = await repo.get(conversation.id, after_id)
            if after is None:
                raise InvalidParamError("")
        rows, has_more = await repo.page(conversation.id, after, limit, variable_name)
    return {"limit": limit, "has_more": has_more, "data": [variable_body(r) for r in rows]}


class UpdatePayload(BaseModel):
    """Body of the update endpoint."""

    value: Any = None


def inferred_type(value: Any) -> str:
    """The DSL type name of a JSON value (for type-mismatch messages)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        kinds = {inferred_type(v) for v in value}
        return f"array[{kinds.pop()}]" if len(kinds) == 1 else "array[any]"
    return "unknown"


def type_matches(expected: str, value: Any) -> bool:
    """Whether `value` fits a conversation variable of type `expected`."""
    if expected in NUMBER_TYPES:
        return inferred_type(value) == "number"
    if expected.startswith("array["):
        element = expected[len("array[") : -1]
        element_type = "number" if element in NUMBER_TYPES else element
        return isinstance(value, list) and all(
            element_type == "any" or inferred_type(v) == element_type for v in value
        )
    return inferred_type(value) == expected


@router.put(
    "/conversations/{c_id}/variables/{variable_id}", summary="Update a conversation variable"
)
async def update_variable(
    request: Request,
    c_id: uuid.UUID,
    variable_id: uuid.UUID,
    app: Annotated[App, Depends(app_from_key)],
) -> dict[str, Any]:
    """Set a variable's value, checked against its declared type."""
    body = await json_body(request)
    require_chat(app)
    user = user_arg(body.get("user"), required=False)
    payload = validate(UpdatePayload, body)
    conversation = await owned_conversation(request, app, c_id, user)
    async with container_of(request).db.session() as session:
        row = await ConversationVariableRepo(session).get(conversation.id, str(variable_id))
        if row is None:
            raise ConversationVariableNotExistsError()
        if not type_matches(row.value_type, payload.value):
            raise BadRequestError(
                f"Type mismatch: variable '{row.name}' expects {row.value_type}, "
                f"but got {inferred_type(payload.value)} type"
            )
        row.value = payload.value
        row.updated_at = utcnow()
        await session.flush()
        return variable_body(row)
