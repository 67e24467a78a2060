"""The async database handle: engine, session factory, SQLite tuning, migrations."""

from __future__ import annotations

import asyncio
import fcntl
import os
import queue
import sqlite3
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from headrace.store.hot_reads import Reads, Rows, read_sqlite
from headrace.store.hot_writes import Writes
from headrace.store.pg_hot import AsyncpgHotPool

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
    asyncpg = parsed.get_driver_name() == "asyncpg"
    # Other drivers: SQLAlchemy's ping on every checkout.
    kwargs["pool_pre_ping"] = not asyncpg
    engine = create_async_engine(url, pool_size=20, max_overflow=40, **kwargs)
    if asyncpg:
        event.listen(engine.sync_engine, "checkout", _refuse_closed_asyncpg)
    return engine


def _refuse_closed_asyncpg(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Hand out no connection the server has closed (after a restart, say): the pool drops it
    and checks out another. asyncpg knows this locally, where SQLAlchemy's `pool_pre_ping`
    asks the server, in three round trips (BEGIN, `;`, ROLLBACK) on every checkout."""
    if dbapi_connection.driver_connection.is_closed():
        raise DisconnectionError("connection closed by the server")


class SqliteWriter:
    """The process's one SQLite write connection, on a thread of its own.

    A batch of hot writes runs there as one synchronous call: one hand-off between the event
    loop and a thread per batch instead of several per statement, no SQLAlchemy execution
    layer (see `hot_writes`), and writers of this process queue in asyncio instead of in
    SQLite's busy handler (where, under load, they timed out with "database is locked").

    Group commit: the batches queued while one transaction ran go into the next one, each in a
    savepoint of its own, so one failing batch rolls back alone while the others share one
    `BEGIN`/`COMMIT`, one thread wake-up and one wake-up of the loop. `BEGIN IMMEDIATE` takes
    the write lock up front, so a transaction never fails half-way on upgrading a read lock.

    The writers of several worker processes take turns on an `flock` of `<db>.write-lock`
    before `BEGIN`: the kernel hands the lock over the moment it is released, where SQLite's
    busy handler would sleep and poll (1, 2, 5, 10 … ms), which let two workers' writers
    spend most of their time asleep.
    """

    def __init__(self, path: str, dialect: Dialect) -> None:
        self.path = path
        self.dialect = dialect
        self._connection: sqlite3.Connection | None = None
        self._lock_fd: int | None = None
        # A bare thread and queue: a ThreadPoolExecutor's submit and future chaining cost
        # more than the transaction itself here.
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def _serve(self) -> None:
        stopping = False
        while not stopping:
            job = self._queue.get()
            if job is None:
                break
            jobs = [job]
            while len(jobs) < MAX_GROUP:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                    break
                jobs.append(more)
            errors = self._group(jobs)
            by_loop: dict[asyncio.AbstractEventLoop, list[_Settlement]] = {}
            for (loop, future, _), error in zip(jobs, errors, strict=True):
                by_loop.setdefault(loop, []).append((future, error))
            for loop, settlements in by_loop.items():
                with suppress(RuntimeError):  # the loop is closed: nobody waits any more
                    loop.call_soon_threadsafe(_settle, settlements)
        self._close()

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            self._connection = sqlite3.connect(self.path, isolation_level=None)
            _tune_sqlite(self._connection, None)
            self._lock_fd = os.open(f"{self.path}.write-lock", os.O_RDWR | os.O_CREAT, 0o600)
        return self._connection

    def _group(self, jobs: list[_Job]) -> list[Exception | None]:
        """`_transaction` while holding the processes' shared write turn."""
        connection = self._connect()
        assert self._lock_fd is not None
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            return self._transaction(connection, jobs)
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _transaction(
        self, connection: sqlite3.Connection, jobs: list[_Job]
    ) -> list[Exception | None]:
        """Run the jobs in one transaction; each job's error, or one error for them all."""
        errors: list[Exception | None] = []
        sql, parameters = "BEGIN IMMEDIATE", ()
        try:
            connection.execute(sql)
            for _, _, writes in jobs:
                errors.append(self._savepoint(connection, writes))
            sql, parameters = "COMMIT", ()
            connection.execute(sql)
        except BaseException as exc:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            if not isinstance(exc, Exception):
                raise
            return [_as_dbapi(exc, sql, parameters)] * len(jobs)
        return errors

    def _savepoint(self, connection: sqlite3.Connection, writes: Writes) -> Exception | None:
        """One job's statements in a savepoint, released on success, rolled back on error."""
        sql, parameters = "", ()
        try:
            prepared = [(w.compiled(self.dialect), values) for w, values in writes]
            connection.execute("SAVEPOINT job")
            for statement, values in prepared:
                sql, parameters = statement.sql, statement.parameters(values)
                connection.execute(sql, parameters)
        except Exception as exc:
            connection.execute("ROLLBACK TO job")
            connection.execute("RELEASE job")
            return _as_dbapi(exc, sql, parameters)
        connection.execute("RELEASE job")
        return None

    def submit(self, writes: Writes) -> asyncio.Future[None]:
        """Queue `writes` to run atomically and committed (rolled back if one fails); the
        future settles when they did."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._serve, name="sqlite-writer", daemon=True)
            self._thread.start()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._queue.put((loop, future, writes))
        return future

    def _close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def close(self) -> None:
        """Finish queued transactions, then close the connection."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None


#: Most batches of writes one group transaction takes.
MAX_GROUP = 64
_Job = tuple[asyncio.AbstractEventLoop, "asyncio.Future[None]", Writes]
_Settlement = tuple["asyncio.Future[None]", Exception | None]


def _as_dbapi(exc: Exception, sql: str, parameters: Any) -> Exception:
    """sqlite3 errors as SQLAlchemy's DBAPIError, as every other database call raises them."""
    if isinstance(exc, sqlite3.Error):
        return DBAPIError.instance(sql, parameters, exc, sqlite3.Error)
    return exc


def _settle(settlements: list[_Settlement]) -> None:
    for future, error in settlements:
        if future.cancelled():
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)


class Database:
    """Owns the engine and hands out sessions."""

    def __init__(self, url: str, schema: str | None = None) -> None:
        self.url = url
        self.schema = schema
        self.engine = create_engine(url, schema)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        database = make_url(url).database
        self._writer = (
            SqliteWriter(database, self.engine.dialect) if self.is_sqlite and database else None
        )
        self._reader: sqlite3.Connection | None = None
        self._asyncpg = (
            AsyncpgHotPool(url, self.engine.dialect, schema)
            if self.engine.dialect.driver == "asyncpg"
            else None
        )

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

    async def write(self, writes: Writes) -> None:
        """Run hot writes (statement, values) in one committed transaction, in order.

        On SQLite they run on the process's writer thread (see `SqliteWriter`); on PostgreSQL
        with asyncpg on its own pool (`AsyncpgHotPool`); on other drivers through SQLAlchemy.
        """
        if self._writer is not None:
            await self._writer.submit(writes)
            return
        if self._asyncpg is not None:
            await self._asyncpg.write(writes)
            return
        async with self.engine.connect() as connection:
            await self._write_core(connection, writes)

    async def read(self, reads: Reads) -> list[Rows]:
        """Run hot reads (statement, values); one list of row tuples per read.

        On SQLite they run right here on a read-only connection of their own: a lookup by key
        takes microseconds from the page cache, less than handing it to a thread and waiting
        for the GIL to come back. On PostgreSQL they go on the hot-write pool.
        """
        if self._writer is not None:
            if self._reader is None:
                self._reader = sqlite3.connect(
                    self._writer.path, isolation_level=None, check_same_thread=False
                )
                _tune_sqlite(self._reader, None)
                self._reader.execute("PRAGMA query_only=ON")
            return read_sqlite(self._reader, self.engine.dialect, reads)
        if self._asyncpg is not None:
            return await self._asyncpg.read(reads)
        out = []
        async with self.engine.connect() as connection:
            for read, values in reads:
                result = await connection.execute(read.statement, dict(values))
                out.append([tuple(row) for row in result])
        return out

    @staticmethod
    async def _write_core(connection: AsyncConnection, writes: Writes) -> None:
        async with connection.begin():
            for write, values in writes:
                await connection.execute(write.statement, dict(values))

    def start_write(self, writes: Writes) -> asyncio.Future[None]:
        """`write`, begun now and awaited later: the returned future settles when the writes
        are committed (or failed)."""
        if self._writer is not None:
            return self._writer.submit(writes)
        return asyncio.ensure_future(self.write(writes))

    async def migrate(self) -> None:
        """Apply every Alembic migration (off the event loop: Alembic is synchronous)."""
        await asyncio.to_thread(upgrade, self.url, self.schema)

    async def aclose(self) -> None:
        """Dispose of pooled connections."""
        if self._writer is not None:
            await asyncio.to_thread(self._writer.close)
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self._asyncpg is not None:
            await self._asyncpg.aclose()
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
