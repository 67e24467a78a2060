"""PostgreSQL's hot writes (and reads): straight on a small asyncpg pool of their own.

Through SQLAlchemy's pool, each write paid for its checkout machinery and a pre-ping, which
the asyncpg adapter makes three round trips (BEGIN, `;`, ROLLBACK), before a statement ran;
asyncpg's own pool replaces a connection found closed when it is handed out, and a release
costs no round trip here (the writes leave no session state to reset). The writes of one
call go as one statement when they touch different tables (`fused_postgres`: one round trip,
atomic by itself), else in one transaction. Errors surface as SQLAlchemy's `IntegrityError`
(SQLSTATE class 23) or `DBAPIError`, like every other database call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError

from headrace.store.hot_reads import Reads, Rows
from headrace.store.hot_writes import Writes, fusable, fused_postgres

#: Connections the hot writes may hold at once (each holds one for a round trip or two).
POOL_SIZE = 20
#: URL query keys SQLAlchemy's asyncpg dialect consumes itself (asyncpg would take any other
#: unknown key for a server setting).
SQLALCHEMY_ONLY = ("prepared_statement_cache_size", "prepared_statement_name_func")
#: How the pool's connections show in `pg_stat_activity`.
APPLICATION_NAME = "headrace-hot-writes"


def _as_sqlalchemy_error(exc: Exception, sql: str, parameters: Any) -> Exception:
    sqlstate = getattr(exc, "sqlstate", None)
    if not isinstance(sqlstate, str):
        return exc
    if sqlstate.startswith("23"):
        return IntegrityError(sql, parameters, exc)
    return DBAPIError(sql, parameters, exc)


async def _no_reset(connection: asyncpg.Connection) -> None:
    """Hot writes set nothing on the session (a transaction left open is rolled back by
    asyncpg itself), so a released connection needs no reset query."""


class AsyncpgHotPool:
    """Runs hot writes and reads on a lazily opened asyncpg pool (bound to the loop of its
    first use)."""

    def __init__(self, url: str, dialect: Dialect, schema: str | None = None) -> None:
        plain = make_url(url).set(drivername="postgresql").difference_update_query(SQLALCHEMY_ONLY)
        self._dsn = plain.render_as_string(hide_password=False)
        self._dialect = dialect
        self._settings = {"application_name": APPLICATION_NAME}
        if schema:
            self._settings["search_path"] = schema
        self._pool: asyncio.Future[asyncpg.Pool] | None = None

    async def _get_pool(self) -> asyncpg.Pool:
        if self._pool is None:
            self._pool = asyncio.ensure_future(
                asyncpg.create_pool(
                    self._dsn,
                    min_size=0,
                    max_size=POOL_SIZE,
                    reset=_no_reset,
                    server_settings=self._settings,
                )
            )
        try:
            return await asyncio.shield(self._pool)
        except Exception:
            self._pool = None  # the next write tries again
            raise

    async def write(self, writes: Writes) -> None:
        """Run the writes, committed together or not at all."""
        pool = await self._get_pool()
        sql = ""
        parameters: Sequence[Any] = ()
        try:
            async with pool.acquire() as connection:
                if fusable(writes):
                    sql, parameters = fused_postgres(writes, self._dialect)
                    await connection.execute(sql, *parameters)
                    return
                async with connection.transaction():
                    for write, values in writes:
                        statement = write.compiled(self._dialect)
                        sql, parameters = statement.sql, statement.parameters(values)
                        await connection.execute(sql, *parameters)
        except Exception as exc:
            raise _as_sqlalchemy_error(exc, sql, parameters) from exc

    async def read(self, reads: Reads) -> list[Rows]:
        """Run the reads on one connection, outside any transaction."""
        pool = await self._get_pool()
        out = []
        async with pool.acquire() as connection:
            for read, values in reads:
                compiled = read.compiled(self._dialect)
                statement = compiled.statement
                raw = await connection.fetch(statement.sql, *statement.parameters(values))
                out.append(compiled.rows(raw))
        return out

    async def aclose(self) -> None:
        """Close the pool's connections."""
        if self._pool is not None and self._pool.done() and not self._pool.exception():
            await self._pool.result().close()
        self._pool = None
