"""Documents of a dataset (spec §10.2): create from text or a file, list, read, delete, and
follow indexing progress."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy import delete
from starlette.datastructures import UploadFile as StarletteUpload

from headrace.apps.documents import DocumentOptions, add_document, replace_document
from headrace.apps.knowledge_views import document_body
from headrace.apps.uploads import check_size, check_upload, size_limit_bytes
from headrace.errors import (
    ArchivedDocumentImmutableError,
    DocumentIndexingError,
    InvalidActionError,
    InvalidMetadataError,
    InvalidParamError,
    NoFileUploadedError,
    NotFoundError,
    TooManyFilesError,
    UnsupportedFileTypeError,
)
from headrace.extract import is_supported
from headrace.http.dataset_api.datasets import load_dataset
from headrace.http.deps import container_of, json_body, validate, workspace_from_dataset_key
from headrace.knowledge.indexing import UNFINISHED, DocumentIndexer
from headrace.store.repos.documents import DocumentRepo
from headrace.store.tables import ChildChunk, DatasetDocument, DocumentSegment
from headrace.store.tables.base import to_unix, utcnow

router = APIRouter()
Workspace = Annotated[str, Depends(workspace_from_dataset_key)]


class _Options(BaseModel):
    process_rule: dict[str, Any] | None = None
    indexing_technique: Literal["high_quality", "economy"] | None = None
    doc_form: Literal["text_model", "hierarchical_model", "qa_model"] | None = None
    doc_language: str | None = None
    retrieval_model: dict[str, Any] | None = None
    embedding_model: str | None = None
    embedding_model_provider: str | None = None
    original_document_id: str | None = None

    def options(self) -> DocumentOptions:
        return DocumentOptions(
            process_rule=self.process_rule,
            indexing_technique=self.indexing_technique,
            doc_form=self.doc_form,
            doc_language=self.doc_language,
            embedding_model=self.embedding_model,
            embedding_model_provider=self.embedding_model_provider,
            retrieval_model=self.retrieval_model,
        )


class TextDocument(_Options):
    """Body of create-by-text."""

    name: str = Field(min_length=1, max_length=255)
    text: str = Field(min_length=1)


@router.post("/datasets/{dataset_id}/document/create-by-text", summary="Add a document from text")
@router.post("/datasets/{dataset_id}/document/create_by_text", include_in_schema=False)
async def create_by_text(
    request: Request, dataset_id: uuid.UUID, workspace_id: Workspace
) -> dict[str, Any]:
    """Store the text as a `.txt` file and index it."""
    payload = validate(TextDocument, await json_body(request))
    container = container_of(request)
    async with container.db.session() as session:
        dataset = await load_dataset(session, workspace_id, dataset_id)
    document, batch = await add_document(
        container,
        dataset,
        payload.name,
        payload.text.encode(),
        "txt",
        "text/plain",
        payload.options(),
    )
    return {"document": document_body(document), "batch": batch}


@router.post("/datasets/{dataset_id}/document/create-by-file", summary="Add a document from a file")
@router.post("/datasets/{dataset_id}/document/create_by_file", include_in_schema=False)
async def create_by_file(
    request: Request, dataset_id: uuid.UUID, workspace_id: Workspace
) -> dict[str, Any]:
    """Upload a document file (multipart `file`, optional JSON `data`) and index it."""
    container = container_of(request)
    settings = container.settings
    form = await request.form(max_files=10, max_part_size=1024 * 1024)
    parts = [v for k, v in form.multi_items() if k == "file" and isinstance(v, StarletteUpload)]
    if not parts:
        raise NoFileUploadedError()
    if len(parts) > 1:
        raise TooManyFilesError()
    raw = form.get("data")
    try:
        data = orjson.loads(raw) if isinstance(raw, str) and raw.strip() else {}
    except orjson.JSONDecodeError:
        raise InvalidParamError("data must be a JSON object") from None
    options = validate(_Options, data if isinstance(data, dict) else {})
    part = parts[0]
    checked = check_upload(settings, part.filename, part.content_type or "application/octet-stream")
    if not is_supported(checked.name, checked.mime_type):
        raise InvalidParamError("")
    limit = size_limit_bytes(settings, checked.extension)
    content = await part.read(limit + 1)
    check_size(settings, checked.extension, len(content))
    async with container.db.session() as session:
        dataset = await load_dataset(session, workspace_id, dataset_id)
    document, batch = await add_document(
        container,
        dataset,
        checked.name,
        content,
        checked.extension,
        checked.mime_type,
        options.options(),
    )
    return {"document": document_body(document), "batch": batch}


@router.get("/datasets/{dataset_id}/documents", summary="List documents")
async def list_documents(
    request: Request,
    dataset_id: uuid.UUID,
    workspace_id: Workspace,
    page: Annotated[int, Query(ge=1)] = 1,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    keyword: str | None = None,
    status: str | None = None,
) -> dict[str, Any]:
    """Documents newest first."""
    async with container_of(request).db.session() as session:
        dataset = await load_dataset(session, workspace_id, dataset_id)
        rows, total = await DocumentRepo(session).page(dataset.id, page, limit, keyword, status)
    data = [document_body(row) for row in rows]
    return {
        "data": data,
        "has_more": len(data) == limit,
        "limit": limit,
        "total": total,
        "page": page,
    }


@router.get("/datasets/{dataset_id}/documents/{batch}/indexing-status", summary="Indexing progress")
async def indexing_status(
    request: Request, dataset_id: uuid.UUID, batch: str, workspace_id: Workspace
) -> dict[str, Any]:
    """Progress of every document created by one request."""
    async with container_of(request).db.session() as session:
        dataset = await load_dataset(session, workspace_id, dataset_id)
        repo = DocumentRepo(session)
        documents = await repo.batch(dataset.id, batch)
        if not documents:
            raise NotFoundError("Documents not found.")
        counts = await repo.segment_counts([d.id for d in documents])

    def ts(value: Any) -> int | None:
        return to_unix(value) if value is not None else None

    return {
        "data": [
            {
                "id": d.id,
                "indexing_status": d.indexing_status,
                "processing_started_at": ts(d.processing_started_at),
                "parsing_completed_at": ts(d.parsing_completed_at),
                "cleaning_completed_at": ts(d.cleaning_completed_at),
                "splitting_completed_at": ts(d.splitting_completed_at),
                "completed_at": ts(d.completed_at),
                "paused_at": ts(d.paused_at),
                "error": d.error,
                "stopped_at": ts(d.stopped_at),
                "completed_segments": counts.get(d.id, (0, 0))[0],
                "total_segments": counts.get(d.id, (0, 0))[1],
            }
            for d in documents
        ]
    }


@router.get("/datasets/{dataset_id}/documents/{document_id}", summary="A document")
async def get_document(
    request: Request,
    dataset_id: uuid.UUID,
    document_id: uuid.UUID,
    workspace_id: Workspace,
    metadata: str = "all",
) -> dict[str, Any]:
    """A document with its processing details."""
    if metadata not in ("all", "only", "without"):
        raise InvalidMetadataError(f"Invalid metadata value: {metadata}")
    async with container_of(request).db.session() as session:
        dataset = await load_dataset(session, workspace_id, dataset_id)
        document = await DocumentRepo(session).get(dataset.id, str(document_id))
        if document is None:
            raise NotFoundError("Document Not Exists.")
        counts = await DocumentRepo(session).segment_counts([document.id])
    body = document_body(document)
    if metadata == "only":
        return {"id": document.id, "doc_type": None, "doc_metadata": body["doc_metadata"]}
    segments = counts.get(document.id, (0, 0))[1]
    body.update(
        dataset_process_rule={
            "mode": document.process_rule.get("mode"),
            "rules": document.process_rule.get("rules"),
        },
        document_process_rule=document.process_rule,
        completed_at=to_unix(document.completed_at) if document.completed_at else None,
        updated_at=to_unix(document.updated_at),
        indexing_latency=document.indexing_latency,
        segment_count=segments,
        average_segment_length=(document.word_count // segments) if segments else 0,
        doc_language=document.doc_language,
    )
    if metadata == "all":
        body["doc_type"] = None
    else:
        body.pop("doc_metadata", None)
    return body


@router.delete(
    "/datasets/{dataset_id}/documents/{document_id}", status_code=204, summary="Delete a document"
)
async def delete_document(
    request: Request, dataset_id: uuid.UUID, document_id: uuid.UUID, workspace_id: Workspace
) -> Response:
    """Delete a document, its segments and its index entries."""
    container = container_of(request)
    async with container.db.session() as session:
        dataset = await load_dataset(session, workspace_id, dataset_id)
        document = await DocumentRepo(session).get(dataset.id, str(document_id))
        if document is None:
            raise NotFoundError("Document Not Exists.")
        if document.archived:
            raise ArchivedDocumentImmutableError()
        if document.indexing_status in UNFINISHED:
            raise DocumentIndexingError("Cannot delete document during indexing.")
    indexer = DocumentIndexer(container)
    await indexer.remove_document_index(dataset.id, document.id)
    async with container.db.session() as session:
        await session.execute(delete(ChildChunk).where(ChildChunk.document_id == document.id))
        await session.execute(
            delete(DocumentSegment).where(DocumentSegment.document_id == document.id)
        )
        await session.execute(delete(DatasetDocument).where(DatasetDocument.id == document.id))
    return Response(status_code=204)


class DocumentIds(BaseModel):
    """Body of the status actions."""

    document_ids: list[str] = Field(min_length=1)


STATUS_ACTIONS = ("enable", "disable", "archive", "un_archive")


@router.patch(
    "/datasets/{dataset_id}/documents/status/{action}", summary="Enable, disable or archive"
)
async def document_status(
    request: Request, dataset_id: uuid.UUID, action: str, workspace_id: Workspace
) -> dict[str, str]:
    """Apply a status action to documents (retrieval skips disabled and archived ones)."""
    if action not in STATUS_ACTIONS:
        raise InvalidActionError(f"Invalid action: {action}")
    payload = validate(DocumentIds, await json_body(request))
    async with container_of(request).db.session() as session:
        dataset = await load_dataset(session, workspace_id, dataset_id)
        repo = DocumentRepo(session)
        documents = [
            await repo.get(dataset.id, document_id) for document_id in payload.document_ids
        ]
        for document in documents:
            if document is None:
                raise NotFoundError("Document Not Exists.")
            if document.indexing_status in UNFINISHED:
                raise InvalidActionError(
                    f"Document:{document.name} is being indexed, please try again later"
                )
        for document in documents:
            assert document is not None
            if action in ("enable", "disable"):
                document.enabled = action == "enable"
                document.disabled_at = None if document.enabled else utcnow()
            else:
                document.archived = action == "archive"
    return {"result": "success"}


class TextUpdate(_Options):
    """Body of update-by-text."""

    name: str | None = Field(None, min_length=1, max_length=255)
    text: str | None = None


async def _editable(
    request: Request, workspace_id: str, dataset_id: uuid.UUID, document_id: uuid.UUID
) -> Any:
    async with container_of(request).db.session() as session:
        dataset = await load_dataset(session, workspace_id, dataset_id)
        document = await DocumentRepo(session).get(dataset.id, str(document_id))
    if document is None:
        raise NotFoundError("Document Not Exists.")
    if document.archived:
        raise ArchivedDocumentImmutableError()
    if document.indexing_status in UNFINISHED:
        raise DocumentIndexingError()
    return dataset, document


@router.post(
    "/datasets/{dataset_id}/documents/{document_id}/update-by-text",
    summary="Replace a document's text",
)
@router.post(
    "/datasets/{dataset_id}/documents/{document_id}/update_by_text", include_in_schema=False
)
async def update_by_text(
    request: Request, dataset_id: uuid.UUID, document_id: uuid.UUID, workspace_id: Workspace
) -> dict[str, Any]:
    """New text (and/or rules) for a document; it is indexed again."""
    payload = validate(TextUpdate, await json_body(request))
    if payload.text is not None and not payload.name:
        raise InvalidParamError("name is required when text is given")
    container = container_of(request)
    dataset, document = await _editable(request, workspace_id, dataset_id, document_id)
    content = None
    if payload.text is not None:
        content = (payload.name or document.name, payload.text.encode(), "txt", "text/plain")
    batch = await replace_document(container, dataset, document, content, payload.options())
    async with container.db.session() as session:
        refreshed = await DocumentRepo(session).get(dataset.id, document.id)
    assert refreshed is not None
    return {"document": document_body(refreshed), "batch": batch}


@router.patch("/datasets/{dataset_id}/documents/{document_id}", summary="Replace a document's file")
@router.post(
    "/datasets/{dataset_id}/documents/{document_id}/update-by-file", include_in_schema=False
)
@router.post(
    "/datasets/{dataset_id}/documents/{document_id}/update_by_file", include_in_schema=False
)
async def update_by_file(
    request: Request, dataset_id: uuid.UUID, document_id: uuid.UUID, workspace_id: Workspace
) -> dict[str, Any]:
    """A new file (optional) and options (`data`) for a document; it is indexed again."""
    container = container_of(request)
    settings = container.settings
    form = await request.form(max_files=10, max_part_size=1024 * 1024)
    parts = [v for k, v in form.multi_items() if k == "file" and isinstance(v, StarletteUpload)]
    if len(parts) > 1:
        raise TooManyFilesError()
    raw = form.get("data")
    try:
        data = orjson.loads(raw) if isinstance(raw, str) and raw.strip() else {}
    except orjson.JSONDecodeError:
        raise InvalidParamError("data must be a JSON object") from None
    options = validate(_Options, data if isinstance(data, dict) else {})
    dataset, document = await _editable(request, workspace_id, dataset_id, document_id)
    content = None
    if parts:
        part = parts[0]
        checked = check_upload(
            settings, part.filename, part.content_type or "application/octet-stream"
        )
        if not is_supported(checked.name, checked.mime_type):
            raise UnsupportedFileTypeError()
        raw_bytes = await part.read(size_limit_bytes(settings, checked.extension) + 1)
        check_size(settings, checked.extension, len(raw_bytes))
        content = (checked.name, raw_bytes, checked.extension, checked.mime_type)
    batch = await replace_document(container, dataset, document, content, options.options())
    async with container.db.session() as session:
        refreshed = await DocumentRepo(session).get(dataset.id, document.id)
    assert refreshed is not None
    return {"document": document_body(refreshed), "batch": batch}
