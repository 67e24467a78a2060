"""The benchmarks' OpenAI-compatible upstream: as little CPU per request as HTTP allows.

`tests/support/upstream.py` is the scriptable upstream the test suite drives (a Starlette app
under uvicorn). Under load it spends about 0.6 ms of CPU per answer, on the same two cores as
the server being measured, and that is harness cost, not the server's. This one answers the
same wire format from a bare asyncio protocol with httptools' parser: `POST …/chat/completions`
and `POST …/completions`, streamed (SSE over chunked encoding, `stream_options.include_usage`
honoured) or whole; `GET …/models`. Every answer is `--tokens` pieces of `"tok "`, paced at
`--tps` chunks per second (0: all at once) after `--delay-first` seconds. Usage counts the
prompt's words, as the scripted upstream does.

    python -m bench.upstream --port 9000 --tokens 8 --tps 0
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from typing import Any, cast

import httptools
import orjson

PIECE = "tok "
SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
    b"transfer-encoding: chunked\r\ncache-control: no-cache\r\n\r\n"
)


def _words(value: Any) -> int:
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, list):
        return sum(_words(part) for part in value)
    if isinstance(value, dict):
        return _words(value.get("content") or value.get("text"))
    return 0


def _chunk(payload: bytes) -> bytes:
    """One piece of a chunked body."""
    return b"%x\r\n%s\r\n" % (len(payload), payload)


def _whole(status: int, body: bytes, content_type: bytes = b"application/json") -> bytes:
    reason = b"OK" if status == 200 else b"Not Found"
    return b"HTTP/1.1 %d %s\r\ncontent-type: %s\r\ncontent-length: %d\r\n\r\n%s" % (
        status,
        reason,
        content_type,
        len(body),
        body,
    )


class Answers:
    """Renders answers; the token frames of each (model, kind) are rendered once."""

    def __init__(self, tokens: int, tps: float, delay_first: float) -> None:
        self.tokens = tokens
        self.gap = 1.0 / tps if tps > 0 else 0.0
        self.delay_first = delay_first
        self._frames: dict[tuple[str, bool], list[bytes]] = {}

    def _base(self, model: str, completion: bool) -> dict[str, Any]:
        kind = "text_completion" if completion else "chat.completion.chunk"
        return {"id": "cmpl-bench", "object": kind, "created": int(time.time()), "model": model}

    def frames(self, model: str, completion: bool) -> list[bytes]:
        """The SSE frames of the token pieces and the finish chunk, chunk-encoded."""
        key = (model, completion)
        cached = self._frames.get(key)
        if cached is not None:
            return cached
        out = []
        for i in range(self.tokens + 1):
            last = i == self.tokens
            text = "" if last else PIECE
            finish = "stop" if last else None
            if completion:
                choice: dict[str, Any] = {"index": 0, "text": text, "finish_reason": finish}
            else:
                delta = {} if last else {"content": text}
                if i == 0 and not last:
                    delta["role"] = "assistant"
                choice = {"index": 0, "delta": delta, "finish_reason": finish}
            frame = b"data: " + orjson.dumps({**self._base(model, completion), "choices": [choice]})
            out.append(_chunk(frame + b"\n\n"))
        self._frames[key] = out
        return out

    def usage(self, body: dict[str, Any]) -> dict[str, int]:
        """Prompt words and answer pieces."""
        prompt = _words(body.get("messages")) + _words(body.get("prompt"))
        return {
            "prompt_tokens": prompt,
            "completion_tokens": self.tokens,
            "total_tokens": prompt + self.tokens,
        }

    def usage_frame(self, model: str, completion: bool, usage: dict[str, int]) -> bytes:
        """The trailing usage chunk, `[DONE]` and the end of the chunked body."""
        chunk = {**self._base(model, completion), "choices": [], "usage": usage}
        return _chunk(b"data: " + orjson.dumps(chunk) + b"\n\n")

    def whole(self, model: str, completion: bool, usage: dict[str, int]) -> bytes:
        """A non-streamed answer body."""
        text = PIECE * self.tokens
        if completion:
            choice: dict[str, Any] = {"index": 0, "text": text, "finish_reason": "stop"}
            kind = "text_completion"
        else:
            message = {"role": "assistant", "content": text}
            choice = {"index": 0, "message": message, "finish_reason": "stop"}
            kind = "chat.completion"
        body = {
            "id": "cmpl-bench",
            "object": kind,
            "created": int(time.time()),
            "model": model,
            "choices": [choice],
            "usage": usage,
        }
        return orjson.dumps(body)


DONE = _chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n"
MODELS = orjson.dumps({"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model"}]})


class Connection(asyncio.Protocol):
    """One keep-alive client connection; requests are answered in order."""

    def __init__(self, answers: Answers) -> None:
        self.answers = answers
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.body: list[bytes] = []
        self.busy: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self.transport is not None:
                self.transport.close()

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        url, raw = self.url, b"".join(self.body)
        self.url, self.body = b"", []
        method = self.parser.get_method()
        previous = self.busy
        if previous is None and not self.answers.gap and not self.answers.delay_first:
            self._answer_now(method, url, raw)
            return
        self.busy = asyncio.ensure_future(self._answer_later(previous, method, url, raw))

    def _send(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.write(data)

    def _route(self, method: bytes, url: bytes, raw: bytes) -> tuple[bytes, list[bytes], bytes]:
        """(head, paced frames, tail) of the answer to one request."""
        path = url.split(b"?", 1)[0]
        if method == b"GET" and path.endswith(b"/models"):
            return _whole(200, MODELS), [], b""
        if method != b"POST" or not path.endswith(b"completions"):
            return _whole(404, b'{"error": {"message": "not found"}}'), [], b""
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return _whole(404, b'{"error": {"message": "bad json"}}'), [], b""
        model = str(body.get("model") or "bench")
        completion = "prompt" in body
        usage = self.answers.usage(body)
        if not body.get("stream"):
            return _whole(200, self.answers.whole(model, completion, usage)), [], b""
        tail = DONE
        if (body.get("stream_options") or {}).get("include_usage"):
            tail = self.answers.usage_frame(model, completion, usage) + DONE
        return SSE_HEAD, self.answers.frames(model, completion), tail

    def _answer_now(self, method: bytes, url: bytes, raw: bytes) -> None:
        head, frames, tail = self._route(method, url, raw)
        self._send(head + b"".join(frames) + tail)

    async def _answer_later(
        self, previous: asyncio.Future[None] | None, method: bytes, url: bytes, raw: bytes
    ) -> None:
        if previous is not None:
            await previous
        head, frames, tail = self._route(method, url, raw)
        if not frames:
            self._send(head)
            return
        self._send(head)
        if self.answers.delay_first:
            await asyncio.sleep(self.answers.delay_first)
        start = time.monotonic()
        for i, frame in enumerate(frames[:-1]):
            if i and self.answers.gap:
                # Pace against the start so sleep overhead does not accumulate.
                await asyncio.sleep(max(0.0, start + i * self.answers.gap - time.monotonic()))
            if self.transport is None:
                return
            self._send(frame)
        self._send(frames[-1] + tail)


async def serve(host: str, port: int, answers: Answers) -> None:
    """Serve until cancelled."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Connection(answers), host, port, backlog=4096)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    """Run the upstream in the foreground."""
    parser = argparse.ArgumentParser(description="lean OpenAI-compatible upstream for benches")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--tokens", type=int, default=100, help="chunks per answer")
    parser.add_argument("--tps", type=float, default=0.0, help="chunks per second (0: no delay)")
    parser.add_argument("--delay-first", type=float, default=0.0, help="seconds before first")
    args = parser.parse_args(argv)
    answers = Answers(args.tokens, args.tps, args.delay_first)
    try:
        import uvloop

        factory = uvloop.new_event_loop
    except ImportError:
        factory = asyncio.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner, contextlib.suppress(KeyboardInterrupt):
        runner.run(serve(args.host, args.port, answers))


if __name__ == "__main__":
    main()
