"""`Database.write` with hot writes: committed whole or not at all, stored exactly as the ORM
stores the same values, on each back end."""

from __future__ import annotations

import asyncio
import fcntl
import os
from datetime import datetime
from typing import Any, cast

import pytest
from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, StatementError

from headrace.container import Container
from headrace.store.db import Database
from headrace.store.hot_writes import HotWrite, full_row, insert_row
from headrace.store.repos.apps import AppRepo
from headrace.store.tables import App, Workspace
from headrace.store.tables.base import new_id

WORKSPACES = cast(Table, Workspace.__table__)
APPS = cast(Table, App.__table__)
INSERT_WORKSPACE = insert_row(WORKSPACES)
INSERT_APP = insert_row(APPS)


def _workspace(name: str, workspace_id: str | None = None) -> tuple[HotWrite, dict[str, Any]]:
    return INSERT_WORKSPACE, full_row(WORKSPACES, {"id": workspace_id or new_id(), "name": name})


async def _workspace_names(container: Container) -> list[str]:
    async with container.db.session() as session:
        return sorted(await session.scalars(select(Workspace.name)))


async def test_many_concurrent_writes_all_commit(container: Container) -> None:
    """Hundreds of writers at once: none waits out SQLite's busy timeout, none is lost."""
    before = len(await _workspace_names(container))
    await asyncio.gather(*(container.db.write([_workspace(f"w{i:03d}")]) for i in range(300)))
    names = await _workspace_names(container)
    assert len(names) == before + 300
    assert {f"w{i:03d}" for i in range(300)} <= set(names)


async def test_a_failing_batch_leaves_nothing_behind(container: Container) -> None:
    taken = new_id()
    await container.db.write([_workspace("first", taken)])
    with pytest.raises(IntegrityError):
        await container.db.write([_workspace("half-written"), _workspace("clash", taken)])
    names = await _workspace_names(container)
    assert "half-written" not in names and "clash" not in names
    # The writer is still usable after a failed batch.
    await container.db.write([_workspace("after")])
    assert "after" in await _workspace_names(container)


async def test_a_failing_batch_among_concurrent_ones_rolls_back_alone(
    container: Container,
) -> None:
    """Batches queued together (SQLite commits them as one group) keep their own fate."""
    taken = new_id()
    await container.db.write([_workspace("taken", taken)])
    good = [
        container.db.write([_workspace(f"g{i:02d}"), _workspace(f"h{i:02d}")]) for i in range(40)
    ]
    bad = container.db.write([_workspace("doomed"), _workspace("clash-again", taken)])
    results = await asyncio.gather(*good[:20], bad, *good[20:], return_exceptions=True)
    assert isinstance(results[20], IntegrityError)
    assert [r for i, r in enumerate(results) if i != 20] == [None] * 40
    names = set(await _workspace_names(container))
    assert {f"g{i:02d}" for i in range(40)} | {f"h{i:02d}" for i in range(40)} <= names
    assert "doomed" not in names and "clash-again" not in names


async def test_a_row_missing_a_value_is_refused_and_rolled_back(container: Container) -> None:
    incomplete = (INSERT_WORKSPACE, {"id": new_id(), "name": "no-defaults"})  # not a full_row
    # SQLite's writer fails looking the value up; SQLAlchemy refuses the missing bind on PostgreSQL.
    with pytest.raises((KeyError, StatementError)):
        await container.db.write([_workspace("kept-out"), incomplete])
    assert "kept-out" not in await _workspace_names(container)
    await container.db.write([_workspace("still-writing")])
    assert "still-writing" in await _workspace_names(container)


async def test_rows_read_back_as_the_orm_writes_them(container: Container) -> None:
    async with container.db.session() as session:
        workspace = await AppRepo(session).default_workspace()
    config = {"model": {"provider": "openai", "name": "m"}, "pre_prompt": "Ünïcode {{x}}"}
    row = full_row(
        APPS,
        {
            "id": new_id(),
            "workspace_id": workspace.id,
            "mode": "chat",
            "name": "hot",
            "model_config": config,
            "created_at": datetime(2026, 12, 3, 8, 0, 0, 123456),
            "updated_at": datetime(2026, 12, 3, 8, 0, 1),
        },
    )
    await container.db.write([(INSERT_APP, row)])
    async with container.db.session() as session:
        app = await session.get(App, row["id"])
    assert app is not None
    assert app.model_config == config
    assert app.tags == [] and app.status == "normal" and app.enable_api is True
    assert app.created_at == datetime(2026, 12, 3, 8, 0, 0, 123456)
    assert app.icon == "🤖"


async def test_update_with_literal_and_named_parameters(container: Container) -> None:
    rename = HotWrite(
        update(WORKSPACES)
        .where(WORKSPACES.c.id == bindparam("workspace_id"), WORKSPACES.c.status == "normal")
        .values(name=bindparam("name"))
    )
    workspace_id = new_id()
    await container.db.write([_workspace("before", workspace_id)])
    await container.db.write([(rename, {"workspace_id": workspace_id, "name": "after-rename"})])
    assert "after-rename" in await _workspace_names(container)


def test_an_onupdate_column_must_be_declared() -> None:
    # apps.updated_at has an onupdate default only SQLAlchemy's execution layer would fill.
    forgetful = HotWrite(
        update(APPS).where(APPS.c.id == bindparam("app_id")).values(name=bindparam("name"))
    )
    with pytest.raises(ValueError, match="updated_at"):
        forgetful.compiled(sqlite.dialect())


async def test_writers_of_several_processes_take_turns_on_the_write_lock(
    container: Container,
) -> None:
    """Another process holding the write turn (an flock on `<db>.write-lock`) holds our
    writes back until it lets go; then they commit at once."""
    if not container.db.is_sqlite:
        pytest.skip("only SQLite's writer thread takes the cross-process write turn")
    await container.db.write([_workspace("opens-the-writer")])
    path = f"{make_url(container.db.url).database}.write-lock"
    other = os.open(path, os.O_RDWR)  # its own open file description: a rival lock holder
    try:
        fcntl.flock(other, fcntl.LOCK_EX)
        pending = asyncio.ensure_future(container.db.write([_workspace("waited-its-turn")]))
        await asyncio.sleep(0.3)
        assert not pending.done(), "wrote while another process held the write turn"
        fcntl.flock(other, fcntl.LOCK_UN)
        await asyncio.wait_for(pending, 5)
    finally:
        os.close(other)
    assert "waited-its-turn" in await _workspace_names(container)


async def test_the_core_path_for_other_drivers_commits_whole(container: Container) -> None:
    """Drivers other than asyncpg (and no SQLite writer) write through a Core connection."""
    async with container.db.engine.connect() as connection:
        await Database._write_core(connection, [_workspace("core-a"), _workspace("core-b")])
    names = set(await _workspace_names(container))
    assert {"core-a", "core-b"} <= names
