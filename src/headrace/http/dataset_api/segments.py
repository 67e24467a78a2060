"""Segments of a document (spec §10.3): list, add, read, update, delete; edits re-index."""

from __future__ import annotations

import hashlib
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from headrace.apps.knowledge_views import segment_body
from headrace.errors import InvalidParamError, NotFoundError
from headrace.http.dataset_api.datasets import load_dataset
from headrace.http.deps import container_of, json_body, validate, workspace_from_dataset_key
from headrace.knowledge.indexing import DocumentIndexer
from headrace.knowledge.splitters import estimate_tokens
from headrace.store.repos.documents import DocumentRepo
from headrace.store.tables import ChildChunk, Dataset, DatasetDocument, DocumentSegment
from headrace.store.tables.base import new_id, to_unix, utcnow

router = APIRouter()
Workspace = Annotated[str, Depends(workspace_from_dataset_key)]
BASE = "/datasets/{dataset_id}/documents/{document_id}/segments"
MAX_SEGMENTS_PER_REQUEST = 1000


class NewSegment(BaseModel):
    """One segment to add."""

    content: str = Field(min_length=1)
    answer: str | None = None
    keywords: list[str] | None = None


class NewSegments(BaseModel):
    """Body of segment creation."""

    segments: list[NewSegment] = Field(min_length=1)


class SegmentChanges(BaseModel):
    """Fields of a segment update."""

    content: str | None = Field(None, min_length=1)
    answer: str | None = None
    keywords: list[str] | None = None
    enabled: bool | None = None
    regenerate_child_chunks: bool = False


class SegmentUpdate(BaseModel):
    """Body of a segment update."""

    segment: SegmentChanges


async def _document(
    session: AsyncSession, workspace_id: str, dataset_id: uuid.UUID, document_id: uuid.UUID
) -> tuple[Dataset, DatasetDocument]:
    dataset = await load_dataset(session, workspace_id, dataset_id)
    document = await DocumentRepo(session).get(dataset.id, str(document_id))
    if document is None:
        raise NotFoundError("Document not found.")
    return dataset, document


async def reindex(
    request: Request, dataset: Dataset, document: DatasetDocument, segment_ids: list[str]
) -> None:
    """Replace the index entries of segments (and their child chunks) with fresh ones."""
    container = container_of(request)
    async with container.db.session() as session:
        repo = DocumentRepo(session)
        segments = await repo.segments_by_ids(segment_ids)
        children = await repo.children(segment_ids)
    indexer = DocumentIndexer(container)
    keyword, vectors = container.knowledge.keyword, container.knowledge.vectors
    await keyword.delete(dataset.id, segment_ids)
    await vectors.delete(
        dataset.id, [*segment_ids, *(c.id for cs in children.values() for c in cs)]
    )
    await indexer.index_segments(
        dataset,
        document,
        [(segments[i], children.get(i, [])) for i in segment_ids if i in segments],
    )


@router.get(BASE, summary="List segments")
async def list_segments(
    request: Request,
    dataset_id: uuid.UUID,
    document_id: uuid.UUID,
    workspace_id: Workspace,
    page: Annotated[int, Query(ge=1)] = 1,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    keyword: str | None = None,
    status: Annotated[list[str] | None, Query()] = None,
) -> dict[str, Any]:
    """A document's segments in position order."""
    async with container_of(request).db.session() as session:
        _, document = await _document(session, workspace_id, dataset_id, document_id)
        repo = DocumentRepo(session)
        rows, total = await repo.segments(document.id, page, limit, keyword, status or [])
        children = await repo.children([r.id for r in rows])
    data = [segment_body(r, [child_body(c) for c in children.get(r.id, [])]) for r in rows]
    return {
        "data": data,
        "doc_form": document.doc_form,
        "total": total,
        "has_more": total > page * limit,
        "limit": limit,
        "page": page,
    }


def child_body(chunk: ChildChunk) -> dict[str, Any]:
    """ChildChunk."""
    return {
        "id": chunk.id,
        "segment_id": chunk.segment_id,
        "content": chunk.content,
        "position": chunk.position,
        "word_count": chunk.word_count,
        "type": chunk.type,
        "created_at": to_unix(chunk.created_at),
        "updated_at": to_unix(chunk.updated_at),
    }


@router.post(BASE, summary="Add segments")
async def add_segments(
    request: Request, dataset_id: uuid.UUID, document_id: uuid.UUID, workspace_id: Workspace
) -> Response:
    """Add segments to a completed document and index them."""
    body = await json_body(request)
    try:
        payload = NewSegments.model_validate(body)
    except ValidationError as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    if len(payload.segments) > MAX_SEGMENTS_PER_REQUEST:
        raise InvalidParamError(f"Exceeded maximum segments limit of {MAX_SEGMENTS_PER_REQUEST}.")
    async with container_of(request).db.session() as session:
        dataset, document = await _document(session, workspace_id, dataset_id, document_id)
        if document.indexing_status != "completed":
            raise NotFoundError("Document is not completed.")
        if not document.enabled:
            raise NotFoundError("Document is disabled.")
        _, total = await DocumentRepo(session).segments(document.id, 1, 1, None, [])
        created = []
        for offset, item in enumerate(payload.segments, start=1):
            segment = DocumentSegment(
                id=new_id(),
                dataset_id=dataset.id,
                document_id=document.id,
                position=total + offset,
                content=item.content,
                answer=item.answer,
                word_count=len(item.content),
                tokens=estimate_tokens(item.content),
                keywords=item.keywords or [],
                index_node_hash=hashlib.sha256(item.content.encode()).hexdigest(),
                status="completed",
                completed_at=utcnow(),
            )
            segment.index_node_id = segment.id
            session.add(segment)
            created.append(segment)
    await reindex(request, dataset, document, [s.id for s in created])
    return JSONResponse({"data": [segment_body(s) for s in created], "doc_form": document.doc_form})


@router.get(BASE + "/{segment_id}", summary="A segment")
async def get_segment(
    request: Request,
    dataset_id: uuid.UUID,
    document_id: uuid.UUID,
    segment_id: uuid.UUID,
    workspace_id: Workspace,
) -> dict[str, Any]:
    """One segment with its child chunks."""
    async with container_of(request).db.session() as session:
        _, document = await _document(session, workspace_id, dataset_id, document_id)
        repo = DocumentRepo(session)
        segment = await repo.segment(document.id, str(segment_id))
        if segment is None:
            raise NotFoundError("Segment not found.")
        children = await repo.children([segment.id])
    return {
        "data": segment_body(segment, [child_body(c) for c in children.get(segment.id, [])]),
        "doc_form": document.doc_form,
    }


@router.post(BASE + "/{segment_id}", summary="Update a segment")
async def update_segment(
    request: Request,
    dataset_id: uuid.UUID,
    document_id: uuid.UUID,
    segment_id: uuid.UUID,
    workspace_id: Workspace,
) -> dict[str, Any]:
    """Change a segment's content, answer, keywords or enabled flag; it is re-indexed."""
    changes = validate(SegmentUpdate, await json_body(request)).segment
    async with container_of(request).db.session() as session:
        dataset, document = await _document(session, workspace_id, dataset_id, document_id)
        segment = await DocumentRepo(session).segment(document.id, str(segment_id))
        if segment is None:
            raise NotFoundError("Segment not found.")
        if changes.content is not None and changes.content != segment.content:
            segment.content = changes.content
            segment.word_count = len(changes.content)
            segment.tokens = estimate_tokens(changes.content)
            segment.index_node_hash = hashlib.sha256(changes.content.encode()).hexdigest()
            # Edited content no longer matches generated child chunks.
            await session.execute(delete(ChildChunk).where(ChildChunk.segment_id == segment.id))
        if changes.answer is not None:
            segment.answer = changes.answer
        if changes.keywords is not None:
            segment.keywords = changes.keywords
        if changes.enabled is not None:
            segment.enabled = changes.enabled
        segment.updated_at = utcnow()
    await reindex(request, dataset, document, [segment.id])
    return {"data": segment_body(segment), "doc_form": document.doc_form}


@router.delete(BASE + "/{segment_id}", status_code=204, summary="Delete a segment")
async def delete_segment(
    request: Request,
    dataset_id: uuid.UUID,
    document_id: uuid.UUID,
    segment_id: uuid.UUID,
    workspace_id: Workspace,
) -> Response:
    """Delete a segment and its index entries."""
    container = container_of(request)
    async with container.db.session() as session:
        dataset, document = await _document(session, workspace_id, dataset_id, document_id)
        segment = await DocumentRepo(session).segment(document.id, str(segment_id))
        if segment is None:
            raise NotFoundError("Segment not found.")
        children = await DocumentRepo(session).children([segment.id])
        await session.execute(delete(ChildChunk).where(ChildChunk.segment_id == segment.id))
        await session.delete(segment)
    await container.knowledge.keyword.delete(dataset.id, [segment.id])
    await container.knowledge.vectors.delete(
        dataset.id, [segment.id, *(c.id for c in children.get(segment.id, []))]
    )
    return Response(status_code=204)
