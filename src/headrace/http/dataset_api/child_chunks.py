"""Child chunks of a parent segment (spec §10.3): list, add, update, delete; each change
re-indexes the parent segment."""

from __future__ import annotations

import math
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from headrace.errors import NotFoundError
from headrace.http.dataset_api.datasets import load_dataset
from headrace.http.dataset_api.segments import child_body, reindex
from headrace.http.deps import container_of, json_body, validate, workspace_from_dataset_key
from headrace.store.repos.documents import DocumentRepo
from headrace.store.tables import ChildChunk
from headrace.store.tables.base import new_id, utcnow

router = APIRouter()
Workspace = Annotated[str, Depends(workspace_from_dataset_key)]
BASE = "/datasets/{dataset_id}/documents/{document_id}/segments/{segment_id}/child_chunks"


class ChildContent(BaseModel):
    """Body of child-chunk creation and update."""

    content: str = Field(min_length=1)


async def _parent(
    request: Request,
    workspace_id: str,
    dataset_id: uuid.UUID,
    document_id: uuid.UUID,
    segment_id: uuid.UUID,
) -> Any:
    async with container_of(request).db.session() as session:
        dataset = await load_dataset(session, workspace_id, dataset_id)
        repo = DocumentRepo(session)
        document = await repo.get(dataset.id, str(document_id))
        segment = await repo.segment(str(document_id), str(segment_id)) if document else None
        if document is None or segment is None:
            raise NotFoundError("Segment not found.")
    return dataset, document, segment


@router.get(BASE, summary="List child chunks")
async def list_children(
    request: Request,
    dataset_id: uuid.UUID,
    document_id: uuid.UUID,
    segment_id: uuid.UUID,
    workspace_id: Workspace,
    page: Annotated[int, Query(ge=1)] = 1,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    keyword: str | None = None,
) -> dict[str, Any]:
    """A segment's child chunks in position order."""
    _, _, segment = await _parent(request, workspace_id, dataset_id, document_id, segment_id)
    async with container_of(request).db.session() as session:
        children = (await DocumentRepo(session).children([segment.id])).get(segment.id, [])
    if keyword:
        children = [c for c in children if keyword in c.content]
    total = len(children)
    page_rows = children[(page - 1) * limit : page * limit]
    return {
        "data": [child_body(c) for c in page_rows],
        "total": total,
        "total_pages": math.ceil(total / limit) if total else 0,
        "page": page,
        "limit": limit,
    }


@router.post(BASE, summary="Add a child chunk")
async def add_child(
    request: Request,
    dataset_id: uuid.UUID,
    document_id: uuid.UUID,
    segment_id: uuid.UUID,
    workspace_id: Workspace,
) -> dict[str, Any]:
    """Append a child chunk to a segment."""
    payload = validate(ChildContent, await json_body(request))
    dataset, document, segment = await _parent(
        request, workspace_id, dataset_id, document_id, segment_id
    )
    async with container_of(request).db.session() as session:
        existing = (await DocumentRepo(session).children([segment.id])).get(segment.id, [])
        child = ChildChunk(
            id=new_id(),
            segment_id=segment.id,
            document_id=document.id,
            dataset_id=dataset.id,
            position=len(existing) + 1,
            content=payload.content,
            word_count=len(payload.content),
            type="customized",
        )
        session.add(child)
    await reindex(request, dataset, document, [segment.id])
    return {"data": child_body(child)}


async def _child(request: Request, segment_id: str, child_id: uuid.UUID) -> ChildChunk:
    async with container_of(request).db.session() as session:
        child = await session.get(ChildChunk, str(child_id))
    if child is None or child.segment_id != segment_id:
        raise NotFoundError("Child chunk not found.")
    return child


@router.patch(BASE + "/{child_chunk_id}", summary="Update a child chunk")
async def update_child(
    request: Request,
    dataset_id: uuid.UUID,
    document_id: uuid.UUID,
    segment_id: uuid.UUID,
    child_chunk_id: uuid.UUID,
    workspace_id: Workspace,
) -> dict[str, Any]:
    """Replace a child chunk's content."""
    payload = validate(ChildContent, await json_body(request))
    dataset, document, segment = await _parent(
        request, workspace_id, dataset_id, document_id, segment_id
    )
    child = await _child(request, segment.id, child_chunk_id)
    async with container_of(request).db.session() as session:
        attached = await session.merge(child)
        attached.content = payload.content
        attached.word_count = len(payload.content)
        attached.type = "customized"
        attached.updated_at = utcnow()
        body = child_body(attached)
    await reindex(request, dataset, document, [segment.id])
    return {"data": body}


@router.delete(BASE + "/{child_chunk_id}", status_code=204, summary="Delete a child chunk")
async def delete_child(
    request: Request,
    dataset_id: uuid.UUID,
    document_id: uuid.UUID,
    segment_id: uuid.UUID,
    child_chunk_id: uuid.UUID,
    workspace_id: Workspace,
) -> Response:
    """Remove a child chunk."""
    dataset, document, segment = await _parent(
        request, workspace_id, dataset_id, document_id, segment_id
    )
    child = await _child(request, segment.id, child_chunk_id)
    container = container_of(request)
    async with container.db.session() as session:
        await session.delete(await session.merge(child))
    await container.knowledge.vectors.delete(dataset.id, [child.id])
    await reindex(request, dataset, document, [segment.id])
    return Response(status_code=204)
