"""The coordination port. Two backends implement it: process memory and Redis.

A run is registered under its `task_id` with the end user that owns it; `request_stop` may be
called from any worker and sets the run's `StopFlag` wherever the run executes. Each run keeps
an append-only event log of rendered frames (for replay to late readers). Concurrency slots
count active generations per app (spec §11.1).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Protocol


class StopFlag:
    """Set when a stop was requested for a run; the run waits on it or subscribes to it."""

    __slots__ = ("_callbacks", "_event")

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self._callbacks: list[Callable[[], None]] = []

    def set(self) -> None:
        """Mark the run as stopped and call the subscribers (once)."""
        if self._event.is_set():
            return
        self._event.set()
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()

    def subscribe(self, callback: Callable[[], None]) -> None:
        """Call `callback` when the flag is set (at once if it already is)."""
        if self._event.is_set():
            callback()
        else:
            self._callbacks.append(callback)

    def unsubscribe(self, callback: Callable[[], None]) -> None:
        """Forget a subscriber (no-op if it was called or never subscribed)."""
        with contextlib.suppress(ValueError):
            self._callbacks.remove(callback)

    def is_set(self) -> bool:
        """Whether a stop was requested."""
        return self._event.is_set()

    async def wait(self) -> None:
        """Block until a stop is requested."""
        await self._event.wait()


class RunRegistry(Protocol):
    """Coordination backend shared by every worker of a deployment."""

    async def start(self) -> None:
        """Open connections and start listeners."""
        ...

    async def aclose(self) -> None:
        """Stop listeners and close connections."""
        ...

    async def register(self, task_id: str, owner: str) -> StopFlag:
        """Record a new run and its owner; return the flag a stop request will set."""
        ...

    async def owner(self, task_id: str) -> str | None:
        """The owner recorded for a run, if the run is known (TTL 30 min)."""
        ...

    async def request_stop(self, task_id: str) -> None:
        """Ask the run to stop, wherever it executes (TTL 10 min for not-yet-seen runs)."""
        ...

    async def finish(self, task_id: str) -> None:
        """Forget the run's local flag; the event log stays readable until it expires."""
        ...

    async def append(self, task_id: str, frame: bytes) -> None:
        """Append one rendered event to the run's log."""
        ...

    async def read(self, task_id: str, after: int = 0) -> list[tuple[int, bytes]]:
        """Events of the run's log with a sequence number above `after` (1-based)."""
        ...

    async def acquire_slot(self, app_id: str, request_id: str, limit: int) -> bool:
        """Take a concurrency slot for the app; False when `limit` (> 0) slots are taken."""
        ...

    async def release_slot(self, app_id: str, request_id: str) -> None:
        """Give a slot back (idempotent)."""
        ...

    async def try_lock(self, key: str, token: str, ttl: float) -> bool:
        """Take the named lock for `ttl` seconds unless someone else holds it."""
        ...

    async def unlock(self, key: str, token: str) -> None:
        """Release the named lock if `token` still holds it."""
        ...
