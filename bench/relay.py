"""The yardstick: the least a server can do to put a chat endpoint in front of the upstream.

`POST /v1/chat-messages` takes the same body as Headrace's, makes the same streaming
chat/completions call through one pooled aiohttp session (as Headrace's OpenAI adapter does;
until 2026-12-03 both used httpx) and

* `response_mode: streaming`: relays the upstream's SSE bytes as they come, untouched;
* otherwise: reads the stream, joins the `content` deltas and answers one JSON object.

No auth, no database, no event model, no persistence. Run under uvicorn with the same loop and
HTTP parser choices as `headrace serve` (uvloop + httptools when installed):
`python -m bench.relay --port 8100 --upstream http://127.0.0.1:9000/v1`.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import AsyncIterator

import aiohttp
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

UPSTREAM_ENV = "BENCH_RELAY_UPSTREAM"


class Relay:
    """Holds the pooled session; created lazily on the serving loop."""

    def __init__(self, upstream: str) -> None:
        self.url = upstream.rstrip("/") + "/chat/completions"
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=2000, keepalive_timeout=30.0),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=60.0, sock_read=60.0),
            )
        return self._session

    async def chat(self, request: Request) -> Response:
        payload = orjson.loads(await request.body())
        body = orjson.dumps(
            {
                "model": "gpt-4o-mini",
                "messages": [{"role": "user", "content": payload.get("query", "")}],
                "stream": True,
                "stream_options": {"include_usage": True},
            }
        )
        upstream = await self.session().post(
            self.url,
            data=body,
            headers={"Content-Type": "application/json", "Authorization": "Bearer sk-bench"},
        )
        if payload.get("response_mode") == "streaming":
            return StreamingResponse(_relay(upstream), media_type="text/event-stream")
        async with upstream:
            raw = await upstream.read()
        answer = []
        for line in raw.splitlines():
            if line.startswith(b"data: {"):
                choices = orjson.loads(line[6:]).get("choices") or [{}]
                text = (choices[0].get("delta") or {}).get("content")
                if text:
                    answer.append(text)
        return Response(
            orjson.dumps({"event": "message", "answer": "".join(answer)}),
            media_type="application/json",
        )


async def _relay(upstream: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    async with upstream:
        async for data in upstream.content.iter_any():
            yield data


def create_app(upstream: str | None = None) -> Starlette:
    relay = Relay(upstream or os.environ[UPSTREAM_ENV])
    return Starlette(routes=[Route("/v1/chat-messages", relay.chat, methods=["POST"])])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="minimal streaming relay (benchmark baseline)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--upstream", required=True, help="base URL ending in /v1")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    if args.workers > 1:
        os.environ[UPSTREAM_ENV] = args.upstream
        uvicorn.run(
            "bench.relay:create_app",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            log_level="warning",
            access_log=False,
        )
        return
    uvicorn.run(
        create_app(args.upstream),
        host=args.host,
        port=args.port,
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
