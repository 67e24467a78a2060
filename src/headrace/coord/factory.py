"""Choose the coordination backend from settings."""

from __future__ import annotations

from headrace.coord.base import RunRegistry
from headrace.coord.memory import MemoryRunRegistry


def make_registry(redis_url: str | None) -> RunRegistry:
    """Redis-backed registry when a URL is configured, else the process-local one."""
    if redis_url:
        from headrace.coord.redis import RedisRunRegistry

        return RedisRunRegistry(redis_url)
    return MemoryRunRegistry()
