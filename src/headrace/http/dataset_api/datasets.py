"""`/v1/datasets`: datasets CRUD and knowledge tags (spec §10.1)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from headrace.apps.knowledge_views import dataset_body
from headrace.errors import (
    DatasetNameDuplicateError,
    ForbiddenError,
    InvalidParamError,
    NotFoundError,
)
from headrace.http.deps import container_of, json_body, validate, workspace_from_dataset_key
from headrace.store.repos.datasets import DatasetRepo, TagRepo
from headrace.store.tables import Dataset, DatasetMetadataField

router = APIRouter()
Workspace = Annotated[str, Depends(workspace_from_dataset_key)]


class DatasetPayload(BaseModel):
    """Body of `POST /v1/datasets`."""

    name: str = Field(min_length=1, max_length=40)
    description: str = Field("", max_length=400)
    indexing_technique: Literal["high_quality", "economy"] | None = None
    permission: Literal["only_me", "all_team_members", "partial_members"] = "only_me"
    provider: Literal["vendor", "external"] = "vendor"
    retrieval_model: dict[str, Any] | None = None
    embedding_model: str | None = None
    embedding_model_provider: str | None = None


class DatasetPatch(BaseModel):
    """Body of `PATCH /v1/datasets/{id}` (any subset)."""

    name: str | None = Field(None, min_length=1, max_length=40)
    description: str | None = Field(None, max_length=400)
    indexing_technique: Literal["high_quality", "economy"] | None = None
    permission: Literal["only_me", "all_team_members", "partial_members"] | None = None
    retrieval_model: dict[str, Any] | None = None
    embedding_model: str | None = None
    embedding_model_provider: str | None = None


async def load_dataset(session: AsyncSession, workspace_id: str, dataset_id: uuid.UUID) -> Dataset:
    """A dataset of the key's workspace, or `404 not_found` "Dataset not found."."""
    dataset = await DatasetRepo(session).get(workspace_id, str(dataset_id))
    if dataset is None:
        raise NotFoundError("Dataset not found.")
    if not dataset.enable_api:
        raise ForbiddenError("Dataset api access is not enabled.")
    return dataset


async def detail(session: AsyncSession, dataset: Dataset) -> dict[str, Any]:
    """DatasetDetail with counts, tags and metadata fields."""
    counts = await DatasetRepo(session).counts(dataset.id)
    tags = await TagRepo(session).of_target(dataset.id)
    fields = list(
        await session.scalars(
            select(DatasetMetadataField).where(DatasetMetadataField.dataset_id == dataset.id)
        )
    )
    return dataset_body(dataset, counts, tags, fields)


@router.post("/datasets", summary="Create a dataset")
async def create_dataset(request: Request, workspace_id: Workspace) -> dict[str, Any]:
    """An empty dataset."""
    payload = validate(DatasetPayload, await json_body(request))
    if payload.provider == "external":
        raise InvalidParamError("External datasets are not supported.")
    async with container_of(request).db.session() as session:
        repo = DatasetRepo(session)
        if await repo.by_name(workspace_id, payload.name) is not None:
            raise DatasetNameDuplicateError()
        dataset = await repo.create(
            workspace_id=workspace_id,
            name=payload.name,
            description=payload.description,
            indexing_technique=payload.indexing_technique,
            permission=payload.permission,
            retrieval_model=payload.retrieval_model,
            embedding_model=payload.embedding_model,
            embedding_model_provider=payload.embedding_model_provider,
        )
        return await detail(session, dataset)


@router.get("/datasets", summary="List datasets")
async def list_datasets(
    request: Request,
    workspace_id: Workspace,
    page: Annotated[int, Query(ge=1)] = 1,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    keyword: str | None = None,
    tag_ids: Annotated[list[str] | None, Query()] = None,
    include_all: bool = False,
) -> dict[str, Any]:
    """Datasets newest first."""
    async with container_of(request).db.session() as session:
        rows, total = await DatasetRepo(session).page(
            workspace_id, page, limit, keyword, tag_ids or []
        )
        data = [await detail(session, row) for row in rows]
    return {
        "data": data,
        "has_more": len(data) == limit,
        "limit": limit,
        "total": total,
        "page": page,
    }


@router.get("/datasets/{dataset_id}", summary="A dataset")
async def get_dataset(
    request: Request, dataset_id: uuid.UUID, workspace_id: Workspace
) -> dict[str, Any]:
    """DatasetDetail."""
    async with container_of(request).db.session() as session:
        return await detail(session, await load_dataset(session, workspace_id, dataset_id))


@router.patch("/datasets/{dataset_id}", summary="Update a dataset")
async def update_dataset(
    request: Request, dataset_id: uuid.UUID, workspace_id: Workspace
) -> dict[str, Any]:
    """Change any subset of the settings."""
    payload = validate(DatasetPatch, await json_body(request))
    async with container_of(request).db.session() as session:
        dataset = await load_dataset(session, workspace_id, dataset_id)
        changes = payload.model_dump(exclude_unset=True)
        if changes.get("name") and changes["name"] != dataset.name:
            other = await DatasetRepo(session).by_name(workspace_id, changes["name"])
            if other is not None:
                raise DatasetNameDuplicateError()
        for key, value in changes.items():
            if value is not None:
                setattr(dataset, key, value)
        await session.flush()
        body = await detail(session, dataset)
    body["partial_member_list"] = []
    return body


@router.delete("/datasets/{dataset_id}", status_code=204, summary="Delete a dataset")
async def delete_dataset(
    request: Request, dataset_id: uuid.UUID, workspace_id: Workspace
) -> Response:
    """Delete a dataset and everything in it."""
    container = container_of(request)
    async with container.db.session() as session:
        dataset = await load_dataset(session, workspace_id, dataset_id)
        await DatasetRepo(session).remove(dataset)
    return Response(status_code=204)
