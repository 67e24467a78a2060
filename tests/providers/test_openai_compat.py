"""OpenAICompatProvider against the scripted upstream over real loopback HTTP."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import httpx
import pytest

from headrace.providers.base import collect
from headrace.providers.errors import (
    ModelNotSupportedError,
    ProviderCredentialsMissingError,
    ProviderError,
    ProviderQuotaError,
    UpstreamTimeoutError,
)
from headrace.providers.openai_compat import OpenAICompatProvider, render_prompt
from headrace.providers.types import (
    ImagePart,
    LLMChunk,
    LLMRequest,
    PromptMessage,
    TokenUsage,
    ToolCall,
    ToolSpec,
)
from tests.support.upstream import Reply, ScriptedUpstream


def _request(text: str = "hi there", **kwargs: Any) -> LLMRequest:
    messages = kwargs.pop("messages", (PromptMessage("user", text),))
    return LLMRequest(model=kwargs.pop("model", "gpt-4o-mini"), messages=messages, **kwargs)


def _creds(up: ScriptedUpstream, api_key: str = "sk-test") -> dict[str, str]:
    return {"api_key": api_key, "base_url": up.base_url}


async def _chunks(
    provider: OpenAICompatProvider, request: LLMRequest, creds: dict[str, str]
) -> list[LLMChunk]:
    return [chunk async for chunk in provider.stream(request, creds)]


async def test_streams_text_deltas_in_order_with_usage(
    provider: OpenAICompatProvider, upstream: ScriptedUpstream
) -> None:
    upstream.script(Reply(chunks=["Hel", "lo", " world"], usage=(11, 3)))
    chunks = await _chunks(provider, _request(), _creds(upstream))
    assert [c.text for c in chunks if c.text] == ["Hel", "lo", " world"]
    assert chunks[-1].usage == TokenUsage(11, 3)
    assert chunks[-1].finish_reason == "stop"
    assert all(c.usage is None for c in chunks[:-1])


async def test_consecutive_streams_reuse_one_upstream_connection(
    provider: OpenAICompatProvider, upstream: ScriptedUpstream
) -> None:
    upstream.script(Reply(chunks=["a", "b"]), Reply(chunks=["c"]), Reply(chunks=["d"]))
    for _ in range(3):
        chunks = await _chunks(provider, _request(), _creds(upstream))
        assert chunks[-1].finish_reason == "stop"
    ports = {r.client_port for r in upstream.requests_for("/v1/chat/completions")}
    # Each stream is read to the end of its body, so its connection goes back to the pool.
    assert len(ports) == 1 and 0 not in ports


async def test_http_proxy_from_the_environment_is_used(
    provider: OpenAICompatProvider, upstream: ScriptedUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The upstream plays the proxy: the model's own host does not even resolve.
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{upstream.port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    upstream.script(Reply(chunks=["via proxy"]))
    creds = {"api_key": "sk", "base_url": "http://model.invalid/v1"}
    chunks = await _chunks(provider, _request(), creds)
    assert "".join(c.text for c in chunks if c.text) == "via proxy"


async def test_no_proxy_exempts_a_host(
    provider: OpenAICompatProvider, upstream: ScriptedUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{dead}")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    upstream.script(Reply(chunks=["direct"]))
    chunks = await _chunks(provider, _request(), _creds(upstream))
    assert "".join(c.text for c in chunks if c.text) == "direct"


async def test_default_reply_echoes_last_user_message(
    provider: OpenAICompatProvider, upstream: ScriptedUpstream
) -> None:
    messages = (
        PromptMessage("system", "be brief"),
        PromptMessage("user", "first question"),
        PromptMessage("assistant", "first answer"),
        PromptMessage("user", "second question here"),
    )
    result = await collect(provider.stream(_request(messages=messages), _creds(upstream)))
    assert result.text == "Echo: second question here"
    # Default usage is whitespace word counts of the prompt and the answer.
    assert result.usage == TokenUsage(prompt_tokens=9, completion_tokens=4)


async def test_missing_usage_is_left_none(
    provider: OpenAICompatProvider, upstream: ScriptedUpstream
) -> None:
    upstream.script(Reply(text="no usage here", usage="omit"))
    result = await collect(provider.stream(_request(), _creds(upstream)))
    assert result.text == "no usage here"
    assert result.usage is None


async def test_tool_call_fragments_are_assembled(
    provider: OpenAICompatProvider, upstream: ScriptedUpstream
) -> None:
    weather = '{"city": "Paris", "unit": "celsius"}'
    upstream.script(Reply(tool_calls=[("get_weather", weather), ("get_time", '{"tz": "UTC"}')]))
    tool = ToolSpec("get_weather", "Weather for a city", {"type": "object", "properties": {}})
    chunks = await _chunks(provider, _request(tools=(tool,)), _creds(upstream))
    calls = [call for chunk in chunks for call in chunk.tool_calls]
    assert calls == [
        ToolCall("call_0", "get_weather", weather),
        ToolCall("call_1", "get_time", '{"tz": "UTC"}'),
    ]
    assert chunks[-1].finish_reason == "tool_calls"
    sent = upstream.requests[-1].json
    assert sent["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather for a city",
                "parameters": {"type": "object", "properties": {}},
            },
        }
    ]


async def test_parameters_are_forwarded_and_unknown_dropped(
    provider: OpenAICompatProvider, upstream: ScriptedUpstream
) -> None:
    params = {
        "temperature": 0.2,
        "top_p": 0.9,
        "max_tokens": 64,
        "presence_penalty": 0.1,
        "frequency_penalty": 0.3,
        "seed": 7,
        "response_format": "json_object",
        "stop": ["END"],
        "top_k": None,
        "made_up": 1,
    }
    request = _request(parameters=params, stop=("\n\nHuman:",))
    await collect(provider.stream(request, _creds(upstream)))
    sent = upstream.requests[-1]
    assert sent.path == "/v1/chat/completions"
    body = sent.json
    for key in ("temperature", "top_p", "max_tokens", "presence_penalty", "frequency_penalty"):
        assert body[key] == params[key]
    assert body["seed"] == 7
    assert body["response_format"] == {"type": "json_object"}
    assert body["stop"] == ["\n\nHuman:", "END"]
    assert "made_up" not in body and "top_k" not in body
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["model"] == "gpt-4o-mini"


async def test_images_tool_messages_and_assistant_calls_are_serialised(
    provider: OpenAICompatProvider, upstream: ScriptedUpstream
) -> None:
    call = ToolCall("call_9", "lookup", '{"q": "x"}')
    messages = (
        PromptMessage("system", "sys"),
        PromptMessage("user", "what is this?", images=(ImagePart("data:image/png;base64,AAA"),)),
        PromptMessage("assistant", "", tool_calls=(call,)),
        PromptMessage("tool", "result text", tool_call_id="call_9"),
        PromptMessage("user", "thanks", name="alice"),
    )
    await collect(provider.stream(_request(messages=messages), _creds(upstream)))
    sent = upstream.requests[-1].json["messages"]
    assert sent[0] == {"role": "system", "content": "sys"}
    assert sent[1]["content"] == [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAA", "detail": "high"}},
    ]
    assert sent[2] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_9",
                "type": "function",
                "function": {"name": "lookup", "arguments": '{"q": "x"}'},
            }
        ],
    }
    assert sent[3] == {"role": "tool", "content": "result text", "tool_call_id": "call_9"}
    assert sent[4] == {"role": "user", "content": "thanks", "name": "alice"}


async def test_completion_mode_posts_prompt_to_completions(
    provider: OpenAICompatProvider, upstream: ScriptedUpstream
) -> None:
    upstream.script(Reply(chunks=["Once", " upon"], usage=(4, 2)))
    messages = (PromptMessage("system", "Tell a story."), PromptMessage("user", "About a cat"))
    request = _request(messages=messages, mode="completion", model="gpt-3.5-turbo-instruct")
    result = await collect(provider.stream(request, _creds(upstream)))
    assert result.text == "Once upon"
    assert result.usage == TokenUsage(4, 2)
    sent = upstream.requests[-1]
    assert sent.path == "/v1/completions"
    assert sent.json["prompt"] == "Tell a story.\n\nAbout a cat"
    assert "messages" not in sent.json


def test_render_prompt_labels_multi_turn_histories() -> None:
    messages = (
        PromptMessage("user", "hi"),
        PromptMessage("assistant", "hello"),
        PromptMessage("user", "bye"),
    )
    assert render_prompt(messages) == "Human: hi\n\nAssistant: hello\n\nHuman: bye\n\nAssistant: "


async def test_auth_header_sent_only_with_api_key(
    provider: OpenAICompatProvider, upstream: ScriptedUpstream
) -> None:
    await collect(provider.stream(_request(), _creds(upstream, "sk-secret")))
    assert upstream.requests[-1].headers["authorization"] == "Bearer sk-secret"
    await collect(provider.stream(_request(), {"base_url": upstream.base_url + "/"}))
    assert "authorization" not in upstream.requests[-1].headers
    assert upstream.requests[-1].path == "/v1/chat/completions"


@pytest.mark.parametrize("creds", [{}, {"api_key": "", "base_url": "  "}])
async def test_missing_credentials(provider: OpenAICompatProvider, creds: dict[str, str]) -> None:
    with pytest.raises(ProviderCredentialsMissingError):
        await collect(provider.stream(_request(), creds))


async def test_401_carries_upstream_message(
    provider: OpenAICompatProvider, upstream: ScriptedUpstream
) -> None:
    message = "Incorrect API key provided: sk-bad. You can find your API key at ..."
    upstream.script(
        Reply(
            status=401,
            error={"message": message, "type": "invalid_request_error", "code": "invalid_api_key"},
        )
    )
    with pytest.raises(ProviderError) as info:
        await collect(provider.stream(_request(), _creds(upstream, "sk-bad")))
    assert info.value.message == message
    assert info.value.code == "completion_request_error"


async def test_429_is_quota_error(
    provider: OpenAICompatProvider, upstream: ScriptedUpstream
) -> None:
    upstream.script(Reply(status=429, error={"message": "Rate limit reached", "type": "requests"}))
    with pytest.raises(ProviderQuotaError, match="Rate limit reached") as info:
        await collect(provider.stream(_request(), _creds(upstream)))
    assert info.value.code == "provider_quota_exceeded"


async def test_insufficient_quota_code_is_quota_error(
    provider: OpenAICompatProvider, upstream: ScriptedUpstream
) -> None:
    upstream.script(
        Reply(
            status=400,
            error={
                "message": "You exceeded your current quota",
                "type": "insufficient_quota",
                "code": "insufficient_quota",
            },
        )
    )
    with pytest.raises(ProviderQuotaError, match="exceeded your current quota"):
        await collect(provider.stream(_request(), _creds(upstream)))


async def test_404_model_is_model_not_supported(
    provider: OpenAICompatProvider, upstream: ScriptedUpstream
) -> None:
    upstream.script(
        Reply(
            status=404,
            error={"message": "The model `gpt-9` does not exist", "code": "model_not_found"},
        )
    )
    with pytest.raises(ModelNotSupportedError, match="gpt-9") as info:
        await collect(provider.stream(_request(model="gpt-9"), _creds(upstream)))
    assert info.value.code == "model_currently_not_support"


async def test_500_is_provider_error_with_status(
    provider: OpenAICompatProvider, upstream: ScriptedUpstream
) -> None:
    upstream.script(Reply(status=500, error={"message": "The server had an error"}))
    with pytest.raises(ProviderError) as info:
        await collect(provider.stream(_request(), _creds(upstream)))
    assert info.value.message == "[500] The server had an error"


async def test_connection_refused(provider: OpenAICompatProvider) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    creds = {"api_key": "sk", "base_url": f"http://127.0.0.1:{port}/v1"}
    with pytest.raises(ProviderError, match=r"^Failed to connect to model provider"):
        await collect(provider.stream(_request(), creds))


async def test_hanging_upstream_times_out(upstream: ScriptedUpstream) -> None:
    upstream.script(Reply(hang=True))
    adapter = OpenAICompatProvider(timeout=0.3)
    try:
        with pytest.raises(UpstreamTimeoutError):
            await asyncio.wait_for(collect(adapter.stream(_request(), _creds(upstream))), 5)
    finally:
        await adapter.aclose()


async def test_slow_first_chunk_within_timeout_succeeds(upstream: ScriptedUpstream) -> None:
    upstream.script(Reply(text="late but fine", delay_before_first=0.2, delay_between=0.05))
    adapter = OpenAICompatProvider(timeout=1.0)
    try:
        result = await collect(adapter.stream(_request(), _creds(upstream)))
    finally:
        await adapter.aclose()
    assert result.text == "late but fine"


async def test_error_frame_mid_stream(
    provider: OpenAICompatProvider, upstream: ScriptedUpstream
) -> None:
    upstream.script(
        Reply(chunks=["partial"], error_mid_stream=True, error={"message": "overloaded"})
    )
    seen: list[str] = []
    with pytest.raises(ProviderError, match="overloaded"):
        async for chunk in provider.stream(_request(), _creds(upstream)):
            seen.append(chunk.text)
    assert seen == ["partial"]


async def test_consumer_may_stop_early_and_pool_stays_usable(
    provider: OpenAICompatProvider, upstream: ScriptedUpstream
) -> None:
    upstream.script(Reply(tokens=50, tokens_per_second=200))
    stream = provider.stream(_request(), _creds(upstream))
    first = await anext(stream)
    assert first.text == "tok "
    await stream.aclose()  # type: ignore[attr-defined]
    result = await collect(provider.stream(_request("again"), _creds(upstream)))
    assert result.text == "Echo: again"


async def test_concurrent_streams_share_one_client(
    provider: OpenAICompatProvider, upstream: ScriptedUpstream
) -> None:
    async def one(i: int) -> str:
        result = await collect(provider.stream(_request(f"n{i}"), _creds(upstream)))
        return result.text

    texts = await asyncio.gather(*(one(i) for i in range(100)))
    assert texts == [f"Echo: n{i}" for i in range(100)]
    assert len(upstream.requests) == 100


# The scripted upstream's own contract, relied on by other suites and bench/.


async def test_upstream_non_streaming_and_models(upstream: ScriptedUpstream) -> None:
    upstream.script(Reply(text="whole answer", usage=(2, 2)))
    async with httpx.AsyncClient(base_url=upstream.base_url) as client:
        body = {"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": False}
        answer = (await client.post("/chat/completions", json=body)).json()
        models = (await client.get("/models")).json()
    assert answer["choices"][0]["message"]["content"] == "whole answer"
    assert answer["usage"]["total_tokens"] == 4
    assert "gpt-4o-mini" in [m["id"] for m in models["data"]]


async def test_upstream_sends_usage_only_when_asked(upstream: ScriptedUpstream) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": True}
    async with httpx.AsyncClient(base_url=upstream.base_url) as client:
        plain = (await client.post("/chat/completions", json=body)).text
        body["stream_options"] = {"include_usage": True}
        with_usage = (await client.post("/chat/completions", json=body)).text
    assert '"usage"' not in plain
    assert '"usage":{"prompt_tokens":1,"completion_tokens":2' in with_usage
    assert plain.rstrip().endswith("data: [DONE]")


async def test_upstream_rate_mode_paces_tokens(
    provider: OpenAICompatProvider, upstream: ScriptedUpstream
) -> None:
    upstream.script(Reply(tokens=20, tokens_per_second=100))
    started = time.perf_counter()
    result = await collect(provider.stream(_request(), _creds(upstream)))
    elapsed = time.perf_counter() - started
    assert result.text == "tok " * 20
    assert result.usage is not None and result.usage.completion_tokens == 20
    assert elapsed >= 0.17  # paced by the upstream, not sent at once
