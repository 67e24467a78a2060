"""A scripted OpenAI-compatible upstream on loopback, for tests and benchmarks.

    with ScriptedUpstream() as up:
        up.script(Reply(text="Hello there"), Reply(status=429, error={...}))
        ...  # point a provider at up.base_url; inspect up.requests afterwards

Unscripted requests get the default reply: `Echo: <last user message>`.

`POST /v1/embeddings` answers with hashed bag-of-words vectors (`embedding_dims` wide, or the
request's `dimensions`; deliberately not normalised), so texts sharing words are close.
`POST /v1/rerank` scores each document by the share of query words it contains. Both have
their own script queues (`script_embeddings`, `script_rerank`) honouring `status`/`error`,
`hang`, `delay_before_first` and `usage` of a `Reply`.
Benchmarks run their own lean upstream in a process of its own (`bench/upstream.py`).
"""

from __future__ import annotations

import asyncio
import hashlib
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
_TERM = re.compile(r"[a-z0-9]+")


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
    """What the upstream received: path, lower-cased headers, the parsed JSON body, and the
    client's port (one per TCP connection, so reuse of a pooled connection shows)."""

    path: str
    headers: dict[str, str]
    json: dict[str, Any]
    client_port: int = 0


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


def _terms(text: str) -> list[str]:
    return _TERM.findall(text.lower())


def bag_of_words_vector(text: str, dims: int) -> list[float]:
    """Word counts hashed into `dims` signed buckets (stable across processes)."""
    vector = [0.0] * dims
    for term in _terms(text):
        digest = int.from_bytes(hashlib.blake2b(term.encode(), digest_size=8).digest(), "big")
        vector[digest % dims] += 1.0 if (digest >> 32) & 1 else -1.0
    return vector


def overlap_score(query: str, document: str) -> float:
    """Share of the query's distinct words found in the document (0 to 1)."""
    wanted = set(_terms(query))
    return len(wanted & set(_terms(document))) / len(wanted) if wanted else 0.0


def _document_text(document: Any) -> str:
    if isinstance(document, dict):
        return str(document.get("text") or "")
    return str(document)


def _error_response(reply: Reply) -> Response:
    error = reply.error or {
        "message": f"Scripted failure {reply.status}",
        "type": "server_error",
        "code": None,
    }
    return Response(
        orjson.dumps({"error": error}), status_code=reply.status, media_type="application/json"
    )


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
        self,
        *,
        default: Reply | None = None,
        record: bool = True,
        host: str = "127.0.0.1",
        embedding_dims: int = 64,
    ) -> None:
        self.default = default
        self.record = record
        self.host = host
        self.port = 0
        self.embedding_dims = embedding_dims
        self._queue: deque[Reply] = deque()
        self._embedding_queue: deque[Reply] = deque()
        self._rerank_queue: deque[Reply] = deque()
        self._requests: list[RecordedRequest] = []
        self._embedding_active = 0
        self._embedding_peak = 0
        self._lock = threading.Lock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._complete, methods=["POST"]),
                Route("/v1/completions", self._complete, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
                Route("/v1/embeddings", self._embeddings, methods=["POST"]),
                Route("/v1/rerank", self._rerank, methods=["POST"]),
            ]
        )

    @property
    def base_url(self) -> str:
        """The URL to give a provider as `base_url`."""
        return f"http://{self.host}:{self.port}/v1"

    @property
    def requests(self) -> list[RecordedRequest]:
        """Snapshot of every request received so far (completions, embeddings, rerank)."""
        with self._lock:
            return list(self._requests)

    def requests_for(self, path: str) -> list[RecordedRequest]:
        """The recorded requests to one path, e.g. `/v1/embeddings`."""
        return [r for r in self.requests if r.path == path]

    @property
    def embedding_peak(self) -> int:
        """Most embedding requests in flight at once since the last reset."""
        with self._lock:
            return self._embedding_peak

    def script(self, *replies: Reply) -> None:
        """Queue replies, consumed in order, one per completion request."""
        with self._lock:
            self._queue.extend(replies)

    def script_embeddings(self, *replies: Reply) -> None:
        """Queue replies, consumed in order, one per embeddings request."""
        with self._lock:
            self._embedding_queue.extend(replies)

    def script_rerank(self, *replies: Reply) -> None:
        """Queue replies, consumed in order, one per rerank request."""
        with self._lock:
            self._rerank_queue.extend(replies)

    def reset(self) -> None:
        """Forget queued replies, recorded requests and the embeddings peak."""
        with self._lock:
            self._queue.clear()
            self._embedding_queue.clear()
            self._rerank_queue.clear()
            self._requests.clear()
            self._embedding_peak = 0

    def _next_reply(self) -> Reply | None:
        with self._lock:
            return self._queue.popleft() if self._queue else self.default

    def _next_from(self, queue: deque[Reply]) -> Reply:
        with self._lock:
            return queue.popleft() if queue else Reply()

    async def _read(self, request: Request) -> dict[str, Any]:
        body: dict[str, Any] = orjson.loads(await request.body() or b"{}")
        if self.record:
            recorded = RecordedRequest(
                request.url.path,
                {k.lower(): v for k, v in request.headers.items()},
                body,
                request.client.port if request.client else 0,
            )
            with self._lock:
                self._requests.append(recorded)
        return body

    @staticmethod
    async def _hold(request: Request, reply: Reply) -> Response | None:
        """Apply a reply's hang, delay or error; None when a normal answer should follow."""
        if reply.hang:
            while not await request.is_disconnected():
                await asyncio.sleep(0.05)
            return Response(status_code=499)
        if reply.delay_before_first:
            await asyncio.sleep(reply.delay_before_first)
        return _error_response(reply) if reply.status >= 400 else None

    async def _embeddings(self, request: Request) -> Response:
        body = await self._read(request)
        with self._lock:
            self._embedding_active += 1
            self._embedding_peak = max(self._embedding_peak, self._embedding_active)
        try:
            reply = self._next_from(self._embedding_queue)
            held = await self._hold(request, reply)
            if held is not None:
                return held
            raw = body.get("input")
            texts = [raw] if isinstance(raw, str) else [str(t) for t in raw or []]
            dims = int(body.get("dimensions") or self.embedding_dims)
            data = [
                {"object": "embedding", "index": i, "embedding": bag_of_words_vector(t, dims)}
                for i, t in enumerate(texts)
            ]
            out: dict[str, Any] = {
                "object": "list",
                "data": data,
                "model": str(body.get("model") or "scripted"),
            }
            if reply.usage != "omit":
                tokens = reply.usage[0] if reply.usage else sum(_words(t) for t in texts)
                out["usage"] = {"prompt_tokens": tokens, "total_tokens": tokens}
            return Response(orjson.dumps(out), media_type="application/json")
        finally:
            with self._lock:
                self._embedding_active -= 1

    async def _rerank(self, request: Request) -> Response:
        body = await self._read(request)
        reply = self._next_from(self._rerank_queue)
        held = await self._hold(request, reply)
        if held is not None:
            return held
        query = str(body.get("query") or "")
        documents = [_document_text(d) for d in body.get("documents") or []]
        scored = [
            {"index": i, "relevance_score": overlap_score(query, d)}
            for i, d in enumerate(documents)
        ]
        scored.sort(key=lambda item: -float(item["relevance_score"]))
        top_n = body.get("top_n")
        if isinstance(top_n, int) and top_n >= 0:
            scored = scored[:top_n]
        out: dict[str, Any] = {"model": str(body.get("model") or "scripted"), "results": scored}
        if reply.usage != "omit":
            tokens = (
                reply.usage[0]
                if reply.usage
                else _words(query) * len(documents) + sum(_words(d) for d in documents)
            )
            out["usage"] = {"total_tokens": tokens}
        return Response(orjson.dumps(out), media_type="application/json")

    async def _models(self, request: Request) -> Response:
        models = ["gpt-4o-mini", "gpt-4o", "gpt-3.5-turbo-instruct"]
        data = [{"id": m, "object": "model", "owned_by": "scripted"} for m in models]
        return Response(
            orjson.dumps({"object": "list", "data": data}), media_type="application/json"
        )

    async def _complete(self, request: Request) -> Response:
        body = await self._read(request)
        reply = self._next_reply() or Reply()
        if reply.hang:
            while not await request.is_disconnected():
                await asyncio.sleep(0.05)
            return Response(status_code=499)
        if reply.status >= 400:
            return _error_response(reply)
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
