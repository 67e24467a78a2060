"""A scripted OpenAI-compatible upstream on loopback, for tests and benchmarks.

    with ScriptedUpstream() as up:
        up.script(Reply(text="Hello there"), Reply(status=429, error={...}))
        ...  # point a provider at up.base_url; inspect up.requests afterwards

Unscripted requests get the default reply: `Echo: <last user message>`.
Standalone: `python -m tests.support.upstream --port 9000 --tokens 200 --tps 50`.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import socket
import threading
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

_WORDISH = re.compile(r"\S+\s*|\s+")


@dataclass
class Reply:
    """One scripted answer; consumed by exactly one completion request."""

    chunks: list[str] | None = None
    text: str | None = None
    tool_calls: list[tuple[str, str]] = field(default_factory=list)
    status: int = 200
    error: dict[str, Any] | None = None
    delay_before_first: float = 0.0
    delay_between: float = 0.0
    #: None: whitespace word counts; a tuple: exactly these; "omit": never send usage.
    usage: tuple[int, int] | Literal["omit"] | None = None
    error_mid_stream: bool = False
    hang: bool = False
    #: Rate mode (benchmarks): `tokens` one-word chunks at `tokens_per_second`.
    tokens: int | None = None
    tokens_per_second: float | None = None
    finish_reason: str | None = None


@dataclass(frozen=True)
class RecordedRequest:
    """What the upstream received: path, lower-cased headers and the parsed JSON body."""

    path: str
    headers: dict[str, str]
    json: dict[str, Any]


def _words(text: str) -> int:
    return len(text.split())


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _prompt_text(body: dict[str, Any]) -> str:
    if "prompt" in body:
        return _content_text(body["prompt"])
    return " ".join(_content_text(m.get("content")) for m in body.get("messages") or [])


def _last_user_text(body: dict[str, Any]) -> str:
    if "prompt" in body:
        return _content_text(body["prompt"])
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user":
            return _content_text(message.get("content"))
    return ""


def _split(text: str) -> list[str]:
    return _WORDISH.findall(text)


def _fragments(arguments: str, parts: int = 3) -> list[str]:
    size = max(1, -(-len(arguments) // parts))
    return [arguments[i : i + size] for i in range(0, len(arguments), size)] or [""]


def _sse(obj: Any) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


class _Answer:
    """A reply resolved against one request body."""

    def __init__(self, reply: Reply, body: dict[str, Any]) -> None:
        self.reply = reply
        self.model = str(body.get("model") or "scripted")
        self.completion = "prompt" in body
        if reply.tokens is not None:
            self.pieces = ["tok "] * reply.tokens
        elif reply.chunks is not None:
            self.pieces = list(reply.chunks)
        elif reply.text is not None:
            self.pieces = _split(reply.text)
        elif reply.tool_calls:
            self.pieces = []
        else:
            self.pieces = _split(f"Echo: {_last_user_text(body)}")
        self.text = "".join(self.pieces)
        self.finish = reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")
        if reply.usage == "omit":
            self.usage: dict[str, int] | None = None
        else:
            if reply.usage is None:
                prompt = _words(_prompt_text(body))
                done = reply.tokens if reply.tokens is not None else _words(self.text)
            else:
                prompt, done = reply.usage
            self.usage = {
                "prompt_tokens": prompt,
                "completion_tokens": done,
                "total_tokens": prompt + done,
            }

    def _chunk(self, delta: dict[str, Any] | None, text: str, finish: str | None) -> Any:
        if self.completion:
            choice: dict[str, Any] = {"index": 0, "text": text, "finish_reason": finish}
            obj = "text_completion"
        else:
            choice = {"index": 0, "delta": delta or {}, "finish_reason": finish}
            obj = "chat.completion.chunk"
        return {
            "id": "cmpl-scripted",
            "object": obj,
            "created": int(time.time()),
            "model": self.model,
            "choices": [choice],
        }

    async def events(self, include_usage: bool) -> AsyncIterator[bytes]:
        reply = self.reply
        if reply.delay_before_first:
            await asyncio.sleep(reply.delay_before_first)
        gap = reply.delay_between
        if reply.tokens_per_second:
            gap = 1.0 / reply.tokens_per_second
        start = time.monotonic()
        for i, piece in enumerate(self.pieces):
            if i and gap:
                # Pace against the start time so sleep overhead does not accumulate.
                await asyncio.sleep(max(0.0, start + i * gap - time.monotonic()))
            delta = {"role": "assistant", "content": piece} if i == 0 else {"content": piece}
            yield _sse(self._chunk(delta, piece, None))
        if reply.error_mid_stream:
            yield _sse(
                {
                    "error": reply.error
                    or {"message": "Upstream failed mid-stream", "type": "server_error"}
                }
            )
            return
        for index, (name, arguments) in enumerate(reply.tool_calls):
            head = {
                "index": index,
                "id": f"call_{index}",
                "type": "function",
                "function": {"name": name, "arguments": ""},
            }
            yield _sse(self._chunk({"tool_calls": [head]}, "", None))
            for frag in _fragments(arguments):
                part = {"index": index, "function": {"arguments": frag}}
                yield _sse(self._chunk({"tool_calls": [part]}, "", None))
        yield _sse(self._chunk({}, "", self.finish))
        if include_usage and self.usage is not None:
            usage_chunk = self._chunk(None, "", None)
            usage_chunk["choices"] = []
            usage_chunk["usage"] = self.usage
            yield _sse(usage_chunk)
        yield b"data: [DONE]\n\n"

    def whole(self) -> dict[str, Any]:
        if self.completion:
            choice: dict[str, Any] = {"index": 0, "text": self.text, "finish_reason": self.finish}
        else:
            message: dict[str, Any] = {"role": "assistant", "content": self.text or None}
            if self.reply.tool_calls:
                message["tool_calls"] = [
                    {
                        "id": f"call_{i}",
                        "type": "function",
                        "function": {"name": name, "arguments": args},
                    }
                    for i, (name, args) in enumerate(self.reply.tool_calls)
                ]
            choice = {"index": 0, "message": message, "finish_reason": self.finish}
        out: dict[str, Any] = {
            "id": "cmpl-scripted",
            "object": "text_completion" if self.completion else "chat.completion",
            "created": int(time.time()),
            "model": self.model,
            "choices": [choice],
        }
        if self.usage is not None:
            out["usage"] = self.usage
        return out


class ScriptedUpstream:
    """A loopback OpenAI-compatible server whose answers are scripted per request."""

    def __init__(
        self, *, default: Reply | None = None, record: bool = True, host: str = "127.0.0.1"
    ) -> None:
        self.default = default
        self.record = record
        self.host = host
        self.port = 0
        self._queue: deque[Reply] = deque()
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._complete, methods=["POST"]),
                Route("/v1/completions", self._complete, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
            ]
        )

    @property
    def base_url(self) -> str:
        """The URL to give a provider as `base_url`."""
        return f"http://{self.host}:{self.port}/v1"

    @property
    def requests(self) -> list[RecordedRequest]:
        """Snapshot of every completion request received so far."""
        with self._lock:
            return list(self._requests)

    def script(self, *replies: Reply) -> None:
        """Queue replies, consumed in order, one per completion request."""
        with self._lock:
            self._queue.extend(replies)

    def reset(self) -> None:
        """Forget queued replies and recorded requests."""
        with self._lock:
            self._queue.clear()
            self._requests.clear()

    def _next_reply(self) -> Reply | None:
        with self._lock:
            return self._queue.popleft() if self._queue else self.default

    async def _models(self, request: Request) -> Response:
        models = ["gpt-4o-mini", "gpt-4o", "gpt-3.5-turbo-instruct"]
        data = [{"id": m, "object": "model", "owned_by": "scripted"} for m in models]
        return Response(
            orjson.dumps({"object": "list", "data": data}), media_type="application/json"
        )

    async def _complete(self, request: Request) -> Response:
        body: dict[str, Any] = orjson.loads(await request.body() or b"{}")
        if self.record:
            recorded = RecordedRequest(
                request.url.path, {k.lower(): v for k, v in request.headers.items()}, body
            )
            with self._lock:
                self._requests.append(recorded)
        reply = self._next_reply() or Reply()
        if reply.hang:
            while not await request.is_disconnected():
                await asyncio.sleep(0.05)
            return Response(status_code=499)
        if reply.status >= 400:
            error = reply.error or {
                "message": f"Scripted failure {reply.status}",
                "type": "server_error",
                "code": None,
            }
            return Response(
                orjson.dumps({"error": error}),
                status_code=reply.status,
                media_type="application/json",
            )
        answer = _Answer(reply, body)
        if not body.get("stream"):
            if reply.delay_before_first:
                await asyncio.sleep(reply.delay_before_first)
            return Response(orjson.dumps(answer.whole()), media_type="application/json")
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return StreamingResponse(answer.events(include_usage), media_type="text/event-stream")

    def start(self) -> ScriptedUpstream:
        """Serve in a background thread on an ephemeral port; returns when listening."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            lifespan="off",
            access_log=False,
            timeout_keep_alive=75,
            timeout_graceful_shutdown=1,
            backlog=4096,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [sock]},
            daemon=True,
            name=f"scripted-upstream-{self.port}",
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("scripted upstream failed to start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Shut the server down and wait for its thread."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> ScriptedUpstream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    """Run the upstream in the foreground with a rate-mode default reply."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--tokens", type=int, default=100, help="chunks per answer")
    parser.add_argument("--tps", type=float, default=0.0, help="chunks per second (0: no delay)")
    parser.add_argument("--delay-first", type=float, default=0.0, help="seconds before first")
    args = parser.parse_args(argv)
    default = Reply(
        tokens=args.tokens, tokens_per_second=args.tps or None, delay_before_first=args.delay_first
    )
    upstream = ScriptedUpstream(default=default, record=False, host=args.host)
    uvicorn.run(
        upstream.app,
        host=args.host,
        port=args.port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_keep_alive=75,
        backlog=4096,
    )


if __name__ == "__main__":
    main()
