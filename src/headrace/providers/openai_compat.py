"""Adapter for OpenAI and every server speaking its streaming chat/completions API.

One pooled `httpx.AsyncClient` serves all requests of the process; responses are read as
server-sent events line by line and decoded with orjson.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import httpx
import orjson

from headrace.providers.errors import (
    ModelNotSupportedError,
    ProviderCredentialsMissingError,
    ProviderError,
    ProviderQuotaError,
    UpstreamTimeoutError,
)
from headrace.providers.types import (
    LLMChunk,
    LLMRequest,
    PromptMessage,
    TokenUsage,
    ToolCall,
    ToolSpec,
)

DEFAULT_BASE_URL = "https://api.openai.com/v1"

#: Request parameters forwarded verbatim to the upstream (when not None).
FORWARDED_PARAMETERS = (
    "temperature",
    "top_p",
    "max_tokens",
    "presence_penalty",
    "frequency_penalty",
    "seed",
)


async def _drain(source: AsyncIterator[bytes], limit: float = 1.0) -> None:
    """Read a response past its `[DONE]` to the end of the body, for at most `limit` seconds.

    A response closed before its body ends cannot go back to the pool, so every stream cut
    at `[DONE]` cost the next request a new TCP connection (and TLS handshake).
    """
    try:
        async with asyncio.timeout(limit):
            async for _ in source:
                pass
    except TimeoutError:
        return


def default_client(timeout: float, max_connections: int = 2000) -> httpx.AsyncClient:
    """A client sized for many concurrent long-lived streams."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout),
        limits=httpx.Limits(
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=30.0,
        ),
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
        message = httpx.codes.get_reason_phrase(status) or "Unknown error"
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


async def post_json(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    label: str,
    model: str,
    map_error: Callable[[int, bytes, str], Exception] = map_http_error,
) -> Any:
    """POST a JSON body and return the decoded answer, or raise the provider error.

    `label` names the kind of provider ("Embedding", "Rerank") in error messages.
    """
    try:
        response = await client.post(url, content=body, headers=headers)
    except httpx.TimeoutException as exc:
        raise UpstreamTimeoutError(f"{label} provider timed out: {exc!r}") from exc
    except httpx.TransportError as exc:
        raise ProviderError(f"Failed to connect to {label.lower()} provider: {exc}") from exc
    if response.status_code >= 400:
        raise map_error(response.status_code, response.content, model)
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError as exc:
        raise ProviderError(
            f"Malformed answer from {label.lower()} provider: {response.content[:200]!r}"
        ) from exc


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
        client_factory: Callable[[], httpx.AsyncClient] | None = None,
    ) -> None:
        self._factory = client_factory or (lambda: default_client(timeout, max_connections))
        self._client: httpx.AsyncClient | None = None

    def _get_client(self) -> httpx.AsyncClient:
        # Created on first use so the pool belongs to the event loop that serves requests.
        if self._client is None or self._client.is_closed:
            self._client = self._factory()
        return self._client

    async def stream(
        self, request: LLMRequest, credentials: Mapping[str, str]
    ) -> AsyncIterator[LLMChunk]:
        """Yield text deltas, then one final chunk with tool calls, usage and finish."""
        api_key = (credentials.get("api_key") or "").strip()
        base_url = (credentials.get("base_url") or "").strip()
        if not api_key and not base_url:
            raise ProviderCredentialsMissingError()
        base = (base_url or DEFAULT_BASE_URL).rstrip("/")
        path = "/completions" if request.mode == "completion" else "/chat/completions"
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        client = self._get_client()
        http_request = client.build_request(
            "POST", base + path, content=orjson.dumps(build_body(request)), headers=headers
        )
        try:
            response = await client.send(http_request, stream=True)
        except httpx.TimeoutException as exc:
            raise UpstreamTimeoutError(f"Model provider timed out: {exc!r}") from exc
        except httpx.TransportError as exc:
            raise ProviderError(f"Failed to connect to model provider: {exc}") from exc
        try:
            if response.status_code >= 400:
                raise map_http_error(response.status_code, await response.aread(), request.model)
            async for chunk in self._parse(response, request.mode == "completion"):
                yield chunk
        except httpx.TimeoutException as exc:
            raise UpstreamTimeoutError(f"Model provider timed out: {exc!r}") from exc
        except httpx.TransportError as exc:
            raise ProviderError(f"Connection to model provider failed: {exc}") from exc
        finally:
            await response.aclose()

    @staticmethod
    async def _parse(response: httpx.Response, completion: bool) -> AsyncIterator[LLMChunk]:
        # Splitting raw bytes ourselves skips httpx's text decoding and line layers,
        # which cost more than the JSON decoding on a busy event loop.
        state = _StreamState(completion)
        encoded = "content-encoding" in response.headers
        source = response.aiter_bytes() if encoded else response.aiter_raw()
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
                        await _drain(source)
                        return
        if pending.startswith(b"data:"):
            text = state.feed(pending[5:].strip())
            if text:
                yield LLMChunk(text=text)
        yield state.final()

    async def aclose(self) -> None:
        """Close the pooled HTTP client."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None
