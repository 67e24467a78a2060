"""PostgreSQL sessions survive connections the server closed (as after a restart): the pool
hands out none of them, without asking the server on every checkout."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from headrace.container import Container
from headrace.store.db import Database


async def _backend_pid(db: Database) -> int:
    async with db.session() as session:
        return int((await session.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def test_a_session_after_its_connection_was_killed(container: Container) -> None:
    if container.db.is_sqlite:
        pytest.skip("PostgreSQL only: SQLite connections are files, not server sessions")
    db = Database(container.db.url, schema=container.db.schema)  # a pool of one connection
    try:
        first = await _backend_pid(db)
        async with container.db.session() as other:
            killed = await other.execute(text(f"SELECT pg_terminate_backend({first})"))
            assert killed.scalar_one() is True
        await asyncio.sleep(0.3)  # the client sees the server hang up
        second = await _backend_pid(db)
    finally:
        await db.aclose()
    assert second != first
