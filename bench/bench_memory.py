"""4. Server memory per open stream.

The upstream is slow (one token every 5 s), so streams stay open and nearly idle. After
`warm` streams are open (pools, caches and the allocator warmed up), the server's RSS is the
baseline; then `streams` more are opened in two halves, each measured once every new stream
has delivered its first token and the process has settled. Per-stream memory is
(RSS at N - baseline) / N; the marginal figure is the slope between the two halves.
RSS comes from /proc/<pid>/statm (resident pages), the median of several samples.
Then all streams stay open `grow` seconds more: the RSS growth divided by the tokens streamed
meanwhile is what the server keeps per streamed token ("KiB/token"; the relay keeps nothing,
so its figure is noise). "tokens held" is the median tokens each stream had got at N.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.client import Connection, Result
from bench.client import run as run_loop
from bench.common import (
    Options,
    Target,
    banner,
    headrace_target,
    median,
    ratio,
    relay_target,
    table,
    verdict,
)
from bench.procs import HOST, Proc, Stack

TARGET_KIB = 64.0
KIB = 1024.0


class Opened:
    """Streams held open by the client until `close()`."""

    def __init__(self) -> None:
        self.conns: list[Connection] = []
        self.results: list[Result] = []
        self.tasks: list[asyncio.Task[Result]] = []

    async def open(self, target: Target, count: int, rate: float, timeout: float) -> int:
        """Open `count` streams at `rate` per second; wait for each one's first token.
        Returns how many got one within `timeout` seconds."""
        fresh: list[Result] = []
        for i in range(count):
            conn = Connection(HOST, target.port)
            result = Result()
            self.conns.append(conn)
            self.results.append(result)
            fresh.append(result)
            self.tasks.append(
                asyncio.create_task(
                    conn.request(
                        "POST",
                        target.path,
                        target.body,
                        target.headers,
                        sse=True,
                        token_marker=target.token_marker,
                        result=result,
                    )
                )
            )
            if i % 20 == 19:
                await asyncio.sleep(20 / rate)
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if all(r.first_token_at or r.error for r in fresh):
                break
            await asyncio.sleep(0.1)
        return sum(1 for r in fresh if r.first_token_at and not r.error)

    async def close(self) -> None:
        for conn in self.conns:
            conn.close()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def _settled_rss(proc: Proc, samples: int = 5) -> float:
    await asyncio.sleep(2.0)
    values = []
    for _ in range(samples):
        values.append(float(proc.worker_rss()))
        await asyncio.sleep(0.5)
    return median(values)


async def measure(
    proc: Proc, target: Target, warm: int, streams: int, grow: float
) -> dict[str, Any]:
    held = Opened()
    try:
        warm_ok = await held.open(target, warm, rate=200, timeout=60)
        base = await _settled_rss(proc)
        half = streams // 2
        half_ok = await held.open(target, half, rate=200, timeout=120)
        rss_half = await _settled_rss(proc)
        rest_ok = await held.open(target, streams - half, rate=200, timeout=120)
        tokens_before = sum(r.token_events for r in held.results)
        rss_full = await _settled_rss(proc)
        tokens_at_full = [r.token_events for r in held.results[warm:]]
        # Let every stream take a few more tokens: what the server keeps per token shows up.
        await asyncio.sleep(grow)
        rss_grown = await _settled_rss(proc)
        tokens_after = sum(r.token_events for r in held.results)
        proc.check_alive()
    finally:
        await held.close()
    opened = half_ok + rest_ok
    more_tokens = tokens_after - tokens_before
    return {
        "warm_streams": warm_ok,
        "streams_open": opened,
        "streams_asked": streams,
        "baseline_rss_mib": base / KIB / KIB,
        "half_rss_mib": rss_half / KIB / KIB,
        "full_rss_mib": rss_full / KIB / KIB,
        "kib_per_stream": (rss_full - base) / KIB / max(1, opened),
        "marginal_kib_per_stream": (rss_full - rss_half) / KIB / max(1, rest_ok),
        "tokens_per_stream_at_n": median([float(t) for t in tokens_at_full]),
        "grown_rss_mib": rss_grown / KIB / KIB,
        "tokens_added_while_growing": more_tokens,
        "kib_per_streamed_token": (rss_grown - rss_full) / KIB / more_tokens
        if more_tokens
        else float("nan"),
    }


def run(opts: Options) -> dict[str, Any]:
    streams = opts.size(1000, 200, minimum=10)
    warm = 50 if not opts.quick else 20
    grow = opts.seconds(30, 15)
    banner(
        "4. memory per open stream",
        f"{warm} warm-up streams, then {streams} more in two halves; upstream sends one token"
        " every 5 s",
    )
    out: dict[str, dict[str, Any]] = {}
    for name in ("headrace", "relay"):
        with Stack(keep_logs=opts.keep_logs) as stack:
            upstream = stack.upstream(tokens=100, tps=0.2)
            if name == "headrace":
                server, setup = stack.headrace(upstream)
                target = headrace_target(server, setup, "streaming")
            else:
                server = stack.relay(upstream)
                target = relay_target(server, "streaming")
            out[name] = run_loop(measure(server, target, warm, streams, grow))
    rows = [
        [
            name,
            f"{m['streams_open']}/{m['streams_asked']}",
            m["baseline_rss_mib"],
            m["half_rss_mib"],
            m["full_rss_mib"],
            m["kib_per_stream"],
            m["marginal_kib_per_stream"],
            m["tokens_per_stream_at_n"],
            m["kib_per_streamed_token"],
        ]
        for name, m in out.items()
    ]
    print(
        table(
            [
                "server",
                "open",
                "base MiB",
                "at N/2 MiB",
                "at N MiB",
                "KiB/stream",
                "marginal KiB",
                "tokens held",
                "KiB/token",
            ],
            rows,
        )
    )
    head = out["headrace"]["kib_per_stream"]
    r = ratio(head, out["relay"]["kib_per_stream"])
    print(f"headrace/relay memory per stream: x{r:.2f}")
    print(verdict(head <= TARGET_KIB, f"<= {TARGET_KIB:g} KiB per open stream"))
    return {"streams": streams, "warm": warm, "servers": out, "ratio_headrace_vs_relay": r}
