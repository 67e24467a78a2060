"""`POST /v1/datasets/{id}/retrieve` (alias `hit-testing`): search a dataset (spec §10.4)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from headrace.apps.knowledge_views import segment_body
from headrace.errors import InvalidParamError
from headrace.http.dataset_api.datasets import load_dataset
from headrace.http.deps import container_of, json_body, validate, workspace_from_dataset_key
from headrace.knowledge.retrieval import retrieve
from headrace.store.repos.documents import DocumentRepo

router = APIRouter()
Workspace = Annotated[str, Depends(workspace_from_dataset_key)]


class RetrievePayload(BaseModel):
    """Body of the retrieve endpoint."""

    query: str | None = Field(None, max_length=250)
    retrieval_model: dict[str, Any] | None = None
    attachment_ids: list[str] | None = None


@router.post("/datasets/{dataset_id}/retrieve", summary="Search a dataset")
@router.post("/datasets/{dataset_id}/hit-testing", include_in_schema=False)
async def retrieve_segments(
    request: Request, dataset_id: uuid.UUID, workspace_id: Workspace
) -> dict[str, Any]:
    """The best segments for a query, with their documents and scores."""
    payload = validate(RetrievePayload, await json_body(request))
    if not (payload.query or "").strip():
        raise InvalidParamError("Query or attachment_ids is required")
    query = (payload.query or "").strip()
    container = container_of(request)
    async with container.db.session() as session:
        dataset = await load_dataset(session, workspace_id, dataset_id)
    results = await retrieve(container, dataset, query, payload.retrieval_model)
    async with container.db.session() as session:
        repo = DocumentRepo(session)
        segments = await repo.segments_by_ids([r.segment_id for r in results])
        documents = await repo.documents_by_ids([s.document_id for s in segments.values()])
        children = await repo.children(list(segments))
    records = []
    for result in results:
        segment = segments.get(result.segment_id)
        if segment is None or not segment.enabled:
            continue
        document = documents.get(segment.document_id)
        if document is None or not document.enabled or document.archived:
            continue
        body = segment_body(segment)
        body.pop("child_chunks")
        body.pop("attachments")
        body.pop("summary")
        body["document"] = {
            "id": document.id,
            "data_source_type": document.data_source_type,
            "name": document.name,
            "doc_type": None,
            "doc_metadata": document.doc_metadata or None,
        }
        records.append(
            {
                "segment": body,
                "child_chunks": matched_children(
                    children.get(segment.id, []), dict(result.child_ids)
                ),
                "score": result.score,
                "tsne_position": None,
                "files": [],
                "summary": None,
            }
        )
    return {"query": {"content": query}, "records": records}


def matched_children(children: list[Any], scores: dict[str, float]) -> list[dict[str, Any]]:
    """The child chunks that matched the query, best first."""
    found = [
        {"id": c.id, "content": c.content, "position": c.position, "score": scores[c.id]}
        for c in children
        if c.id in scores
    ]
    return sorted(found, key=lambda c: -float(c["score"]))
