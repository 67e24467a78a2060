"""Shared fixtures: a real database (temp SQLite file, or a fresh PostgreSQL schema), a real
coordination backend (memory, or Redis), a scripted upstream on loopback, and a real uvicorn
server on loopback serving the app.

`HEADRACE_TEST_BACKEND=postgres-redis` switches the whole suite to PostgreSQL + Redis;
`make test` runs the suite once per backend.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import yaml

from headrace.admin import configure_provider, import_app, new_app_key, new_dataset_key
from headrace.container import Container
from headrace.http.app import create_app
from headrace.settings import Settings
from tests.support.upstream import ScriptedUpstream

BACKEND = os.environ.get("HEADRACE_TEST_BACKEND", "sqlite-memory")
PG_URL = os.environ.get(
    "HEADRACE_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("HEADRACE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="session")
def upstream() -> Iterator[ScriptedUpstream]:
    """One scripted OpenAI-compatible upstream for the session (reset per test)."""
    with ScriptedUpstream() as server:
        yield server


@pytest.fixture
def scripted(upstream: ScriptedUpstream) -> Iterator[ScriptedUpstream]:
    """The upstream with an empty script and no recorded requests."""
    upstream.reset()
    yield upstream
    upstream.reset()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _create_schema(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_URL.replace("postgresql+asyncpg", "postgresql"))
    try:
        await conn.execute(f'CREATE SCHEMA "{name}"')
    finally:
        await conn.close()


async def _drop_schema(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_URL.replace("postgresql+asyncpg", "postgresql"))
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    finally:
        await conn.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings for one test: its own data directory and database."""
    values: dict[str, Any] = {"data_dir": tmp_path, "ping_interval": 10.0}
    if BACKEND == "postgres-redis":
        values["database_url"] = PG_URL
        values["redis_url"] = REDIS_URL
    return Settings(**values)


@pytest.fixture
async def container(settings: Settings) -> AsyncIterator[Container]:
    """A started container on a fresh database."""
    schema = None
    if settings.database_url and settings.database_url.startswith("postgresql"):
        schema = f"t_{uuid.uuid4().hex[:12]}"
        await _create_schema(schema)
    built = Container.build(settings, schema=schema)
    await built.start()
    try:
        yield built
    finally:
        await built.aclose()
        if schema:
            await _drop_schema(schema)


@dataclass
class LiveServer:
    """A uvicorn server on loopback serving the app of one container."""

    base_url: str
    container: Container

    def client(self, key: str | None = None, **kwargs: Any) -> httpx.AsyncClient:
        """An HTTP client, authenticated with `key` when given."""
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        kwargs.setdefault("timeout", 30)
        return httpx.AsyncClient(base_url=self.base_url, headers=headers, **kwargs)


@pytest.fixture
async def server(container: Container) -> AsyncIterator[LiveServer]:
    """The app served by a real uvicorn on 127.0.0.1 in this test's event loop."""
    port = _free_port()
    config = uvicorn.Config(
        create_app(container=container), host="127.0.0.1", port=port, log_config=None, lifespan="on"
    )
    uv = uvicorn.Server(config)
    task = asyncio.create_task(uv.serve())
    while not uv.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", container)
    finally:
        await container.drain(timeout=10)
        uv.should_exit = True
        await task


CHAT_DSL: dict[str, Any] = {
    "version": "0.3.0",
    "kind": "app",
    "app": {"mode": "chat", "name": "Test chat", "description": "a chat app for tests"},
    "model_config": {
        "model": {
            "provider": "langgenius/openai/openai",
            "name": "gpt-4o-mini",
            "mode": "chat",
            "completion_params": {"temperature": 0.1},
        },
        "pre_prompt": "You are a test assistant for {{name}}.",
        "prompt_type": "simple",
        "opening_statement": "Hi there",
        "suggested_questions": ["What can you do?"],
        "suggested_questions_after_answer": {"enabled": True},
        "user_input_form": [
            {
                "text-input": {
                    "variable": "name",
                    "label": "Name",
                    "required": False,
                    "max_length": 20,
                }
            }
        ],
        "file_upload": {
            "enabled": True,
            "allowed_file_types": ["image"],
            "allowed_file_upload_methods": ["remote_url", "local_file"],
            "number_limits": 2,
            "image": {
                "enabled": True,
                "number_limits": 2,
                "detail": "low",
                "transfer_methods": ["remote_url", "local_file"],
            },
        },
    },
}

COMPLETION_DSL: dict[str, Any] = {
    "version": "0.3.0",
    "kind": "app",
    "app": {"mode": "completion", "name": "Test completion"},
    "model_config": {
        "model": {
            "provider": "openai",
            "name": "gpt-4o-mini",
            "mode": "chat",
            "completion_params": {},
        },
        "pre_prompt": "Translate to French: {{text}}",
        "prompt_type": "simple",
        "user_input_form": [{"paragraph": {"variable": "text", "label": "Text", "required": True}}],
    },
}


@dataclass
class AppHandle:
    """An imported app and a key for it."""

    app_id: str
    key: str


@pytest.fixture
async def dataset_key(server: LiveServer, scripted: ScriptedUpstream) -> str:
    """A `dataset-` key, with the openai provider (embeddings, rerank, routing) pointed at the
    scripted upstream."""
    await configure_provider(
        server.container.db,
        server.container.providers,
        server.container.cipher,
        "openai",
        {"api_key": "sk-test", "base_url": scripted.base_url},
    )
    return await new_dataset_key(server.container.db)


@pytest.fixture
def make_app(container: Container, scripted: ScriptedUpstream) -> Any:
    """Factory: import a DSL dict, point the openai provider at the upstream, mint a key."""

    async def make(dsl: dict[str, Any] | None = None, credentials: bool = True) -> AppHandle:
        if credentials:
            await configure_provider(
                container.db,
                container.providers,
                container.cipher,
                "openai",
                {"api_key": "sk-test", "base_url": scripted.base_url},
            )
        app = await import_app(container.db, yaml.safe_dump(dsl or CHAT_DSL), container.cipher)
        return AppHandle(app.id, await new_app_key(container.db, app.id))

    return make
