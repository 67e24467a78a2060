"""`Database.write`: synchronous write units, committed whole or not at all, on each back end."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from headrace.container import Container
from headrace.store.repos.apps import AppRepo
from headrace.store.tables import Workspace


async def _workspace_names(container: Container) -> list[str]:
    async with container.db.session() as session:
        return sorted(await session.scalars(select(Workspace.name)))


async def test_many_concurrent_writes_all_commit(container: Container) -> None:
    """Hundreds of writers at once: none waits out SQLite's busy timeout, none is lost."""
    before = len(await _workspace_names(container))

    async def write(i: int) -> str:
        return await container.db.write(lambda s: _add_workspace(s, f"w{i:03d}"))

    ids = await asyncio.gather(*(write(i) for i in range(300)))
    assert len(set(ids)) == 300
    names = await _workspace_names(container)
    assert len(names) == before + 300
    assert {f"w{i:03d}" for i in range(300)} <= set(names)


def _add_workspace(session: Session, name: str) -> str:
    row = Workspace(name=name)
    session.add(row)
    session.flush()
    return row.id


async def test_a_failing_unit_leaves_nothing_behind(container: Container) -> None:
    def half_then_fail(session: Session) -> None:
        _add_workspace(session, "half-written")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await container.db.write(half_then_fail)
    assert "half-written" not in await _workspace_names(container)
    # The writer is still usable after a failed unit.
    await container.db.write(lambda s: _add_workspace(s, "after"))
    assert "after" in await _workspace_names(container)


async def test_writes_are_visible_to_async_sessions_at_once(container: Container) -> None:
    async with container.db.session() as session:
        workspace = await AppRepo(session).default_workspace()
    await container.db.write(
        lambda s: s.execute(
            Workspace.__table__.update()  # type: ignore[attr-defined]
            .where(Workspace.id == workspace.id)
            .values(name="renamed")
        )
    )
    async with container.db.session() as session:
        count = await session.scalar(
            select(func.count()).where(Workspace.id == workspace.id, Workspace.name == "renamed")
        )
    assert count == 1
