"""A model call started before the turn's rows are written: the request is on the wire at
once, the consumer gets every chunk, errors surface where the chunks are read, and an
abandoned call is closed."""

from __future__ import annotations

import asyncio

import pytest

from headrace.apps.early_start import EarlyStart
from headrace.apps.models import BoundModel
from headrace.providers.errors import ProviderQuotaError
from headrace.providers.openai_compat import OpenAICompatProvider
from headrace.providers.types import LLMRequest, PromptMessage
from tests.support.upstream import Reply, ScriptedUpstream

REQUEST = LLMRequest(model="gpt-4o-mini", messages=(PromptMessage("user", "hello"),))


def _model(upstream: ScriptedUpstream) -> BoundModel:
    return BoundModel(
        OpenAICompatProvider(timeout=10), {"api_key": "sk-x", "base_url": upstream.base_url}
    )


async def _requests_seen(upstream: ScriptedUpstream) -> int:
    for _ in range(100):
        if upstream.requests_for("/v1/chat/completions"):
            break
        await asyncio.sleep(0.02)
    return len(upstream.requests_for("/v1/chat/completions"))


async def test_the_request_goes_out_before_anyone_reads(scripted: ScriptedUpstream) -> None:
    scripted.script(Reply(chunks=["Hel", "lo", " there"]))
    early = EarlyStart(_model(scripted), REQUEST)
    assert await _requests_seen(scripted) == 1  # nothing has read a chunk yet
    text = "".join([chunk.text async for chunk in early.chunks()])
    assert text == "Hello there"


async def test_an_upstream_error_surfaces_where_chunks_are_read(
    scripted: ScriptedUpstream,
) -> None:
    scripted.script(Reply(status=429, error={"message": "slow down", "type": "rate_limit"}))
    early = EarlyStart(_model(scripted), REQUEST)
    await asyncio.sleep(0.1)  # the failure happens before anyone reads
    with pytest.raises(ProviderQuotaError):
        async for _ in early.chunks():
            pass


async def test_an_abandoned_call_is_closed(scripted: ScriptedUpstream) -> None:
    scripted.script(Reply(hang=True))
    early = EarlyStart(_model(scripted), REQUEST)
    assert await _requests_seen(scripted) == 1
    await asyncio.wait_for(early.close(), timeout=5)
    await early.close()  # idempotent
    with pytest.raises(StopAsyncIteration):
        await early.chunks().__anext__()
