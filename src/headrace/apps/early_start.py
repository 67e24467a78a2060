"""Starting a model call before the turn's rows are written.

A new conversation's prompt needs nothing from the database, so its upstream request can be
on the wire while the conversation and message rows are inserted: the first token then
waits for the rows rather than the rows for the first token. The first chunk is fetched by
a task of its own; the consumer takes it, then iterates the same stream.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import suppress

from headrace.apps.models import BoundModel
from headrace.providers.types import LLMChunk, LLMRequest


class EarlyStart:
    """A model stream already started; `chunks()` continues it, `close()` abandons it."""

    def __init__(self, model: BoundModel, request: LLMRequest) -> None:
        self.started = time.perf_counter()
        self._stream: AsyncGenerator[LLMChunk, None] = _generator(model.stream(request))
        self._first = asyncio.ensure_future(self._stream.__anext__())
        self._closed = False

    async def chunks(self) -> AsyncIterator[LLMChunk]:
        """The stream's chunks, the first one included; closes the stream when done.
        Nothing once the call was closed."""
        if self._closed:
            return
        try:
            try:
                first = await self._first
            except StopAsyncIteration:
                return
            yield first
            async for chunk in self._stream:
                yield chunk
        finally:
            await self.close()

    async def close(self) -> None:
        """Stop the call and release its connection (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if not self._first.done():
            self._first.cancel()
        with suppress(BaseException):
            await self._first
        await self._stream.aclose()


async def _generator(chunks: AsyncIterator[LLMChunk]) -> AsyncGenerator[LLMChunk, None]:
    async for chunk in chunks:
        yield chunk
