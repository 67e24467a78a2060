"""`/v1/datasets/tags…`: knowledge tags and their bindings (spec §10.1)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from headrace.errors import InvalidParamError, NotFoundError
from headrace.http.dataset_api.datasets import load_dataset
from headrace.http.deps import container_of, json_body, validate, workspace_from_dataset_key
from headrace.store.repos.datasets import TagRepo

router = APIRouter()
Workspace = Annotated[str, Depends(workspace_from_dataset_key)]


class TagName(BaseModel):
    """Body of tag creation."""

    name: str = Field(min_length=1, max_length=50)


class TagRename(TagName):
    """Body of tag renaming."""

    tag_id: str


class TagBindingPayload(BaseModel):
    """Body of (un)binding."""

    tag_ids: list[str] | None = None
    tag_id: str | None = None
    target_id: str


def _tag(tag: Any, count: int) -> dict[str, Any]:
    return {"id": tag.id, "name": tag.name, "type": tag.type, "binding_count": str(count)}


@router.get("/datasets/tags", summary="Knowledge tags")
async def list_tags(request: Request, workspace_id: Workspace) -> list[dict[str, Any]]:
    """Every knowledge tag, newest first, with its binding count as a string."""
    async with container_of(request).db.session() as session:
        return [_tag(tag, n) for tag, n in await TagRepo(session).all(workspace_id)]


@router.post("/datasets/tags", summary="Create a tag")
async def create_tag(request: Request, workspace_id: Workspace) -> dict[str, Any]:
    """A new knowledge tag."""
    payload = validate(TagName, await json_body(request))
    async with container_of(request).db.session() as session:
        return _tag(await TagRepo(session).create(workspace_id, payload.name), 0)


@router.patch("/datasets/tags", summary="Rename a tag")
async def rename_tag(request: Request, workspace_id: Workspace) -> dict[str, Any]:
    """Rename a knowledge tag."""
    payload = validate(TagRename, await json_body(request))
    async with container_of(request).db.session() as session:
        repo = TagRepo(session)
        tag = await repo.get(workspace_id, payload.tag_id)
        if tag is None:
            raise NotFoundError("Tag not found.")
        tag.name = payload.name
        await session.flush()
        return _tag(tag, await repo.binding_count(tag.id))


@router.delete("/datasets/tags", status_code=204, summary="Delete a tag")
async def delete_tag(request: Request, workspace_id: Workspace) -> Response:
    """Delete a tag and its bindings."""
    body = await json_body(request)
    async with container_of(request).db.session() as session:
        repo = TagRepo(session)
        tag = await repo.get(workspace_id, str(body.get("tag_id") or ""))
        if tag is None:
            raise NotFoundError("Tag not found.")
        await repo.remove(tag)
    return Response(status_code=204)


async def _binding(request: Request, workspace_id: str) -> tuple[list[str], str]:
    payload = validate(TagBindingPayload, await json_body(request))
    tag_ids = payload.tag_ids or ([payload.tag_id] if payload.tag_id else [])
    if not tag_ids:
        raise InvalidParamError("Tag IDs is required.")
    async with container_of(request).db.session() as session:
        try:
            await load_dataset(session, workspace_id, uuid.UUID(payload.target_id))
        except ValueError:
            raise NotFoundError("Dataset not found.") from None
        for tag_id in tag_ids:
            if await TagRepo(session).get(workspace_id, tag_id) is None:
                raise NotFoundError("Tag not found.")
    return tag_ids, payload.target_id


@router.post("/datasets/tags/binding", status_code=204, summary="Tag a dataset")
async def bind_tags(request: Request, workspace_id: Workspace) -> Response:
    """Attach tags to a dataset."""
    tag_ids, target = await _binding(request, workspace_id)
    async with container_of(request).db.session() as session:
        await TagRepo(session).bind(tag_ids, target)
    return Response(status_code=204)


@router.post("/datasets/tags/unbinding", status_code=204, summary="Untag a dataset")
async def unbind_tags(request: Request, workspace_id: Workspace) -> Response:
    """Detach tags from a dataset."""
    tag_ids, target = await _binding(request, workspace_id)
    async with container_of(request).db.session() as session:
        await TagRepo(session).unbind(tag_ids, target)
    return Response(status_code=204)


@router.get("/datasets/{dataset_id}/tags", summary="Tags of a dataset")
async def dataset_tags(
    request: Request, dataset_id: uuid.UUID, workspace_id: Workspace
) -> dict[str, Any]:
    """The tags attached to one dataset."""
    async with container_of(request).db.session() as session:
        dataset = await load_dataset(session, workspace_id, dataset_id)
        tags = await TagRepo(session).of_target(dataset.id)
    return {"data": [{"id": t.id, "name": t.name} for t in tags], "total": len(tags)}
