"""Migrations match the tables, apply twice safely, and repositories behave on each back end."""

from __future__ import annotations

import asyncio

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from headrace.container import Container
from headrace.crypto import CredentialCipher
from headrace.store.repos.apps import AppRepo
from headrace.store.repos.credentials import CredentialRepo
from headrace.store.repos.end_users import EndUserRepo
from headrace.store.tables import Base
from headrace.store.tables.knowledge_index import INDEX_METADATA


def _declared_elsewhere(change: object) -> bool:
    """Full-text index tables are created by the keyword index itself, not by migrations."""
    return (
        isinstance(change, tuple)
        and change[0] == "remove_table"
        and str(change[1].name).startswith("knowledge_keyword_fts")
    )


async def test_migrations_match_the_tables(container: Container) -> None:
    metadata = [Base.metadata, INDEX_METADATA]
    async with container.db.engine.connect() as conn:
        diff = await conn.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync), metadata)  # type: ignore[arg-type]
        )
        tables = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    diff = [change for change in diff if not _declared_elsewhere(change)]
    assert diff == []
    assert set(Base.metadata.tables) | set(INDEX_METADATA.tables) <= tables
    await container.db.migrate()  # a second upgrade is a no-op


async def test_credentials_round_trip_and_other_secret_fails(container: Container) -> None:
    async with container.db.session() as session:
        workspace = await AppRepo(session).default_workspace()
        await CredentialRepo(session, container.cipher).put(
            workspace.id, "openai", {"api_key": "sk-1"}
        )
        await CredentialRepo(session, container.cipher).put(
            workspace.id, "openai", {"api_key": "sk-2"}
        )
    async with container.db.session() as session:
        assert await CredentialRepo(session, container.cipher).get(workspace.id, "openai") == {
            "api_key": "sk-2"
        }
        other = CredentialRepo(session, CredentialCipher("another secret"))
        try:
            await other.get(workspace.id, "openai")
        except ValueError as exc:
            assert "another secret key" in str(exc)
        else:
            raise AssertionError("decrypting with another secret must fail")


async def test_end_user_get_or_create_is_race_safe(container: Container) -> None:
    async with container.db.session() as session:
        repo = AppRepo(session)
        workspace = await repo.default_workspace()
        app = await repo.create_app(workspace.id, "chat", "A")

    async def fetch() -> str:
        async with container.db.session() as session:
            return (await EndUserRepo(session).get_or_create(workspace.id, app.id, "same-user")).id

    ids = await asyncio.gather(*(fetch() for _ in range(8)))
    assert len(set(ids)) == 1
    async with container.db.session() as session:
        anonymous = await EndUserRepo(session).get_or_create(workspace.id, app.id, None)
    assert anonymous.session_id == "DEFAULT-USER" and anonymous.is_anonymous
