"""A turn's writes on each back end: rows of several tables in one write (on PostgreSQL one
statement), whole or not at all, and the outcome counting the turn and naming the
conversation only while it has no name."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
from sqlalchemy import Table, select
from sqlalchemy.dialects.postgresql import asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from headrace.container import Container
from headrace.store.db import Database
from headrace.store.hot_writes import full_row, fusable, fused_postgres, insert_row
from headrace.store.pg_hot import APPLICATION_NAME
from headrace.store.repos.apps import AppRepo
from headrace.store.repos.end_users import EndUserRepo
from headrace.store.repos.turns import open_turn_writes, outcome_writes
from headrace.store.tables import App, Conversation, Message, Workspace
from headrace.store.tables.base import new_id

WORKSPACES = cast(Table, Workspace.__table__)
APPS = cast(Table, App.__table__)
INSERT_WORKSPACE = insert_row(WORKSPACES)
INSERT_APP = insert_row(APPS)


def _workspace_row(name: str) -> dict[str, Any]:
    return full_row(WORKSPACES, {"id": new_id(), "name": name})


def _app_row(workspace_id: str, app_id: str | None = None) -> dict[str, Any]:
    values = {"id": app_id or new_id(), "workspace_id": workspace_id, "mode": "chat"}
    return full_row(APPS, {**values, "name": "a", "model_config": {}})


async def _count(container: Container, table: Any, **where: Any) -> int:
    async with container.db.session() as session:
        query = select(table)
        for key, value in where.items():
            query = query.where(getattr(table, key) == value)
        return len(list(await session.scalars(query)))


async def test_rows_of_several_tables_commit_in_one_write(container: Container) -> None:
    """The app refers to the workspace written by the same write (on PostgreSQL, a clause
    before it in the same statement): foreign keys hold at the end."""
    workspace = _workspace_row("parent-and-child")
    app = _app_row(workspace["id"])
    await container.db.write([(INSERT_WORKSPACE, workspace), (INSERT_APP, app)])
    assert await _count(container, Workspace, id=workspace["id"]) == 1
    assert await _count(container, App, id=app["id"], workspace_id=workspace["id"]) == 1


async def test_a_failing_write_of_several_tables_leaves_nothing(container: Container) -> None:
    first = _workspace_row("owner")
    taken = _app_row(first["id"])
    await container.db.write([(INSERT_WORKSPACE, first), (INSERT_APP, taken)])
    orphan = _workspace_row("must-not-stay")
    clash = _app_row(orphan["id"], app_id=taken["id"])
    with pytest.raises(IntegrityError):
        await container.db.write([(INSERT_WORKSPACE, orphan), (INSERT_APP, clash)])
    assert await _count(container, Workspace, id=orphan["id"]) == 0
    # And a write referring to a row that does not exist fails whole too.
    dangling = _app_row(new_id())
    later = _workspace_row("also-not")
    with pytest.raises(IntegrityError):
        await container.db.write([(INSERT_WORKSPACE, later), (INSERT_APP, dangling)])
    assert await _count(container, Workspace, id=later["id"]) == 0


def test_fused_statement_renumbers_each_clause_placeholders() -> None:
    dialect = asyncpg.dialect()
    workspace = _workspace_row("w")
    writes = [(INSERT_WORKSPACE, workspace), (INSERT_APP, _app_row(workspace["id"]))]
    assert fusable(writes)
    assert not fusable([(INSERT_WORKSPACE, workspace), (INSERT_WORKSPACE, workspace)])
    sql, parameters = fused_postgres(writes, dialect)
    own = INSERT_WORKSPACE.compiled(dialect)
    app = INSERT_APP.compiled(dialect)
    assert sql.startswith(f"WITH hot_0 AS ({own.sql}) INSERT INTO apps ")
    assert len(parameters) == len(own.names) + len(app.names)
    last = len(parameters)
    assert f"${last}::" in sql and f"${last + 1}" not in sql
    assert f"${len(own.names) + 1}::" in sql.split("INSERT INTO apps", 1)[1]
    assert parameters[0] == workspace["id"]
    # One write alone is just its statement.
    alone, _ = fused_postgres(writes[:1], dialect)
    assert alone == own.sql


async def test_outcome_counts_turns_and_names_only_an_unnamed_conversation(
    container: Container,
) -> None:
    async with container.db.session() as session:
        workspace = await AppRepo(session).default_workspace()
    app = _app_row(workspace.id)
    await container.db.write([(INSERT_APP, app)])
    async with container.db.session() as session:
        user = await EndUserRepo(session).get_or_create(workspace.id, app["id"], "u")
    conversation = {"app_id": app["id"], "end_user_id": user.id, "mode": "chat", "inputs": {}}
    message = {
        "app_id": app["id"],
        "end_user_id": user.id,
        "mode": "chat",
        "task_id": new_id(),
        "inputs": {},
        "query": "hello",
        "files": [],
    }
    writes, message_id, conversation_id, _ = open_turn_writes(conversation, message, [])
    await container.db.write(writes)
    assert conversation_id is not None
    outcome = {"answer": "hi", "status": "normal", "error": None, "retriever_resources": None}
    outcome |= dict.fromkeys(("prompt_tokens", "completion_tokens", "latency"), 0)
    outcome |= dict.fromkeys(("prompt_unit_price", "completion_unit_price", "price_unit"), "0")
    outcome |= {"total_price": "0", "currency": "USD"}
    await container.db.write(outcome_writes(message_id, conversation_id, outcome, name="First"))
    await container.db.write(outcome_writes(message_id, conversation_id, outcome, name="Second"))
    await container.db.write(outcome_writes(message_id, conversation_id, outcome))
    async with container.db.session() as session:
        row = await session.get(Conversation, conversation_id)
        stored = await session.get(Message, message_id)
    assert row is not None and stored is not None
    assert (row.name, row.dialogue_count) == ("First", 3)
    assert stored.answer == "hi"


async def test_writes_go_on_after_their_connections_were_killed(container: Container) -> None:
    """The PostgreSQL hot-write pool replaces connections the server closed (as after a
    restart) instead of failing the next writes."""
    if container.db.is_sqlite:
        pytest.skip("PostgreSQL only: SQLite's writer holds one file connection")
    await container.db.write([(INSERT_WORKSPACE, _workspace_row("before-kill"))])
    async with container.db.engine.connect() as connection:
        killed = await connection.exec_driver_sql(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            f" WHERE application_name = '{APPLICATION_NAME}'"
        )
        assert killed.scalar_one() >= 1
    await asyncio.sleep(0.3)  # the client sees the server hang up
    after = _workspace_row("after-kill")
    await container.db.write([(INSERT_WORKSPACE, after)])
    assert await _count(container, Workspace, id=after["id"]) == 1


async def test_sqlalchemy_url_options_do_not_reach_asyncpg(container: Container) -> None:
    """A URL option SQLAlchemy's dialect consumes works for the hot writes too (asyncpg would
    have sent it to the server as a setting, and the connection would fail)."""
    if container.db.is_sqlite:
        pytest.skip("PostgreSQL only: the option belongs to SQLAlchemy's asyncpg dialect")
    url = make_url(container.db.url).update_query_dict({"prepared_statement_cache_size": "50"})
    db = Database(url.render_as_string(hide_password=False), schema=container.db.schema)
    try:
        row = _workspace_row("through-options")
        await db.write([(INSERT_WORKSPACE, row)])
    finally:
        await db.aclose()
    assert await _count(container, Workspace, id=row["id"]) == 1
