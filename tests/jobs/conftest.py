"""Fixtures for worker tests: a database the test's server and `headrace worker` subprocesses
share (a SQLite file, or a fresh PostgreSQL database: a subprocess cannot be handed a schema),
Redis for leases, and a Celery broker queue of the test's own."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis

from headrace.container import Container
from headrace.settings import Settings
from tests.conftest import PG_URL, REDIS_URL

BROKER_DB = 3  # a Redis database of its own: the suite's run registry uses 0
LEASE_SECONDS = 1.0


def _broker_url() -> str:
    base, _, _ = REDIS_URL.rpartition("/")
    return f"{base}/{BROKER_DB}"


async def _admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_URL.replace("postgresql+asyncpg", "postgresql"))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """The shared database, once per back end."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'headrace.db'}"
        return
    name = f"t_{uuid.uuid4().hex[:12]}"
    await _admin(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG_URL.rpartition('/')[0]}/{name}"
    finally:
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Iterator[Settings]:
    """Celery mode: jobs go to a broker queue only this test uses."""
    values = Settings(
        data_dir=tmp_path,
        database_url=database_url,
        redis_url=REDIS_URL,
        celery_broker_url=_broker_url(),
        celery_queue=f"test-{uuid.uuid4().hex[:8]}",
        indexing_lease_seconds=LEASE_SECONDS,
    )
    yield values
    redis.Redis.from_url(_broker_url()).flushdb()


@pytest.fixture
async def container(settings: Settings) -> AsyncIterator[Container]:
    """The server's container on the shared database (no private schema)."""
    built = Container.build(settings)
    await built.start()
    try:
        yield built
    finally:
        await built.aclose()


class Workers:
    """`headrace worker` subprocesses started with the test's settings."""

    def __init__(self, settings: Settings, log_dir: Path) -> None:
        self.env = {
            **os.environ,
            "HEADRACE_DATA_DIR": str(settings.data_dir),
            "HEADRACE_DATABASE_URL": settings.effective_database_url,
            "HEADRACE_REDIS_URL": settings.redis_url or "",
            "HEADRACE_CELERY_BROKER_URL": settings.celery_broker_url or "",
            "HEADRACE_CELERY_QUEUE": settings.celery_queue,
            "HEADRACE_INDEXING_LEASE_SECONDS": str(settings.indexing_lease_seconds),
        }
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        """Start one worker; its output goes to a log file kept for failure reports."""
        log = open(self.log_dir / f"worker-{len(self.procs)}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "headrace.cli", "worker", "--concurrency", "2"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.procs.append(proc)
        return proc

    def logs(self) -> str:
        """Everything the workers printed."""
        return "\n".join(p.read_text() for p in sorted(self.log_dir.glob("worker-*.log")))

    def stop_all(self) -> None:
        """Terminate the workers still running."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def workers(settings: Settings, tmp_path: Path) -> Iterator[Workers]:
    """Worker subprocesses, stopped at the end of the test."""
    pool = Workers(settings, tmp_path)
    yield pool
    pool.stop_all()
