"""A server stopped mid-indexing loses nothing: the next start indexes the document again."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import func, select

from headrace.apps.documents import DocumentOptions, add_document
from headrace.container import Container
from headrace.settings import Settings
from headrace.store.repos.apps import AppRepo
from headrace.store.repos.datasets import DatasetRepo
from headrace.store.tables import DatasetDocument, DocumentSegment


async def test_unfinished_document_is_indexed_after_restart(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)  # two processes sharing one SQLite file
    first = Container.build(settings)
    await first.start()
    async with first.db.session() as session:
        workspace = await AppRepo(session).default_workspace()
        dataset = await DatasetRepo(session).create(workspace_id=workspace.id, name="Resume")
    document, _ = await add_document(
        first,
        dataset,
        "notes",
        b"Rivers flow.\n\nLakes rest.",
        "txt",
        "text/plain",
        DocumentOptions(indexing_technique="economy"),
    )
    # Kill the background job before it can finish, as a crash would.
    for task in list(first._tasks):
        task.cancel()
    await asyncio.gather(*first._tasks, return_exceptions=True)
    await first.aclose()
    async with first.db.session() as session:
        stopped = await session.get(DatasetDocument, document.id)
    assert stopped is not None and stopped.indexing_status != "completed"

    second = Container.build(settings)
    await second.start()  # resumes unfinished documents
    try:
        for _ in range(200):
            async with second.db.session() as session:
                row = await session.get(DatasetDocument, document.id)
                segments = await session.scalar(
                    select(func.count()).where(DocumentSegment.document_id == document.id)
                )
            if row is not None and row.indexing_status in ("completed", "error"):
                break
            await asyncio.sleep(0.05)
        assert row is not None and row.indexing_status == "completed", row.error if row else None
        assert segments == 2
        hits = await second.knowledge.keyword.search(dataset.id, "lakes", 5)
        assert len(hits) == 1
    finally:
        await second.aclose()
