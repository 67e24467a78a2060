"""The benchmarks' lean upstream speaks the wire format the real provider code expects."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
from bench.upstream import Answers, serve

from headrace.providers.openai_compat import OpenAICompatProvider
from headrace.providers.types import LLMRequest, PromptMessage, TokenUsage


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def _upstream(answers: Answers) -> AsyncIterator[str]:
    port = _free_port()
    task = asyncio.create_task(serve("127.0.0.1", port, answers))
    for _ in range(100):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.01)
            continue
        writer.close()
        break
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.mark.parametrize(("mode", "tps"), [("chat", 0.0), ("completion", 0.0), ("chat", 500.0)])
async def test_streams_tokens_and_usage_to_the_provider(mode: str, tps: float) -> None:
    provider = OpenAICompatProvider(timeout=5.0)
    request = LLMRequest(
        model="gpt-4o-mini", messages=(PromptMessage("user", "three words here"),), mode=mode
    )
    try:
        async with _upstream(Answers(tokens=3, tps=tps, delay_first=0.0)) as base_url:
            creds = {"api_key": "sk-bench", "base_url": base_url}
            for _ in range(2):  # a second answer on the same keep-alive connection
                chunks = [chunk async for chunk in provider.stream(request, creds)]
                assert "".join(c.text for c in chunks if c.text) == "tok tok tok "
                assert chunks[-1].usage == TokenUsage(3, 3)
                assert chunks[-1].finish_reason == "stop"
    finally:
        await provider.aclose()


async def test_answers_whole_bodies_and_unknown_paths() -> None:
    async with _upstream(Answers(tokens=2, tps=0.0, delay_first=0.0)) as base_url:
        async with httpx.AsyncClient() as client:
            body = {"model": "m", "messages": [{"role": "user", "content": "a b"}]}
            whole = await client.post(f"{base_url}/chat/completions", json=body)
            missing = await client.post(f"{base_url}/nowhere", json=body)
    assert whole.status_code == 200
    answer = whole.json()
    assert answer["choices"][0]["message"]["content"] == "tok tok "
    assert answer["usage"] == {"prompt_tokens": 2, "completion_tokens": 2, "total_tokens": 4}
    assert missing.status_code == 404
