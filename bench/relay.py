"""The yardstick: the least a server can do to put a chat endpoint in front of the upstream.

`POST /v1/chat-messages` takes the same body as Headrace's, makes the same streaming
chat/completions call through one pooled httpx client (as Headrace's OpenAI adapter does) and

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

import httpx
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

UPSTREAM_ENV = "BENCH_RELAY_UPSTREAM"


class Relay:
    """Holds the pooled client; created lazily on the serving loop."""

    def __init__(self, upstream: str) -> None:
        self.url = upstream.rstrip("/") + "/chat/completions"
        self._client: httpx.AsyncClient | None = None

    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(60.0),
                limits=httpx.Limits(max_connections=2000, max_keepalive_connections=2000),
            )
        return self._client

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
        client = self.client()
        upstream = await client.send(
            client.build_request(
                "POST",
                self.url,
                content=body,
                headers={"Content-Type": "application/json", "Authorization": "Bearer sk-bench"},
            ),
            stream=True,
        )
        if payload.get("response_mode") == "streaming":
            return StreamingResponse(_relay(upstream), media_type="text/event-stream")
        raw = await upstream.aread()
        await upstream.aclose()
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


async def _relay(upstream: httpx.Response) -> AsyncIterator[bytes]:
    try:
        async for data in upstream.aiter_raw():
            yield data
    finally:
        await upstream.aclose()


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
