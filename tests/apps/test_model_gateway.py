"""ModelGateway.bind: credentials cached per (workspace, provider), one read per miss."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import event

from headrace.apps.models import CredentialCache, ModelGateway
from headrace.container import Container
from headrace.providers.errors import ProviderCredentialsMissingError
from headrace.store.repos.apps import AppRepo
from headrace.store.repos.credentials import CredentialRepo


def _count_credential_reads(container: Container) -> list[str]:
    reads: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "FROM provider_credentials" in statement:
            reads.append(statement)

    event.listen(container.db.engine.sync_engine, "before_cursor_execute", seen)
    return reads


async def test_concurrent_binds_share_one_read(container: Container) -> None:
    async with container.db.session() as session:
        workspace = await AppRepo(session).default_workspace()
        await CredentialRepo(session, container.cipher).put(
            workspace.id, "openai", {"api_key": "sk-1", "base_url": "http://127.0.0.1:9/v1"}
        )
    gateway = ModelGateway(
        container.db, container.providers, container.cipher, CredentialCache(ttl=60)
    )
    reads = _count_credential_reads(container)

    bound = await asyncio.gather(*(gateway.bind(workspace.id, "openai") for _ in range(25)))
    assert len(reads) == 1
    assert {b.credentials["api_key"] for b in bound} == {"sk-1"}
    # Plugin-style ids resolve to the same cache entry.
    await gateway.bind(workspace.id, "langgenius/openai/openai")
    assert len(reads) == 1


async def test_missing_credentials_are_shared_and_reported(container: Container) -> None:
    async with container.db.session() as session:
        workspace = await AppRepo(session).default_workspace()
    gateway = ModelGateway(
        container.db, container.providers, container.cipher, CredentialCache(ttl=60)
    )
    reads = _count_credential_reads(container)
    outcomes = await asyncio.gather(
        *(gateway.bind(workspace.id, "openai") for _ in range(10)), return_exceptions=True
    )
    assert all(isinstance(o, ProviderCredentialsMissingError) for o in outcomes)
    assert len(reads) == 1
    with pytest.raises(ProviderCredentialsMissingError):
        await gateway.bind(workspace.id, "openai")
    assert len(reads) == 1
