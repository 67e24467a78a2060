"""The async database handle: engine, session factory, SQLite tuning, migrations."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, event
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session, sessionmaker

T = TypeVar("T")

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


class SqliteWriter:
    """The process's one SQLite write connection, on a thread of its own.

    A write transaction runs there as one synchronous call: one hand-off between the event loop
    and a thread per transaction instead of several per statement, and writers of this process
    queue in asyncio instead of in SQLite's busy handler (where, under load, they timed out with
    "database is locked"). `BEGIN IMMEDIATE` takes the write lock up front, so a transaction
    never fails half-way on upgrading a read lock.
    """

    def __init__(self, async_url: str) -> None:
        url = make_url(async_url).set(drivername="sqlite")
        self.engine = create_sync_engine(url, pool_size=1, max_overflow=0)
        event.listen(self.engine, "connect", _tune_sqlite)
        event.listen(self.engine, "connect", _manual_transactions)
        event.listen(self.engine, "begin", _begin_immediate)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")

    def _transaction(self, work: Callable[[Session], T]) -> T:
        with self.sessions.begin() as session:
            return work(session)

    async def run(self, work: Callable[[Session], T]) -> T:
        """Run `work` in one committed transaction (rolled back if it raises)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, self._transaction, work)

    def close(self) -> None:
        """Finish queued transactions, then close the connection."""
        self._thread.shutdown(wait=True)
        self.engine.dispose()


def _manual_transactions(dbapi_connection: Any, _record: Any) -> None:
    # Stop the sqlite3 module from issuing its own deferred BEGIN; _begin_immediate does it.
    dbapi_connection.isolation_level = None


def _begin_immediate(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    """Owns the engine and hands out sessions."""

    def __init__(self, url: str, schema: str | None = None) -> None:
        self.url = url
        self.schema = schema
        self.engine = create_engine(url, schema)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._writer = SqliteWriter(url) if self.is_sqlite else None

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

    async def write(self, work: Callable[[Session], T]) -> T:
        """Run the synchronous `work` in one committed write transaction and return its result.

        Hot paths use this for their writes: on SQLite it runs on the process's writer thread
        (see `SqliteWriter`), on PostgreSQL in an async session through `run_sync`.
        """
        if self._writer is not None:
            return await self._writer.run(work)
        async with self.session() as session:
            return await session.run_sync(work)

    async def migrate(self) -> None:
        """Apply every Alembic migration (off the event loop: Alembic is synchronous)."""
        await asyncio.to_thread(upgrade, self.url, self.schema)

    async def aclose(self) -> None:
        """Dispose of pooled connections."""
        if self._writer is not None:
            await asyncio.to_thread(self._writer.close)
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
