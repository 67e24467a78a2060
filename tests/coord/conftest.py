"""Fixtures for the coordination backends: process memory and a real Redis."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
import redis
import redis.asyncio

from headrace.coord.base import RunRegistry
from headrace.coord.memory import MemoryRunRegistry
from headrace.coord.redis import RedisRunRegistry

REDIS_URL = os.environ.get("HEADRACE_TEST_REDIS_URL", "redis://127.0.0.1:6379")

RedisFactory = Callable[..., Awaitable[RedisRunRegistry]]


def _ping(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


@pytest.fixture(scope="session")
def redis_url() -> str:
    """URL of a reachable Redis; starts a throwaway local server when none answers."""
    if _ping(REDIS_URL):
        return REDIS_URL
    server = shutil.which("redis-server")
    if server is None or "127.0.0.1:6379" not in REDIS_URL:
        pytest.skip(f"no Redis at {REDIS_URL}")
    subprocess.run(
        [
            server,
            "--daemonize",
            "yes",
            "--bind",
            "127.0.0.1",
            "--port",
            "6379",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        check=True,
        capture_output=True,
    )
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if _ping(REDIS_URL):
            return REDIS_URL
        time.sleep(0.05)
    pytest.skip(f"could not start Redis at {REDIS_URL}")


async def _delete_prefix(url: str, prefix: str) -> None:
    client = redis.asyncio.Redis.from_url(url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@asynccontextmanager
async def _redis_workers(url: str, prefix: str) -> AsyncIterator[RedisFactory]:
    """Build started registries sharing `prefix`; close them and delete their keys on exit."""
    made: list[RedisRunRegistry] = []

    async def make(**options: Any) -> RedisRunRegistry:
        registry = RedisRunRegistry(url, prefix, **options)
        await registry.start()
        made.append(registry)
        return registry

    try:
        yield make
    finally:
        for registry in made:
            await registry.aclose()
        await _delete_prefix(url, prefix)


def _new_prefix() -> str:
    return f"headrace-test-{uuid.uuid4().hex}"


@pytest.fixture
def redis_prefix() -> str:
    """A unique key prefix for the test (its keys are deleted by `redis_factory`)."""
    return _new_prefix()


@pytest.fixture
async def redis_factory(redis_url: str, redis_prefix: str) -> AsyncIterator[RedisFactory]:
    """Build started Redis registries ("workers") sharing the test's prefix."""
    async with _redis_workers(redis_url, redis_prefix) as make:
        yield make


@pytest.fixture(params=["memory", "redis"])
async def workers(request: pytest.FixtureRequest) -> AsyncIterator[tuple[RunRegistry, RunRegistry]]:
    """Two handles on one deployment: the same instance for memory, two workers for Redis."""
    if request.param == "memory":
        memory = MemoryRunRegistry()
        await memory.start()
        yield memory, memory
        await memory.aclose()
        return
    url: str = request.getfixturevalue("redis_url")
    async with _redis_workers(url, _new_prefix()) as make:
        yield await make(), await make()


@pytest.fixture
def registry(workers: tuple[RunRegistry, RunRegistry]) -> RunRegistry:
    """One registry of the parametrised backend."""
    return workers[0]
