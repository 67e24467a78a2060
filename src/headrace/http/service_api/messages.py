"""`/v1/messages`, feedbacks and suggested questions (spec §5.9)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from headrace.apps.features import features_of
from headrace.apps.suggested import suggest_questions
from headrace.errors import (
    BadRequestError,
    ConversationNotExistsError,
    DomainError,
    InternalServerError,
    InvalidParamError,
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
from headrace.http.service_api.conversations import cursor_id, require_chat
from headrace.store.repos.conversations import ConversationRepo, MessageRepo
from headrace.store.repos.feedbacks import FeedbackRepo
from headrace.store.repos.files import FileRepo
from headrace.store.tables import App, Message, MessageFeedback, MessageFile
from headrace.store.tables.base import to_unix

router = APIRouter()
RESOURCE_KEYS = (
    "position",
    "dataset_id",
    "dataset_name",
    "document_id",
    "document_name",
    "data_source_type",
    "segment_id",
    "score",
    "hit_count",
    "word_count",
    "segment_position",
    "index_node_hash",
    "content",
    "summary",
)


def _message_body(
    row: Message, feedback: MessageFeedback | None, files: list[MessageFile]
) -> dict[str, Any]:
    return {
        "id": row.id,
        "conversation_id": row.conversation_id,
        "parent_message_id": row.parent_message_id,
        "inputs": row.inputs,
        "query": row.query,
        "answer": row.answer,
        "feedback": {"rating": feedback.rating} if feedback else None,
        "retriever_resources": [
            {
                "id": f"{row.id}-{item.get('position')}",
                "message_id": row.id,
                **{k: item.get(k) for k in RESOURCE_KEYS},
                "created_at": to_unix(row.created_at),
            }
            for item in row.retriever_resources or []
        ],
        "created_at": to_unix(row.created_at),
        "agent_thoughts": [],
        "message_files": [
            {
                "id": f.id,
                "filename": "",
                "type": f.type,
                "url": f.url,
                "mime_type": None,
                "size": None,
                "transfer_method": f.transfer_method,
                "belongs_to": f.belongs_to,
                "upload_file_id": f.upload_file_id,
            }
            for f in files
        ],
        "status": row.status,
        "error": row.error,
    }


@router.get("/messages", summary="Conversation history")
async def list_messages(
    request: Request,
    app: Annotated[App, Depends(app_from_key)],
    conversation_id: str,
    user: str | None = None,
    first_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    """Messages older than `first_id` (the newest page by default), oldest first."""
    require_chat(app)
    if not conversation_id:
        return {"limit": limit, "has_more": False, "data": []}
    conversation_uuid = cursor_id(conversation_id, "conversation_id")
    first_uuid = cursor_id(first_id, "first_id")
    end_user = await end_user_for(request, app, user_arg(user, required=False))
    async with container_of(request).db.session() as session:
        conversation = await ConversationRepo(session).get_visible(
            app.id, end_user.id, str(conversation_uuid)
        )
        if conversation is None:
            raise ConversationNotExistsError()
        messages = MessageRepo(session)
        first = None
        if first_uuid:
            first = await messages.in_conversation(conversation.id, first_uuid)
            if first is None:
                raise NotFoundError("First Message Not Exists.")
        rows, has_more = await messages.page_before(conversation.id, first, limit)
        ids = [r.id for r in rows]
        feedbacks = await FeedbackRepo(session).for_messages(ids)
        files = await FileRepo(session).of_messages(ids)
    data = [_message_body(r, feedbacks.get(r.id), files.get(r.id, [])) for r in rows]
    return {"limit": limit, "has_more": has_more, "data": data}


class FeedbackPayload(BaseModel):
    """Body of the feedback endpoint."""

    rating: Literal["like", "dislike"] | None = None
    content: str | None = None


@router.post("/messages/{message_id}/feedbacks", summary="Rate a message")
async def message_feedback(
    request: Request, message_id: uuid.UUID, app: Annotated[App, Depends(app_from_key)]
) -> dict[str, str]:
    """Create, update or (with a null rating) delete the end user's feedback."""
    body = await json_body(request)
    user = user_arg(body.get("user"), required=True)
    payload = validate(FeedbackPayload, body)
    end_user = await end_user_for(request, app, user)
    async with container_of(request).db.session() as session:
        message = await MessageRepo(session).get_visible(app.id, end_user.id, str(message_id))
        if message is None:
            raise NotFoundError("Message Not Exists.")
        repo = FeedbackRepo(session)
        existing = await repo.of_message(message.id)
        if payload.rating is None:
            if existing is None:
                raise InvalidParamError("rating cannot be None when feedback not exists")
            await repo.remove(existing)
        else:
            await repo.upsert(message, payload.rating, payload.content)
    return {"result": "success"}


def _iso(value: Any) -> str:
    return str(value.replace(microsecond=0).isoformat())


@router.get("/app/feedbacks", summary="All feedback of the app")
async def app_feedbacks(
    request: Request,
    app: Annotated[App, Depends(app_from_key)],
    page: Annotated[int, Query(ge=1)] = 1,
    limit: Annotated[int, Query(ge=1, le=101)] = 20,
) -> dict[str, Any]:
    """Feedback of every user, newest first."""
    async with container_of(request).db.session() as session:
        rows = await FeedbackRepo(session).page_for_app(app.id, page, limit)
    return {
        "data": [
            {
                "id": r.id,
                "app_id": r.app_id,
                "conversation_id": r.conversation_id,
                "message_id": r.message_id,
                "rating": r.rating,
                "content": r.content,
                "from_source": r.from_source,
                "from_end_user_id": r.from_end_user_id,
                "from_account_id": r.from_account_id,
                "created_at": _iso(r.created_at),
                "updated_at": _iso(r.updated_at),
            }
            for r in rows
        ]
    }


@router.get("/messages/{message_id}/suggested", summary="Suggested next questions")
async def suggested(
    request: Request,
    message_id: uuid.UUID,
    app: Annotated[App, Depends(app_from_key)],
    user: str | None = None,
) -> dict[str, Any]:
    """Three follow-up questions for a message, when the app enables them."""
    require_chat(app)
    end_user = await end_user_for(request, app, user_arg(user, required=True))
    container = container_of(request)
    features = await features_of(container, app)
    if not features.enabled("suggested_questions_after_answer"):
        raise BadRequestError("Suggested Questions Is Disabled.")
    async with container.db.session() as session:
        message = await MessageRepo(session).get_visible(app.id, end_user.id, str(message_id))
        if message is None:
            raise NotFoundError("Message Not Exists.")
        if message.suggested_questions is not None:
            return {"result": "success", "data": message.suggested_questions}
    if features.model is None:
        return {"result": "success", "data": []}
    provider, model_name = features.model
    try:
        model = await container.models.bind(app.workspace_id, provider)
        questions = await suggest_questions(model, model_name, message.query, message.answer)
    except DomainError as exc:
        raise InternalServerError() from exc
    async with container.db.session() as session:
        await MessageRepo(session).finish(message.id, suggested_questions=questions)
    return {"result": "success", "data": questions}
