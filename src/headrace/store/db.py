"""The async database handle: engine, session factory, SQLite tuning, migrations."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def create_engine(url: str, schema: str | None = None) -> AsyncEngine:
    """An async engine for `url`; `schema` sets the PostgreSQL search path (tests use it)."""
    parsed = make_url(url)
    kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # Many short sessions wait on SQLite's single writer; a small pool turned that wait
        # into pool-timeout errors under load.
        engine = create_async_engine(url, pool_size=20, max_overflow=80, pool_timeout=120, **kwargs)
        event.listen(engine.sync_engine, "connect", _tune_sqlite)
        return engine
    if schema:
        kwargs["connect_args"] = {"server_settings": {"search_path": schema}}
    return create_async_engine(url, pool_size=20, max_overflow=40, pool_pre_ping=True, **kwargs)


class Database:
    """Owns the engine and hands out sessions."""

    def __init__(self, url: str, schema: str | None = None) -> None:
        self.url = url
        self.schema = schema
        self.engine = create_engine(url, schema)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        """Whether the back end is the embedded SQLite file."""
        return self.engine.dialect.name == "sqlite"

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session committed on success and rolled back on error."""
        async with self.sessions() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

    async def migrate(self) -> None:
        """Apply every Alembic migration (off the event loop: Alembic is synchronous)."""
        await asyncio.to_thread(upgrade, self.url, self.schema)

    async def aclose(self) -> None:
        """Dispose of pooled connections."""
        await self.engine.dispose()


def upgrade(url: str, schema: str | None = None) -> None:
    """Run `alembic upgrade head` against `url`."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["url"] = url
    config.attributes["schema"] = schema
    command.upgrade(config, "head")
