"""Hot reads on each back end: a continued turn's conversation and history read as the ORM
reads them (JSON decoded), only by the end user who owns the conversation."""

from __future__ import annotations

from typing import Any, cast

import pytest
from sqlalchemy import Table

from headrace.container import Container
from headrace.store.hot_writes import full_row, insert_row
from headrace.store.repos.apps import AppRepo
from headrace.store.repos.end_users import EndUserRepo
from headrace.store.repos.turns import (
    continued_conversation_reads,
    open_turn_writes,
    outcome_writes,
)
from headrace.store.tables import App, Conversation
from headrace.store.tables.base import new_id

APPS = cast(Table, App.__table__)
INPUTS = {"name": "Zoë 漢字", "nested": {"n": 1, "list": [True, None, 2.5]}}


async def _conversation_with_turns(container: Container, answers: list[str]) -> dict[str, str]:
    async with container.db.session() as session:
        workspace = await AppRepo(session).default_workspace()
    app_id = new_id()
    app = {"id": app_id, "workspace_id": workspace.id, "mode": "chat", "name": "r"}
    await container.db.write([(insert_row(APPS), full_row(APPS, {**app, "model_config": {}}))])
    async with container.db.session() as session:
        user = await EndUserRepo(session).get_or_create(workspace.id, app_id, "reader")
    conversation_id = None
    for index, answer in enumerate(answers):
        new = None if conversation_id else {"app_id": app_id, "end_user_id": user.id}
        if new is not None:
            new |= {"mode": "chat", "inputs": INPUTS}
        message = {"app_id": app_id, "end_user_id": user.id, "mode": "chat", "inputs": INPUTS}
        message |= {"task_id": new_id(), "query": f"q{index}", "files": []}
        message["conversation_id"] = conversation_id
        writes, message_id, made, _ = open_turn_writes(new, message, [])
        conversation_id = conversation_id or made
        await container.db.write(writes)
        outcome: dict[str, Any] = {"answer": answer, "status": "normal", "error": None}
        outcome |= dict.fromkeys(("prompt_tokens", "completion_tokens", "latency"), 0)
        outcome |= dict.fromkeys(("prompt_unit_price", "completion_unit_price"), "0")
        outcome |= {"price_unit": "0", "total_price": "0", "currency": "USD"}
        outcome["retriever_resources"] = None
        await container.db.write(outcome_writes(message_id, conversation_id, outcome))
    assert conversation_id is not None
    return {"conversation_id": conversation_id, "app_id": app_id, "end_user_id": user.id}


async def test_conversation_and_newest_turns_read_as_stored(container: Container) -> None:
    ids = await _conversation_with_turns(container, ["a0", "", "a2", "a3"])
    found, turns = await container.db.read(continued_conversation_reads(**ids, history_limit=2))
    async with container.db.session() as session:
        row = await session.get(Conversation, ids["conversation_id"])
    assert row is not None
    assert found == [(row.id, INPUTS, "normal", 4)]
    assert found[0][1] == row.inputs
    # Newest first, unanswered turns left out, at most the limit.
    assert turns == [("q3", "a3"), ("q2", "a2")]
    only, *rest = await container.db.read(continued_conversation_reads(**ids, history_limit=0))
    assert only == found and rest == []


async def test_another_user_or_app_sees_nothing(container: Container) -> None:
    ids = await _conversation_with_turns(container, ["a0"])
    for key in ("app_id", "end_user_id", "conversation_id"):
        other = {**ids, key: new_id()}
        found, _ = await container.db.read(continued_conversation_reads(**other, history_limit=5))
        assert found == []
    async with container.db.session() as session:
        row = await session.get(Conversation, ids["conversation_id"])
        assert row is not None
        row.is_deleted = True
    found, _ = await container.db.read(continued_conversation_reads(**ids, history_limit=5))
    assert found == []


async def test_the_sqlalchemy_path_for_other_drivers(container: Container) -> None:
    """Without SQLite's writer or asyncpg, the reads go through a Core connection alike."""
    if not container.db.is_sqlite:
        pytest.skip("the path under test is the one a file SQLite database does not take")
    ids = await _conversation_with_turns(container, ["a0", "a1"])
    expected = await container.db.read(continued_conversation_reads(**ids, history_limit=5))
    writer = container.db._writer
    container.db._writer = None  # as for a driver without a writer thread
    try:
        got = await container.db.read(continued_conversation_reads(**ids, history_limit=5))
    finally:
        container.db._writer = writer
    assert got == expected
