"""LocalLlamaProvider: prompt formatting, model resolution and real Gemma inference."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from headrace.providers.base import collect
from headrace.providers.errors import ModelNotSupportedError
from headrace.providers.local_llama import (
    LocalLlamaProvider,
    default_model_path,
    format_gemma_prompt,
)
from headrace.providers.types import LLMRequest, PromptMessage


def _request(text: str, max_tokens: int, model: str = "gemma3-270m") -> LLMRequest:
    return LLMRequest(
        model=model,
        messages=(PromptMessage("user", text),),
        parameters={"max_tokens": max_tokens, "temperature": 0.7, "seed": 42},
    )


def test_gemma_prompt_folds_system_into_first_user_turn() -> None:
    messages = (
        PromptMessage("system", "Be terse."),
        PromptMessage("user", "Hi"),
        PromptMessage("assistant", "Hello!"),
        PromptMessage("user", "Capital of France?"),
    )
    assert format_gemma_prompt(messages) == (
        "<start_of_turn>user\nBe terse.\n\nHi<end_of_turn>\n"
        "<start_of_turn>model\nHello!<end_of_turn>\n"
        "<start_of_turn>user\nCapital of France?<end_of_turn>\n"
        "<start_of_turn>model\n"
    )


def test_gemma_prompt_with_only_a_system_message() -> None:
    prompt = format_gemma_prompt((PromptMessage("system", "Say hi."),))
    assert prompt == "<start_of_turn>user\nSay hi.<end_of_turn>\n<start_of_turn>model\n"


async def test_unknown_model_name_is_not_supported() -> None:
    provider = LocalLlamaProvider()
    with pytest.raises(ModelNotSupportedError, match="llama-9000"):
        await collect(provider.stream(_request("hi", 4, model="llama-9000"), {}))


async def test_missing_model_file_is_not_supported(tmp_path: Path) -> None:
    provider = LocalLlamaProvider()
    missing = str(tmp_path / "nope.gguf")
    with pytest.raises(ModelNotSupportedError, match=r"nope\.gguf"):
        await collect(provider.stream(_request("hi", 4), {"model_path": missing}))


async def test_without_llama_cpp_reports_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = tmp_path / "tiny.gguf"
    model.write_bytes(b"GGUF")
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # makes `import llama_cpp` fail
    provider = LocalLlamaProvider()
    with pytest.raises(ModelNotSupportedError, match=r"^Local models need llama-cpp-python"):
        await collect(provider.stream(_request("hi", 4, model=str(model)), {}))


@pytest.fixture(scope="module")
def gemma() -> Iterator[LocalLlamaProvider]:
    pytest.importorskip("llama_cpp")
    provider = LocalLlamaProvider(n_ctx=2048)
    yield provider
    asyncio.run(provider.aclose())


@pytest.mark.slow
async def test_gemma_streams_an_answer_with_usage(gemma: LocalLlamaProvider) -> None:
    chunks = [c async for c in gemma.stream(_request("Name a colour.", 24), {})]
    texts = [c.text for c in chunks if c.text]
    assert len(texts) > 1, "expected a streamed answer in several deltas"
    assert "".join(texts).strip()
    final = chunks[-1]
    assert final.usage is not None
    # "<bos><start_of_turn>user\nName a colour.<end_of_turn>\n<start_of_turn>model\n"
    assert final.usage.prompt_tokens >= 10
    assert 0 < final.usage.completion_tokens <= 24 + 1
    assert final.finish_reason in ("stop", "length")


@pytest.mark.slow
async def test_model_path_credential_and_gguf_model_name(gemma: LocalLlamaProvider) -> None:
    path = str(default_model_path())
    by_credential = await collect(
        gemma.stream(_request("Hello", 4, model="anything"), {"model_path": path})
    )
    by_name = await collect(gemma.stream(_request("Hello", 4, model=path), {}))
    assert by_credential.text and by_name.text
    assert by_credential.usage is not None and by_name.usage is not None


@pytest.mark.slow
async def test_inference_does_not_block_the_event_loop(gemma: LocalLlamaProvider) -> None:
    gaps: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    task = asyncio.create_task(ticker())
    result = await collect(gemma.stream(_request("Tell me a story.", 32), {}))
    stop.set()
    await task
    assert result.text
    # The loop kept ticking while the model generated: inference runs off the event loop.
    assert len(gaps) > 10


def _workers_alive() -> int:
    return sum(t.name == "local-llm" and t.is_alive() for t in threading.enumerate())


@pytest.mark.slow
async def test_abandoned_stream_stops_generating(gemma: LocalLlamaProvider) -> None:
    # Asked for 1500 tokens (tens of seconds); leaving after the first chunk must stop
    # the worker at the next token, freeing the model for the next request.
    stream = gemma.stream(_request("Write a very long essay about rivers.", 1500), {})
    first = await anext(stream)
    assert first.text
    await stream.aclose()  # type: ignore[attr-defined]
    # A generous bound only so a regression fails instead of hanging; no speed is asserted.
    deadline = time.perf_counter() + 60
    while _workers_alive() and time.perf_counter() < deadline:
        await asyncio.sleep(0.02)
    assert _workers_alive() == 0
    result = await collect(gemma.stream(_request("Hi", 4), {}))
    assert result.usage is not None
    assert result.usage.completion_tokens <= 4
