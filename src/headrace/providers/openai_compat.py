"""Adapter for OpenAI and every server speaking its streaming chat/completions API.

One pooled HTTP session (`upstream_http`) serves all requests of the process; responses are
read as server-sent events line by line and decoded with orjson.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from http import HTTPStatus
from typing import Any

import orjson

from headrace.providers.errors import (
    ModelNotSupportedError,
    ProviderError,
    ProviderQuotaError,
)
from headrace.providers.types import (
    LLMChunk,
    LLMRequest,
    PromptMessage,
    TokenUsage,
    ToolCall,
    ToolSpec,
)
from headrace.providers.upstream_http import (
    SessionFactory,
    UpstreamHttp,
    bearer_endpoint,
    drain,
)

DEFAULT_BASE_URL = "https://api.openai.com/v1"
_KNOWN_STATUSES = {status.value for status in HTTPStatus}

#: Request parameters forwarded verbatim to the upstream (when not None).
FORWARDED_PARAMETERS = (
    "temperature",
    "top_p",
    "max_tokens",
    "presence_penalty",
    "frequency_penalty",
    "seed",
)


def _message_json(message: PromptMessage) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role}
    if message.images and message.role == "user":
        parts: list[dict[str, Any]] = []
        if message.content:
            parts.append({"type": "text", "text": message.content})
        for image in message.images:
            parts.append(
                {"type": "image_url", "image_url": {"url": image.url, "detail": image.detail}}
            )
        out["content"] = parts
    else:
        out["content"] = message.content
    if message.tool_calls:
        # OpenAI wants null content next to tool calls when the model said nothing.
        out["content"] = message.content or None
        out["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in message.tool_calls
        ]
    if message.role == "tool":
        out["tool_call_id"] = message.tool_call_id or ""
    elif message.name:
        out["name"] = message.name
    return out


def _tool_json(tool: ToolSpec) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": tool.name,
            "description": tool.description,
            "parameters": tool.parameters,
        },
    }


def render_prompt(messages: tuple[PromptMessage, ...]) -> str:
    """Flatten messages into one prompt string for legacy completion models.

    A lone user message (optionally after a system prompt) is sent as is; multi-turn
    histories are labelled so the model can tell the speakers apart.
    """
    system = [m.content for m in messages if m.role == "system"]
    turns = [m for m in messages if m.role != "system"]
    if len(turns) == 1 and turns[0].role == "user":
        return "\n\n".join([*system, turns[0].content])
    labels = {"user": "Human", "assistant": "Assistant", "tool": "Tool"}
    lines = [*system, *(f"{labels[m.role]}: {m.content}" for m in turns), "Assistant: "]
    return "\n\n".join(lines)


def build_body(request: LLMRequest) -> dict[str, Any]:
    """The JSON body of a streaming chat or completion request."""
    body: dict[str, Any] = {"model": request.model}
    if request.mode == "completion":
        body["prompt"] = render_prompt(request.messages)
    else:
        body["messages"] = [_message_json(m) for m in request.messages]
        if request.tools:
            body["tools"] = [_tool_json(t) for t in request.tools]
    params = request.parameters
    for key in FORWARDED_PARAMETERS:
        value = params.get(key)
        if value is not None:
            body[key] = value
    response_format = params.get("response_format")
    if isinstance(response_format, str) and response_format:
        body["response_format"] = {"type": response_format}
    elif isinstance(response_format, dict):
        body["response_format"] = response_format
    stop = list(request.stop)
    extra_stop = params.get("stop")
    if isinstance(extra_stop, str):
        extra_stop = [extra_stop]
    if isinstance(extra_stop, list | tuple):
        stop.extend(s for s in extra_stop if isinstance(s, str) and s not in stop)
    if stop:
        body["stop"] = stop
    body["stream"] = True
    body["stream_options"] = {"include_usage": True}
    return body


def _error_fields(payload: Any) -> tuple[str, str]:
    """`(message, code-and-type)` of an OpenAI-shaped error payload."""
    err = payload.get("error", payload) if isinstance(payload, dict) else payload
    if isinstance(err, dict):
        message = str(err.get("message") or "")
        kind = f"{err.get('code') or ''} {err.get('type') or ''}".lower()
        return message, kind
    return (str(err) if err else ""), ""


def map_http_error(status: int, body: bytes, model: str) -> Exception:
    """Translate an upstream HTTP error response into a provider error."""
    try:
        message, kind = _error_fields(orjson.loads(body))
    except orjson.JSONDecodeError:
        message, kind = body.decode("utf-8", "replace").strip()[:500], ""
    if not message:
        message = HTTPStatus(status).phrase if status in _KNOWN_STATUSES else "Unknown error"
    lowered = message.lower()
    if status == 429 or "insufficient_quota" in kind:
        return ProviderQuotaError(message)
    if (
        status == 404
        or "model_not_found" in kind
        or ("model" in lowered and ("not found" in lowered or "does not exist" in lowered))
    ):
        return ModelNotSupportedError(f"Model {model} is not available: {message}")
    if status in (401, 403):
        return ProviderError(message)
    return ProviderError(f"[{status}] {message}")


class _ToolCallAssembler:
    """Joins streamed tool-call fragments, keyed by their index."""

    __slots__ = ("_calls",)

    def __init__(self) -> None:
        self._calls: dict[int, list[str]] = {}

    def feed(self, fragments: list[dict[str, Any]]) -> None:
        for fragment in fragments:
            slot = self._calls.setdefault(int(fragment.get("index", 0)), ["", "", ""])
            if fragment.get("id"):
                slot[0] = fragment["id"]
            function = fragment.get("function") or {}
            if function.get("name"):
                slot[1] += function["name"]
            if function.get("arguments"):
                slot[2] += function["arguments"]

    def result(self) -> tuple[ToolCall, ...]:
        return tuple(
            ToolCall(id=cid or f"call_{index}", name=name, arguments=args or "{}")
            for index, (cid, name, args) in sorted(self._calls.items())
        )


class _StreamState:
    """Decodes SSE `data:` payloads of one stream and keeps what the final chunk needs."""

    __slots__ = ("completion", "done", "finish", "tools", "usage")

    def __init__(self, completion: bool) -> None:
        self.completion = completion
        self.done = False
        self.tools: _ToolCallAssembler | None = None
        self.usage: TokenUsage | None = None
        self.finish: str | None = None

    def feed(self, payload: bytes) -> str | None:
        """Absorb one payload; return its text delta, if any."""
        if not payload:
            return None
        if payload == b"[DONE]":
            self.done = True
            return None
        try:
            event = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            raise ProviderError(f"Malformed stream from model provider: {payload[:200]!r}") from exc
        if not isinstance(event, dict):
            return None
        if event.get("error"):
            message, _ = _error_fields(event)
            raise ProviderError(message or "Model provider failed mid-stream")
        raw_usage = event.get("usage")
        if raw_usage:
            self.usage = TokenUsage(
                int(raw_usage.get("prompt_tokens") or 0),
                int(raw_usage.get("completion_tokens") or 0),
            )
        choices = event.get("choices")
        if not choices:
            return None
        choice = choices[0]
        if choice.get("finish_reason"):
            self.finish = choice["finish_reason"]
        text: str | None
        if self.completion:
            text = choice.get("text")
            return text
        delta = choice.get("delta")
        if not delta:
            return None
        if delta.get("tool_calls"):
            self.tools = self.tools or _ToolCallAssembler()
            self.tools.feed(delta["tool_calls"])
        text = delta.get("content")
        return text

    def final(self) -> LLMChunk:
        """The closing chunk: assembled tool calls, usage and finish reason."""
        calls = self.tools.result() if self.tools else ()
        return LLMChunk(tool_calls=calls, usage=self.usage, finish_reason=self.finish)


class OpenAICompatProvider:
    """Streams completions from OpenAI or any OpenAI-compatible server.

    Credentials: `api_key` and/or `base_url` (default `https://api.openai.com/v1`, used
    exactly as given). A base URL without key suits self-hosted servers.
    """

    provider_id = "openai"
    credential_keys: tuple[str, ...] = ("api_key", "base_url")
    needs_credentials = True

    def __init__(
        self,
        timeout: float = 60.0,
        *,
        max_connections: int = 2000,
        session_factory: SessionFactory | None = None,
    ) -> None:
        self._http = UpstreamHttp(
            timeout, max_connections, label="Model", session_factory=session_factory
        )

    async def stream(
        self, request: LLMRequest, credentials: Mapping[str, str]
    ) -> AsyncIterator[LLMChunk]:
        """Yield text deltas, then one final chunk with tool calls, usage and finish."""
        path = "/completions" if request.mode == "completion" else "/chat/completions"
        url, headers = bearer_endpoint(
            credentials,
            DEFAULT_BASE_URL,
            path,
            provider_id=self.provider_id,
            purpose="chat",
            accept="text/event-stream",
        )
        body = orjson.dumps(build_body(request))
        async with self._http.stream(
            url, body, headers, model=request.model, map_error=map_http_error
        ) as source:
            # Parsed here rather than in a generator of its own (one layer less per event);
            # splitting bytes ourselves skips text decoding and line layers, which cost more
            # than the JSON decoding on a busy event loop.
            state = _StreamState(request.mode == "completion")
            pending = b""
            async for data in source:
                if pending:
                    data = pending + data
                cut = data.rfind(b"\n") + 1
                pending = data[cut:]
                for line in data[:cut].splitlines():
                    if line.startswith(b"data:"):
                        text = state.feed(line[5:].strip())
                        if text:
                            yield LLMChunk(text=text)
                        elif state.done:
                            yield state.final()
                            await drain(source)
                            return
            if pending.startswith(b"data:"):
                text = state.feed(pending[5:].strip())
                if text:
                    yield LLMChunk(text=text)
            yield state.final()

    async def aclose(self) -> None:
        """Close the pooled HTTP session."""
        await self._http.aclose()
