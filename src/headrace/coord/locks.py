"""Waiting for a named lock of the coordination backend (memory or Redis)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from headrace.coord.base import RunRegistry


@asynccontextmanager
async def held(registry: RunRegistry, key: str, ttl: float, wait: float) -> AsyncIterator[None]:
    """Hold `key` for the block; waits up to `wait` seconds, then raises TimeoutError."""
    token = uuid.uuid4().hex
    deadline = time.monotonic() + wait
    delay = 0.01
    while not await registry.try_lock(key, token, ttl):
        if time.monotonic() >= deadline:
            raise TimeoutError(f"lock {key} is busy")
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.2)
    try:
        yield
    finally:
        await registry.unlock(key, token)
