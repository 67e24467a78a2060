"""Datasets, their metadata fields and tags."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from headrace.store.tables import (
    Dataset,
    DatasetDocument,
    DatasetMetadataField,
    DocumentSegment,
    Tag,
    TagBinding,
)


class DatasetRepo:
    """Datasets of a workspace."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def create(self, **fields: Any) -> Dataset:
        """Insert a dataset."""
        row = Dataset(**fields)
        self.session.add(row)
        await self.session.flush()
        return row

    async def get(self, workspace_id: str, dataset_id: str) -> Dataset | None:
        """A dataset of the workspace."""
        return await self.session.scalar(
            select(Dataset).where(Dataset.id == dataset_id, Dataset.workspace_id == workspace_id)
        )

    async def by_name(self, workspace_id: str, name: str) -> Dataset | None:
        """A dataset by its (unique) name."""
        return await self.session.scalar(
            select(Dataset).where(Dataset.workspace_id == workspace_id, Dataset.name == name)
        )

    async def page(
        self, workspace_id: str, page: int, limit: int, keyword: str | None, tag_ids: Sequence[str]
    ) -> tuple[list[Dataset], int]:
        """Datasets newest first, filtered by name and (all of the) tags; plus the total."""
        query = select(Dataset).where(Dataset.workspace_id == workspace_id)
        if keyword:
            query = query.where(func.lower(Dataset.name).contains(keyword.lower()))
        for tag_id in tag_ids:
            tagged = select(TagBinding.target_id).where(TagBinding.tag_id == tag_id)
            query = query.where(Dataset.id.in_(tagged))
        total = int(
            await self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        )
        rows = await self.session.scalars(
            query.order_by(Dataset.created_at.desc()).offset((page - 1) * limit).limit(limit)
        )
        return list(rows), total

    async def counts(self, dataset_id: str) -> tuple[int, int, int]:
        """(documents, available documents, words) of a dataset."""
        row = (
            await self.session.execute(
                select(
                    func.count(DatasetDocument.id),
                    func.count(DatasetDocument.id).filter(
                        DatasetDocument.indexing_status == "completed",
                        DatasetDocument.enabled.is_(True),
                        DatasetDocument.archived.is_(False),
                    ),
                    func.coalesce(func.sum(DatasetDocument.word_count), 0),
                ).where(DatasetDocument.dataset_id == dataset_id)
            )
        ).one()
        return int(row[0]), int(row[1]), int(row[2])

    async def remove(self, dataset: Dataset) -> None:
        """Delete a dataset with its documents, segments, fields and tag bindings."""
        from headrace.store.tables import ChildChunk

        await self.session.execute(delete(ChildChunk).where(ChildChunk.dataset_id == dataset.id))
        await self.session.execute(
            delete(DocumentSegment).where(DocumentSegment.dataset_id == dataset.id)
        )
        await self.session.execute(
            delete(DatasetDocument).where(DatasetDocument.dataset_id == dataset.id)
        )
        await self.session.execute(
            delete(DatasetMetadataField).where(DatasetMetadataField.dataset_id == dataset.id)
        )
        await self.session.execute(delete(TagBinding).where(TagBinding.target_id == dataset.id))
        await self.session.delete(dataset)
        await self.session.flush()


class TagRepo:
    """Knowledge tags and their bindings to datasets."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def create(self, workspace_id: str, name: str) -> Tag:
        """Insert a tag."""
        row = Tag(workspace_id=workspace_id, name=name, type="knowledge")
        self.session.add(row)
        await self.session.flush()
        return row

    async def get(self, workspace_id: str, tag_id: str) -> Tag | None:
        """A tag of the workspace."""
        return await self.session.scalar(
            select(Tag).where(Tag.id == tag_id, Tag.workspace_id == workspace_id)
        )

    async def all(self, workspace_id: str) -> list[tuple[Tag, int]]:
        """Every knowledge tag with its binding count, newest first."""
        count = select(func.count()).where(TagBinding.tag_id == Tag.id).scalar_subquery()
        rows = await self.session.execute(
            select(Tag, count)
            .where(Tag.workspace_id == workspace_id, Tag.type == "knowledge")
            .order_by(Tag.created_at.desc())
        )
        return [(tag, int(n)) for tag, n in rows]

    async def binding_count(self, tag_id: str) -> int:
        """How many datasets carry the tag."""
        return int(
            await self.session.scalar(select(func.count()).where(TagBinding.tag_id == tag_id)) or 0
        )

    async def remove(self, tag: Tag) -> None:
        """Delete a tag and its bindings."""
        await self.session.execute(delete(TagBinding).where(TagBinding.tag_id == tag.id))
        await self.session.delete(tag)
        await self.session.flush()

    async def bind(self, tag_ids: Sequence[str], target_id: str) -> None:
        """Attach tags to a dataset (existing bindings kept)."""
        existing = set(
            await self.session.scalars(
                select(TagBinding.tag_id).where(TagBinding.target_id == target_id)
            )
        )
        for tag_id in tag_ids:
            if tag_id not in existing:
                self.session.add(TagBinding(tag_id=tag_id, target_id=target_id))
        await self.session.flush()

    async def unbind(self, tag_ids: Sequence[str], target_id: str) -> None:
        """Detach tags from a dataset."""
        await self.session.execute(
            delete(TagBinding).where(
                TagBinding.target_id == target_id, TagBinding.tag_id.in_(tag_ids)
            )
        )

    async def of_target(self, target_id: str) -> list[Tag]:
        """Tags attached to a dataset."""
        return list(
            await self.session.scalars(
                select(Tag)
                .join(TagBinding, TagBinding.tag_id == Tag.id)
                .where(TagBinding.target_id == target_id)
            )
        )
