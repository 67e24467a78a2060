"""Reading Server-Sent Events in tests: raw frames and parsed `data:` events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import orjson

PING = 'event: ping\ndata: {"event": "ping"}'


@dataclass
class Frame:
    """One SSE frame: its raw text and, for data frames, the parsed JSON."""

    raw: str
    data: dict[str, Any] | None

    @property
    def name(self) -> str:
        """The event name (`ping` for keep-alives)."""
        if self.data is None:
            return "ping" if self.raw.startswith("event: ping") else "?"
        return str(self.data.get("event"))


def parse_frames(text: str) -> list[Frame]:
    """Split an SSE body into frames."""
    frames = []
    for block in text.split("\n\n"):
        if not block:
            continue
        data = None
        if block.startswith("data: "):
            data = orjson.loads(block[len("data: ") :])
        elif block.startswith("event: ping"):
            data = None
        frames.append(Frame(block, data))
    return frames


def names(frames: list[Frame]) -> list[str]:
    """Event names in order."""
    return [f.name for f in frames]


async def read_stream(response: httpx.Response) -> list[Frame]:
    """Read a whole streaming response into frames."""
    body = b""
    async for chunk in response.aiter_bytes():
        body += chunk
    return parse_frames(body.decode())
