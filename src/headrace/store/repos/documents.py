"""Documents and segments of datasets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from headrace.store.tables import ChildChunk, DatasetDocument, DocumentSegment

STATUS_FILTERS: dict[str, Any] = {
    "queuing": DatasetDocument.indexing_status == "waiting",
    "indexing": DatasetDocument.indexing_status.in_(
        ("parsing", "cleaning", "splitting", "indexing")
    ),
    "paused": DatasetDocument.indexing_status == "paused",
    "error": DatasetDocument.indexing_status == "error",
}


class DocumentRepo:
    """Documents of one dataset, and their segments."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def create(self, **fields: Any) -> DatasetDocument:
        """Insert a document at the next position."""
        position = await self.session.scalar(
            select(func.coalesce(func.max(DatasetDocument.position), 0)).where(
                DatasetDocument.dataset_id == fields["dataset_id"]
            )
        )
        row = DatasetDocument(position=int(position or 0) + 1, **fields)
        self.session.add(row)
        await self.session.flush()
        return row

    async def get(self, dataset_id: str, document_id: str) -> DatasetDocument | None:
        """A document of the dataset."""
        return await self.session.scalar(
            select(DatasetDocument).where(
                DatasetDocument.id == document_id, DatasetDocument.dataset_id == dataset_id
            )
        )

    async def batch(self, dataset_id: str, batch: str) -> list[DatasetDocument]:
        """Documents created by one request."""
        return list(
            await self.session.scalars(
                select(DatasetDocument)
                .where(DatasetDocument.dataset_id == dataset_id, DatasetDocument.batch == batch)
                .order_by(DatasetDocument.position)
            )
        )

    async def page(
        self, dataset_id: str, page: int, limit: int, keyword: str | None, status: str | None
    ) -> tuple[list[DatasetDocument], int]:
        """Documents newest first, filtered by name and display status; plus the total."""
        query = select(DatasetDocument).where(DatasetDocument.dataset_id == dataset_id)
        if keyword:
            query = query.where(DatasetDocument.name.contains(keyword))
        if status in STATUS_FILTERS:
            query = query.where(STATUS_FILTERS[status])
        elif status in ("available", "active", "enabled"):
            query = query.where(
                DatasetDocument.indexing_status == "completed",
                DatasetDocument.enabled.is_(True),
                DatasetDocument.archived.is_(False),
            )
        elif status == "disabled":
            query = query.where(
                DatasetDocument.enabled.is_(False), DatasetDocument.archived.is_(False)
            )
        elif status == "archived":
            query = query.where(DatasetDocument.archived.is_(True))
        total = int(
            await self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        )
        rows = await self.session.scalars(
            query.order_by(DatasetDocument.created_at.desc(), DatasetDocument.position.desc())
            .offset((page - 1) * limit)
            .limit(limit)
        )
        return list(rows), total

    async def segment_counts(self, document_ids: Sequence[str]) -> dict[str, tuple[int, int]]:
        """(completed, total) segments per document."""
        rows = await self.session.execute(
            select(
                DocumentSegment.document_id,
                func.count(DocumentSegment.id).filter(DocumentSegment.status == "completed"),
                func.count(DocumentSegment.id),
            )
            .where(DocumentSegment.document_id.in_(document_ids))
            .group_by(DocumentSegment.document_id)
        )
        return {doc: (int(done), int(total)) for doc, done, total in rows}

    async def segments(
        self, document_id: str, page: int, limit: int, keyword: str | None, statuses: Sequence[str]
    ) -> tuple[list[DocumentSegment], int]:
        """Segments of a document in position order; plus the total."""
        query = select(DocumentSegment).where(DocumentSegment.document_id == document_id)
        if keyword:
            query = query.where(DocumentSegment.content.contains(keyword))
        if statuses:
            query = query.where(DocumentSegment.status.in_(statuses))
        total = int(
            await self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        )
        rows = await self.session.scalars(
            query.order_by(DocumentSegment.position).offset((page - 1) * limit).limit(limit)
        )
        return list(rows), total

    async def segment(self, document_id: str, segment_id: str) -> DocumentSegment | None:
        """A segment of the document."""
        return await self.session.scalar(
            select(DocumentSegment).where(
                DocumentSegment.id == segment_id, DocumentSegment.document_id == document_id
            )
        )

    async def children(self, segment_ids: Sequence[str]) -> dict[str, list[ChildChunk]]:
        """Child chunks per segment, in position order."""
        rows = await self.session.scalars(
            select(ChildChunk)
            .where(ChildChunk.segment_id.in_(segment_ids))
            .order_by(ChildChunk.position)
        )
        grouped: dict[str, list[ChildChunk]] = {}
        for row in rows:
            grouped.setdefault(row.segment_id, []).append(row)
        return grouped

    async def segments_by_ids(self, ids: Sequence[str]) -> dict[str, DocumentSegment]:
        """Segments by id."""
        rows = await self.session.scalars(
            select(DocumentSegment).where(DocumentSegment.id.in_(ids))
        )
        return {row.id: row for row in rows}

    async def documents_by_ids(self, ids: Sequence[str]) -> dict[str, DatasetDocument]:
        """Documents by id."""
        rows = await self.session.scalars(
            select(DatasetDocument).where(DatasetDocument.id.in_(ids))
        )
        return {row.id: row for row in rows}
