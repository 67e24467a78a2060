"""Dataset metadata fields, built-in fields and document metadata values (spec §10.5)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from headrace.errors import InvalidActionError, InvalidParamError, NotFoundError
from headrace.http.dataset_api.datasets import load_dataset
from headrace.http.deps import container_of, json_body, validate, workspace_from_dataset_key
from headrace.store.repos.documents import DocumentRepo
from headrace.store.tables import DatasetDocument, DatasetMetadataField

router = APIRouter()
Workspace = Annotated[str, Depends(workspace_from_dataset_key)]
BUILT_IN = (
    ("document_name", "string"),
    ("uploader", "string"),
    ("upload_date", "time"),
    ("last_update_date", "time"),
    ("source", "string"),
)


class FieldPayload(BaseModel):
    """Body of field creation."""

    type: Literal["string", "number", "time"]
    name: str = Field(min_length=1, max_length=255)


class RenamePayload(BaseModel):
    """Body of field renaming."""

    name: str = Field(min_length=1, max_length=255)


class MetadataValue(BaseModel):
    """One value of one field."""

    id: str
    name: str
    value: Any = None


class DocumentMetadata(BaseModel):
    """Values for one document."""

    document_id: str
    metadata_list: list[MetadataValue]
    partial_update: bool = False


class OperationData(BaseModel):
    """Body of the document metadata update."""

    operation_data: list[DocumentMetadata]


async def _fields(request: Request, dataset_id: str) -> list[DatasetMetadataField]:
    async with container_of(request).db.session() as session:
        return list(
            await session.scalars(
                select(DatasetMetadataField)
                .where(DatasetMetadataField.dataset_id == dataset_id)
                .order_by(DatasetMetadataField.created_at)
            )
        )


@router.post("/datasets/{dataset_id}/metadata", summary="Add a metadata field")
async def create_field(
    request: Request, dataset_id: uuid.UUID, workspace_id: Workspace
) -> JSONResponse:
    """A new metadata field of the dataset."""
    payload = validate(FieldPayload, await json_body(request))
    async with container_of(request).db.session() as session:
        dataset = await load_dataset(session, workspace_id, dataset_id)
    if payload.name in {name for name, _ in BUILT_IN}:
        raise InvalidParamError("Metadata name already exists in Built-in fields.")
    if payload.name in {f.name for f in await _fields(request, dataset.id)}:
        raise InvalidParamError("Metadata name already exists.")
    async with container_of(request).db.session() as session:
        row = DatasetMetadataField(dataset_id=dataset.id, name=payload.name, type=payload.type)
        session.add(row)
        await session.flush()
    return JSONResponse({"id": row.id, "type": row.type, "name": row.name}, status_code=201)


@router.get("/datasets/{dataset_id}/metadata", summary="Metadata fields")
async def list_fields(
    request: Request, dataset_id: uuid.UUID, workspace_id: Workspace
) -> dict[str, Any]:
    """The dataset's fields with how many documents use each."""
    async with container_of(request).db.session() as session:
        dataset = await load_dataset(session, workspace_id, dataset_id)
        documents = list(
            await session.scalars(
                select(DatasetDocument).where(DatasetDocument.dataset_id == dataset.id)
            )
        )
    fields = await _fields(request, dataset.id)
    return {
        "doc_metadata": [
            {
                "id": f.id,
                "name": f.name,
                "type": f.type,
                "count": sum(1 for d in documents if f.name in (d.doc_metadata or {})),
            }
            for f in fields
        ],
        "built_in_field_enabled": dataset.built_in_field_enabled,
    }


@router.get("/datasets/{dataset_id}/metadata/built-in", summary="Built-in metadata fields")
async def built_in_fields(
    request: Request, dataset_id: uuid.UUID, workspace_id: Workspace
) -> dict[str, Any]:
    """The built-in fields every document has."""
    async with container_of(request).db.session() as session:
        await load_dataset(session, workspace_id, dataset_id)
    return {"fields": [{"name": name, "type": kind} for name, kind in BUILT_IN]}


@router.post("/datasets/{dataset_id}/metadata/built-in/{action}", summary="Switch built-in fields")
async def switch_built_in(
    request: Request, dataset_id: uuid.UUID, action: str, workspace_id: Workspace
) -> dict[str, str]:
    """Enable or disable the built-in fields."""
    if action not in ("enable", "disable"):
        raise InvalidActionError(f"Invalid action: {action}")
    async with container_of(request).db.session() as session:
        dataset = await load_dataset(session, workspace_id, dataset_id)
        dataset.built_in_field_enabled = action == "enable"
    return {"result": "success"}


async def _field(request: Request, dataset_id: str, metadata_id: uuid.UUID) -> DatasetMetadataField:
    for field in await _fields(request, dataset_id):
        if field.id == str(metadata_id):
            return field
    raise NotFoundError("Metadata not found.")


@router.patch("/datasets/{dataset_id}/metadata/{metadata_id}", summary="Rename a metadata field")
async def rename_field(
    request: Request, dataset_id: uuid.UUID, metadata_id: uuid.UUID, workspace_id: Workspace
) -> dict[str, Any]:
    """Rename a field (documents' values follow)."""
    payload = validate(RenamePayload, await json_body(request))
    async with container_of(request).db.session() as session:
        dataset = await load_dataset(session, workspace_id, dataset_id)
    field = await _field(request, dataset.id, metadata_id)
    async with container_of(request).db.session() as session:
        attached = await session.merge(field)
        old, attached.name = attached.name, payload.name
        for document in await session.scalars(
            select(DatasetDocument).where(DatasetDocument.dataset_id == dataset.id)
        ):
            values = dict(document.doc_metadata or {})
            if old in values:
                values[payload.name] = values.pop(old)
                document.doc_metadata = values
        return {"id": attached.id, "type": attached.type, "name": attached.name}


@router.delete(
    "/datasets/{dataset_id}/metadata/{metadata_id}", status_code=204, summary="Delete a field"
)
async def delete_field(
    request: Request, dataset_id: uuid.UUID, metadata_id: uuid.UUID, workspace_id: Workspace
) -> Response:
    """Delete a field and its values."""
    async with container_of(request).db.session() as session:
        dataset = await load_dataset(session, workspace_id, dataset_id)
    field = await _field(request, dataset.id, metadata_id)
    async with container_of(request).db.session() as session:
        for document in await session.scalars(
            select(DatasetDocument).where(DatasetDocument.dataset_id == dataset.id)
        ):
            values = dict(document.doc_metadata or {})
            if values.pop(field.name, None) is not None:
                document.doc_metadata = values
        await session.delete(await session.merge(field))
    return Response(status_code=204)


@router.post("/datasets/{dataset_id}/documents/metadata", summary="Set document metadata")
async def set_document_metadata(
    request: Request, dataset_id: uuid.UUID, workspace_id: Workspace
) -> dict[str, str]:
    """Write metadata values of documents (replace, or merge with `partial_update`)."""
    payload = validate(OperationData, await json_body(request))
    async with container_of(request).db.session() as session:
        dataset = await load_dataset(session, workspace_id, dataset_id)
    known = {f.id: f.name for f in await _fields(request, dataset.id)}
    async with container_of(request).db.session() as session:
        repo = DocumentRepo(session)
        for operation in payload.operation_data:
            document = await repo.get(dataset.id, operation.document_id)
            if document is None:
                raise NotFoundError("Document Not Exists.")
            values = dict(document.doc_metadata or {}) if operation.partial_update else {}
            for item in operation.metadata_list:
                if item.id not in known:
                    raise NotFoundError("Metadata not found.")
                values[known[item.id]] = item.value
            document.doc_metadata = values
    return {"result": "success"}
