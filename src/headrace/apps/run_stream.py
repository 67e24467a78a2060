"""A run's event stream inside this process: appended by the run, read by any number of
subscribers (the HTTP response, a blocking fold), each from any position.

Every event is serialised and framed once, when pushed; subscribers get
`(event, b"data: <json>\n\n")`. The frame is a right-sized copy: orjson's own result keeps a
large buffer, which would cost kilobytes per streamed token. Text deltas, most of a run's
events, are framed from a per-run template: only the answer is serialised.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson

from headrace.apps.events import Envelope, MessageEvent, RunEvent
from headrace.apps.wire import to_wire

#: Stands in for the answer while a run's delta template is made; JSON-escaped on its way.
_PLACEHOLDER = "\u2060answer\u2060"


class RunStream:
    """Append-only list of a run's events with wake-ups for waiting readers."""

    __slots__ = ("_closed", "_closers", "_delta_frame", "_items", "_waiters", "envelope")

    def __init__(self, envelope: Envelope) -> None:
        self.envelope = envelope
        self._items: list[tuple[RunEvent, bytes]] = []
        # One bare future per waiting reader rather than an asyncio.Event (whose deque alone
        # is ~600 bytes, per open stream).
        self._waiters: list[asyncio.Future[None]] = []
        # Readers that only want the end (a blocking response): not woken per event.
        self._closers: list[asyncio.Future[None]] = []
        self._closed = False
        self._delta_frame: tuple[bytes, bytes] | None = None

    @property
    def closed(self) -> bool:
        """Whether the run has ended (no more events will come)."""
        return self._closed

    def push(self, event: RunEvent) -> bytes:
        """Append an event; returns its SSE frame."""
        if type(event) is MessageEvent and event.from_variable_selector is None:
            data = self._delta(event.answer)
        else:
            data = b"data: " + orjson.dumps(to_wire(self.envelope, event)) + b"\n\n"
        self._items.append((event, data))
        self.nudge()
        return data

    def _delta(self, answer: str) -> bytes:
        """The frame of a plain text delta: the run's template around the answer's JSON,
        byte for byte what `to_wire` gives."""
        if self._delta_frame is None:
            frame = orjson.dumps(to_wire(self.envelope, MessageEvent(_PLACEHOLDER)))
            head, _, tail = frame.partition(orjson.dumps(_PLACEHOLDER))
            self._delta_frame = (b"data: " + head, tail + b"\n\n")
        head, tail = self._delta_frame
        return b"".join((head, orjson.dumps(answer), tail))

    def close(self) -> None:
        """Mark the end of the run."""
        self._closed = True
        self.nudge()
        closers, self._closers = self._closers, []
        _wake(closers)

    def nudge(self) -> None:
        """Wake every waiting reader (push and close do; a ping timer does without an event)."""
        if self._waiters:
            waiters, self._waiters = self._waiters, []
            _wake(waiters)

    async def wait_change(self) -> None:
        """Block until the next push, close or nudge."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        await waiter

    @property
    def size(self) -> int:
        """How many events were pushed so far."""
        return len(self._items)

    def since(self, index: int) -> list[tuple[RunEvent, bytes]]:
        """Events from position `index` on."""
        return self._items[index:]

    def events(self) -> list[RunEvent]:
        """Every event so far."""
        return [event for event, _ in self._items]

    async def follow(self, start: int = 0) -> AsyncIterator[tuple[RunEvent, bytes]]:
        """Yield events from position `start` until the run ends."""
        index = start
        while True:
            while index < len(self._items):
                yield self._items[index]
                index += 1
            if self._closed:
                return
            await self.wait_change()

    async def wait_closed(self) -> None:
        """Block until the run ends."""
        if not self._closed:
            closer = asyncio.get_running_loop().create_future()
            self._closers.append(closer)
            await closer


def _wake(futures: list[asyncio.Future[None]]) -> None:
    for future in futures:
        if not future.done():
            future.set_result(None)
