"""A small HTTP/1.1 client on asyncio protocols, cheap enough to drive thousands of streams.

It parses only what the benchmarks need: the status, Content-Length or chunked bodies, and
server-sent events (split on blank lines, `event: ping` frames ignored). Each response records
when its head arrived, when the first event carrying a token arrived, the event counts and the
largest gap between two reads, so latency percentiles need no per-event allocation.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

T = TypeVar("T")

_CRLF = b"\r\n"
_HEAD_END = b"\r\n\r\n"
_EVENT_END = b"\n\n"
_PING = b"event: ping"


class HttpError(Exception):
    """A malformed response or a connection that closed mid-response."""


@dataclass(slots=True)
class Result:
    """What one request saw. Times are `time.perf_counter()` seconds."""

    status: int = 0
    started: float = 0.0
    head_at: float = 0.0
    first_token_at: float = 0.0
    ended: float = 0.0
    events: int = 0
    token_events: int = 0
    pings: int = 0
    max_gap: float = 0.0
    body: bytes = b""
    last_event: bytes = b""
    error: str | None = None
    keep_alive: bool = True

    @property
    def ttft(self) -> float:
        """Seconds from sending to the first token event (0 when none came)."""
        return self.first_token_at - self.started if self.first_token_at else 0.0

    @property
    def duration(self) -> float:
        return self.ended - self.started


@dataclass(slots=True)
class _Pending:
    result: Result
    future: asyncio.Future[Result]
    token_marker: bytes | None
    sse: bool
    collect: bool
    head_done: bool = False
    chunked: bool = False
    remaining: int = -1  # Content-Length left, -1 until known / until close
    chunk_left: int = 0  # bytes left in the current chunk (chunked mode)
    in_trailer: bool = False
    events_buf: bytearray = field(default_factory=bytearray)
    body_parts: list[bytes] = field(default_factory=list)
    last_read: float = 0.0
    counter: list[int] | None = None


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.pending: _Pending | None = None
        self.closed = False
        self.connected: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        if not self.connected.done():
            self.connected.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        pending = self.pending
        if pending is None:
            return
        self.pending = None
        if pending.head_done and not pending.chunked and pending.remaining < 0:
            self._finish(pending)  # body delimited by close
        elif not pending.future.done():
            pending.result.error = f"connection closed: {exc!r}" if exc else "connection closed"
            pending.result.ended = time.perf_counter()
            pending.future.set_result(pending.result)

    def data_received(self, data: bytes) -> None:
        pending = self.pending
        if pending is None:
            return
        now = time.perf_counter()
        if pending.last_read:
            gap = now - pending.last_read
            if gap > pending.result.max_gap:
                pending.result.max_gap = gap
        pending.last_read = now
        self.buf += data
        try:
            self._parse(pending, now)
        except (HttpError, ValueError) as exc:
            pending.result.error = f"bad response: {exc}"
            self.pending = None
            pending.result.ended = now
            if not pending.future.done():
                pending.future.set_result(pending.result)
            if self.transport is not None:
                self.transport.close()

    def _parse(self, p: _Pending, now: float) -> None:
        buf = self.buf
        if not p.head_done:
            end = buf.find(_HEAD_END)
            if end < 0:
                if len(buf) > 65536:
                    raise HttpError("response head too large")
                return
            head = bytes(buf[:end]).decode("latin-1").split("\r\n")
            del buf[: end + 4]
            parts = head[0].split(" ", 2)
            if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
                raise HttpError(f"bad status line {head[0]!r}")
            p.result.status = int(parts[1])
            p.result.head_at = now
            p.head_done = True
            for line in head[1:]:
                name, _, value = line.partition(":")
                name = name.strip().lower()
                value = value.strip()
                if name == "content-length":
                    p.remaining = int(value)
                elif name == "transfer-encoding" and "chunked" in value.lower():
                    p.chunked = True
                elif name == "connection" and value.lower() == "close":
                    p.result.keep_alive = False
            if not p.chunked and p.remaining < 0:
                p.result.keep_alive = False
        if p.chunked:
            self._parse_chunked(p, now)
        elif p.remaining >= 0:
            take = min(p.remaining, len(buf))
            if take:
                self._payload(p, bytes(buf[:take]), now)
                del buf[:take]
                p.remaining -= take
            if p.remaining == 0:
                self._finish(p)
        elif buf:
            self._payload(p, bytes(buf), now)
            buf.clear()

    def _parse_chunked(self, p: _Pending, now: float) -> None:
        buf = self.buf
        while True:
            if p.in_trailer:
                end = buf.find(_CRLF)
                if end < 0:
                    return
                line = bytes(buf[:end])
                del buf[: end + 2]
                if not line:
                    self._finish(p)
                    return
                continue
            if p.chunk_left > 0:
                take = min(p.chunk_left, len(buf))
                if not take:
                    return
                self._payload(p, bytes(buf[:take]), now)
                del buf[:take]
                p.chunk_left -= take
                if p.chunk_left:
                    return
                p.chunk_left = -2  # expect the CRLF after the chunk
            if p.chunk_left == -2:
                if len(buf) < 2:
                    return
                if buf[:2] != _CRLF:
                    raise HttpError("missing CRLF after chunk")
                del buf[:2]
                p.chunk_left = 0
            end = buf.find(_CRLF)
            if end < 0:
                return
            size = int(bytes(buf[:end]).split(b";", 1)[0], 16)
            del buf[: end + 2]
            if size == 0:
                p.in_trailer = True
            else:
                p.chunk_left = size

    def _payload(self, p: _Pending, data: bytes, now: float) -> None:
        if p.collect:
            p.body_parts.append(data)
        if not p.sse:
            return
        events = p.events_buf
        events += data
        start = 0
        result = p.result
        marker = p.token_marker
        while True:
            end = events.find(_EVENT_END, start)
            if end < 0:
                break
            event = bytes(events[start:end])
            start = end + 2
            if event.startswith(_PING):
                result.pings += 1
                continue
            if not event.strip():
                continue
            result.events += 1
            result.last_event = event
            if p.counter is not None:
                p.counter[0] += 1
            if marker is None or marker in event:
                result.token_events += 1
                if not result.first_token_at:
                    result.first_token_at = now
        if start:
            del events[:start]

    def _finish(self, p: _Pending) -> None:
        self.pending = None
        p.result.ended = time.perf_counter()
        if p.collect:
            p.result.body = b"".join(p.body_parts)
        if not p.future.done():
            p.future.set_result(p.result)
        if not p.result.keep_alive and self.transport is not None:
            self.transport.close()


class Connection:
    """One keep-alive HTTP/1.1 connection; requests on it run one at a time."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._proto: _Protocol | None = None

    @property
    def usable(self) -> bool:
        return self._proto is not None and not self._proto.closed

    async def connect(self) -> None:
        loop = asyncio.get_running_loop()
        _, proto = await loop.create_connection(_Protocol, self.host, self.port)
        await proto.connected
        self._proto = proto

    def close(self) -> None:
        if self._proto is not None and self._proto.transport is not None:
            self._proto.transport.close()
        self._proto = None

    async def request(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        *,
        sse: bool = False,
        token_marker: bytes | None = None,
        collect: bool = False,
        timeout: float | None = None,
        counter: list[int] | None = None,
        result: Result | None = None,
    ) -> Result:
        """Send one request and wait for the whole response. SSE events are counted on the
        result and, when given, in `counter[0]` as they arrive. Pass `result` to watch a
        response while it is still streaming."""
        if not self.usable:
            await self.connect()
        proto = self._proto
        assert proto is not None and proto.transport is not None
        lines = [f"{method} {path} HTTP/1.1", f"host: {self.host}:{self.port}"]
        for name, value in (headers or {}).items():
            lines.append(f"{name}: {value}")
        if body or method in ("POST", "PUT", "PATCH"):
            lines.append(f"content-length: {len(body)}")
        wire = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        loop = asyncio.get_running_loop()
        result = result if result is not None else Result()
        pending = _Pending(result, loop.create_future(), token_marker, sse, collect)
        pending.counter = counter
        proto.buf.clear()
        proto.pending = pending
        result.started = time.perf_counter()
        proto.transport.write(wire)
        try:
            if timeout is None:
                await pending.future
            else:
                await asyncio.wait_for(asyncio.shield(pending.future), timeout)
        except TimeoutError:
            result.error = "timeout"
            result.ended = time.perf_counter()
            self.close()
        if result.error or not result.keep_alive:
            self.close()
        return result


def new_loop() -> asyncio.AbstractEventLoop:
    """uvloop when available (as the servers use), else the default loop."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvicorn[standard] ships it
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on a fresh uvloop loop."""
    with asyncio.Runner(loop_factory=new_loop) as runner:
        return runner.run(coro)
