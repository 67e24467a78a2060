"""Async load generators (one client process, uvloop, bench/client.py connections).

Also a command line, so a whole load run can be timed from outside as one process:

    python -m bench.load --port 5001 --key app-... --mode blocking --requests 5000 --concurrency 32

prints one JSON line (requests, errors, seconds, req/s, latency percentiles).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson

from bench.client import Connection, Result, run
from bench.common import (
    HEADRACE_END,
    HEADRACE_TOKEN,
    UPSTREAM_END,
    UPSTREAM_TOKEN,
    Target,
    chat_body,
    percentile,
)
from bench.procs import HOST


def ok(target: Target, result: Result, sse: bool) -> bool:
    """Whether a response is a success: 200, no transport error, and (streams) complete."""
    if result.error or result.status != 200:
        return False
    if sse:
        return target.completed(result.last_event)
    return True


def describe_failure(result: Result) -> str:
    """A short text for a failed response."""
    if result.error:
        return result.error
    if result.status != 200:
        return f"status {result.status}: {result.body[:200]!r}"
    return (
        f"stream ended after {result.events} events without its final one;"
        f" last: {result.last_event[:160]!r}"
    )


async def one(
    conn: Connection,
    target: Target,
    *,
    sse: bool,
    collect: bool = False,
    timeout: float = 120,
    body: bytes | None = None,
) -> Result:
    return await conn.request(
        "POST",
        target.path,
        target.body if body is None else body,
        target.headers,
        sse=sse,
        token_marker=target.token_marker,
        collect=collect,
        timeout=timeout,
    )


async def sequential(
    targets: list[Target], rounds: int, pause: float = 0.005
) -> dict[str, list[Result]]:
    """`rounds` streaming requests per target, one at a time, the targets interleaved
    (rotating who goes first) so drift in machine speed hits all of them alike."""
    conns = {t.name: Connection(HOST, t.port) for t in targets}
    out: dict[str, list[Result]] = {t.name: [] for t in targets}
    try:
        for i in range(rounds):
            order = targets[i % len(targets) :] + targets[: i % len(targets)]
            for target in order:
                result = await one(conns[target.name], target, sse=True)
                out[target.name].append(result)
                if pause:
                    await asyncio.sleep(pause)
    finally:
        for conn in conns.values():
            conn.close()
    return out


class Conversation:
    """One connection's conversation: the body of its next request (continuing the previous
    answer's conversation while `target.turns` allows), fed with each result."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.fields = orjson.loads(target.body)
        self.conversation_id: str | None = None
        self.turn = 0

    def body(self) -> bytes | None:
        if self.conversation_id is None:
            return None
        return orjson.dumps({**self.fields, "conversation_id": self.conversation_id})

    def answered(self, result: Result) -> None:
        self.turn += 1
        if self.target.turns <= 1 or self.turn % self.target.turns == 0 or result.status != 200:
            self.conversation_id = None
        elif self.conversation_id is None and result.body:
            self.conversation_id = orjson.loads(result.body).get("conversation_id")


@dataclass
class ClosedLoop:
    """Outcome of a closed-loop run: every result inside the measured window."""

    results: list[Result] = field(default_factory=list)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def done(self) -> int:
        return len(self.results)

    @property
    def rate(self) -> float:
        return self.done / self.seconds if self.seconds else 0.0

    def latency_ms(self, q: float) -> float:
        return percentile([r.duration * 1000 for r in self.results], q)


async def closed_loop(
    target: Target,
    *,
    concurrency: int,
    duration: float | None = None,
    requests: int | None = None,
    warmup: float = 0.0,
    sse: bool = False,
    on_window: Callable[[bool], None] | None = None,
) -> ClosedLoop:
    """`concurrency` keep-alive connections each sending back-to-back requests, either for
    `duration` seconds after `warmup` seconds, or until `requests` responses in total.
    `on_window(True)` / `on_window(False)` run when the measured window opens and closes."""
    out = ClosedLoop()
    began = time.perf_counter()
    t_open = began + warmup
    t_close = t_open + duration if duration is not None else float("inf")
    budget = [requests if requests is not None else -1]

    async def worker() -> None:
        conn = Connection(HOST, target.port)
        conversation = Conversation(target)
        try:
            while time.perf_counter() < t_close and budget[0] != 0:
                if budget[0] > 0:
                    budget[0] -= 1
                result = await one(
                    conn, target, sse=sse, collect=not sse, timeout=60, body=conversation.body()
                )
                conversation.answered(result)
                if result.started < t_open:
                    continue
                if ok(target, result, sse):
                    out.results.append(result)
                else:
                    out.errors += 1
                    if len(out.error_samples) < 5:
                        out.error_samples.append(describe_failure(result))
        finally:
            conn.close()

    async def clock() -> None:
        await asyncio.sleep(max(0.0, t_open - time.perf_counter()))
        if on_window:
            on_window(True)
        if duration is not None:
            await asyncio.sleep(max(0.0, t_close - time.perf_counter()))
            if on_window:
                on_window(False)

    clock_task = asyncio.create_task(clock())
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    ended = time.perf_counter()
    if duration is None:
        await clock_task
        if on_window:
            on_window(False)
        out.seconds = ended - t_open
    else:
        out.seconds = t_close - t_open
        clock_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await clock_task
    return out


def _target_from_args(args: argparse.Namespace) -> Target:
    mode = args.mode
    if args.kind == "headrace":
        headers = {"authorization": f"Bearer {args.key}", "content-type": "application/json"}
        token, end = HEADRACE_TOKEN, HEADRACE_END
    else:
        headers = {"content-type": "application/json"}
        token, end = UPSTREAM_TOKEN, UPSTREAM_END
    return Target(
        args.kind,
        args.port,
        "/v1/chat-messages",
        headers,
        chat_body(mode),
        token,
        end if mode == "streaming" else b"",
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="fixed-size chat load against one server")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--key", default="", help="app key (Headrace); empty for the relay")
    parser.add_argument("--kind", choices=["headrace", "relay"], default="headrace")
    parser.add_argument("--mode", choices=["blocking", "streaming"], default="blocking")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args(argv)
    if args.kind == "headrace" and not args.key:
        parser.error("--key is required for --kind headrace")
    target = _target_from_args(args)

    async def go() -> ClosedLoop:
        return await closed_loop(
            target,
            concurrency=args.concurrency,
            requests=args.requests,
            sse=args.mode == "streaming",
        )

    result = run(go())
    print(
        orjson.dumps(
            {
                "requests": result.done,
                "errors": result.errors,
                "seconds": round(result.seconds, 3),
                "req_per_s": round(result.rate, 1),
                "p50_ms": round(result.latency_ms(50), 2),
                "p99_ms": round(result.latency_ms(99), 2),
            }
        ).decode()
    )


if __name__ == "__main__":
    main()
