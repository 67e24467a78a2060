"""3. Concurrent paced streams held on this machine.

`streams` client slots start at `ramp` slots per second; each slot keeps one streaming chat
open at all times (a new one as soon as the last ended) until the hold window ends, then
every open stream is read to its end. The upstream paces each answer at 40 tokens/s, so a
stream should take tokens/40 seconds and the server should deliver streams x 40 events/s
in the window. Reported: streams completed / started, errors, events/s in the window
against that ideal, stream duration, TTFT and the largest gap between two reads of a stream,
and the CPU share of the server, the upstream and the load generator.
The same load runs against Headrace with one worker and with two (one per core), the minimal
relay, and straight against the upstream (`direct`, no server in between), to show what the
machine itself allows. Two verdicts: issue 3's target (every stream complete, zero errors,
all open at once) and a stricter one of this benchmark's own (at >= 95% of the ideal rate).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bench.client import Connection, Result
from bench.client import run as run_loop
from bench.common import (
    Options,
    Target,
    banner,
    direct_target,
    fmt,
    headrace_target,
    median,
    percentile,
    ratio,
    relay_target,
    table,
    verdict,
)
from bench.procs import HOST, Proc, Stack

TOKENS = 200
TPS = 40.0


@dataclass
class Held:
    results: list[Result] = field(default_factory=list)
    started: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    window_events: int = 0
    window_seconds: float = 0.0
    per_second: list[float] = field(default_factory=list)
    peak_open: int = 0
    open_at_close: int = 0
    cpu: dict[str, float] = field(default_factory=dict)
    unfinished: int = 0


async def hold(
    target: Target,
    procs: dict[str, Proc],
    *,
    streams: int,
    ramp: float,
    hold_seconds: float,
    drain_timeout: float,
) -> Held:
    out = Held()
    counter = [0]
    open_now = [0]
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    ramp_end = t0 + streams / ramp
    hold_end = ramp_end + hold_seconds
    stream_timeout = hold_seconds + streams / ramp + drain_timeout

    async def slot(i: int) -> None:
        await asyncio.sleep(i / ramp)
        conn = Connection(HOST, target.port)
        try:
            while loop.time() < hold_end:
                out.started += 1
                open_now[0] += 1
                out.peak_open = max(out.peak_open, open_now[0])
                try:
                    result = await conn.request(
                        "POST",
                        target.path,
                        target.body,
                        target.headers,
                        sse=True,
                        token_marker=target.token_marker,
                        timeout=stream_timeout,
                        counter=counter,
                    )
                except OSError as exc:
                    result = Result(error=f"connect: {exc.__class__.__name__}: {exc}")
                    await asyncio.sleep(0.05)
                finally:
                    open_now[0] -= 1
                out.results.append(result)
                problem = _problem(target, result)
                if problem:
                    out.errors[problem] += 1
        finally:
            conn.close()

    async def sampler() -> None:
        await asyncio.sleep(max(0.0, ramp_end - loop.time()))
        start_events, start = counter[0], time.perf_counter()
        cpu0 = {name: p.cpu() for name, p in procs.items()}
        client0 = time.process_time()
        last_events, last = start_events, start
        while loop.time() < hold_end:
            await asyncio.sleep(min(1.0, max(0.0, hold_end - loop.time())))
            now = time.perf_counter()
            out.per_second.append((counter[0] - last_events) / (now - last))
            last_events, last = counter[0], now
        out.window_events = counter[0] - start_events
        out.window_seconds = time.perf_counter() - start
        out.open_at_close = open_now[0]
        for name, p in procs.items():
            out.cpu[name] = (p.cpu() - cpu0[name]) / out.window_seconds
        out.cpu["load generator"] = (time.process_time() - client0) / out.window_seconds

    sample_task = asyncio.create_task(sampler())
    slots = [asyncio.create_task(slot(i)) for i in range(streams)]
    done, pending = await asyncio.wait(slots, timeout=stream_timeout + hold_seconds + 30)
    out.unfinished = len(pending)
    for task in pending:
        task.cancel()
    for task in done:
        if task.exception() is not None:
            out.errors[f"client: {task.exception()!r}"[:120]] += 1
    with contextlib.suppress(asyncio.CancelledError):
        await sample_task
    return out


def _problem(target: Target, result: Result) -> str | None:
    if result.error:
        return result.error[:80]
    if result.status != 200:
        return f"HTTP {result.status}"
    if not target.completed(result.last_event):
        return "stream ended without its final event"
    return None


def _summary(name: str, held: Held, streams: int) -> dict[str, Any]:
    good = [r for r in held.results if _problem_free(r, held)]
    ideal = streams * TPS
    rate = held.window_events / held.window_seconds if held.window_seconds else 0.0
    return {
        "server": name,
        "streams_started": held.started,
        "streams_ok": len(good),
        "errors": sum(held.errors.values()),
        "error_kinds": dict(held.errors.most_common(5)),
        "peak_open": held.peak_open,
        "open_at_window_end": held.open_at_close,
        "events_per_s": rate,
        "ideal_events_per_s": ideal,
        "share_of_ideal": rate / ideal if ideal else 0.0,
        "events_per_s_min_1s": min(held.per_second) if held.per_second else 0.0,
        "duration_p50_s": percentile([r.duration for r in good], 50),
        "duration_p99_s": percentile([r.duration for r in good], 99),
        "ttft_p50_ms": percentile([r.ttft * 1000 for r in good], 50),
        "ttft_p99_ms": percentile([r.ttft * 1000 for r in good], 99),
        "max_gap_p50_ms": percentile([r.max_gap * 1000 for r in good], 50),
        "max_gap_p99_ms": percentile([r.max_gap * 1000 for r in good], 99),
        "tokens_per_stream": median([r.token_events for r in good]),
        "cpu_share": held.cpu,
        # CPU seconds per delivered event, and the cores the ideal rate would need at that cost.
        "cpu_us_per_event": {
            k: v / rate * 1e6 if rate else float("nan") for k, v in held.cpu.items()
        },
        "cores_for_ideal": {
            k: v / rate * ideal if rate else float("nan") for k, v in held.cpu.items()
        },
        "unfinished_slots": held.unfinished,
    }


#: (name, worker processes): Headrace as a 2-core machine would run it, too.
CONFIGS = (("headrace", 1), ("headrace 2 workers", 2), ("relay", 1), ("direct", 0))


def _problem_free(result: Result, held: Held) -> bool:
    return not result.error and result.status == 200 and result.token_events >= TOKENS


def run(opts: Options) -> dict[str, Any]:
    streams = opts.size(1000, 100, minimum=2)
    ramp = 250.0 if not opts.quick else 100.0
    hold_seconds = opts.seconds(20, 5)
    banner(
        "3. concurrent 40 tok/s streams",
        f"{streams} streams ramped at {ramp:g}/s, held {hold_seconds:g} s after the ramp;"
        f" each answer {TOKENS} tokens at {TPS:g} tok/s (ideal {TOKENS / TPS:g} s per stream,"
        f" {streams * TPS:,.0f} events/s)",
    )
    summaries = []
    for name, workers in CONFIGS:
        with Stack(keep_logs=opts.keep_logs) as stack:
            upstream = stack.upstream(tokens=TOKENS, tps=TPS)
            procs = {"upstream": upstream}
            if name.startswith("headrace"):
                server, setup = stack.headrace(upstream, workers=workers)
                target = headrace_target(server, setup, "streaming")
                procs["server"] = server
            elif name == "relay":
                server = stack.relay(upstream)
                target = relay_target(server, "streaming")
                procs["server"] = server
            else:
                target = direct_target(upstream)
            held = run_loop(
                hold(
                    target,
                    procs,
                    streams=streams,
                    ramp=ramp,
                    hold_seconds=hold_seconds,
                    drain_timeout=120.0,
                )
            )
            summaries.append(_summary(name, held, streams))
    rows = []
    for s in summaries:
        cpu = s["cpu_share"]
        rows.append(
            [
                s["server"],
                f"{s['streams_ok']}/{s['streams_started']}",
                s["errors"],
                s["peak_open"],
                s["events_per_s"],
                f"{s['share_of_ideal'] * 100:.0f}%",
                s["duration_p50_s"],
                s["duration_p99_s"],
                s["ttft_p50_ms"],
                s["ttft_p99_ms"],
                s["max_gap_p99_ms"],
                "/".join(
                    f"{cpu[k] * 100:.0f}%" if k in cpu else "-"
                    for k in ("server", "upstream", "load generator")
                ),
            ]
        )
    print(
        table(
            [
                "server",
                "ok/started",
                "errors",
                "peak open",
                "events/s",
                "of ideal",
                "dur p50 s",
                "dur p99 s",
                "TTFT p50 ms",
                "TTFT p99 ms",
                "gap p99 ms",
                "CPU srv/up/gen",
            ],
            rows,
        )
    )
    print(
        "CPU per delivered event (us) and cores the ideal rate would need at that cost:"
        + "".join(
            f"\n  {s['server']}: "
            + ", ".join(
                f"{k} {s['cpu_us_per_event'][k]:.0f} us -> {s['cores_for_ideal'][k]:.1f} cores"
                for k in ("server", "upstream", "load generator")
                if k in s["cpu_us_per_event"]
            )
            for s in summaries
        )
    )
    for s in summaries:
        if s["error_kinds"]:
            print(f"{s['server']} errors: {s['error_kinds']}")
    by_name = {s["server"]: s for s in summaries}
    head, rel = by_name["headrace"], by_name["relay"]
    print(
        f"headrace/relay events/s: x{ratio(head['events_per_s'], rel['events_per_s']):.2f};"
        f" stream duration p50 x{ratio(head['duration_p50_s'], rel['duration_p50_s']):.2f}"
    )
    ours = [s for s in summaries if s["server"].startswith("headrace")]
    complete = [s for s in ours if s["errors"] == 0 and s["streams_ok"] == s["streams_started"]]
    print(
        verdict(
            bool(complete) and all(s["peak_open"] >= streams for s in complete),
            f"{streams} concurrent streams, zero errors, every stream complete (issue 3's"
            f" target; {', '.join(s['server'] for s in complete) or 'no configuration'})",
        )
    )
    best = max(ours, key=lambda s: s["share_of_ideal"])
    print(
        verdict(
            best in complete and best["share_of_ideal"] >= 0.95,
            f"and at full rate: >=95% of the ideal events/s (stricter than the issue; best"
            f" {fmt(best['share_of_ideal'] * 100, 0)}%, {best['server']})",
        )
    )
    return {"streams": streams, "ramp_per_s": ramp, "hold_s": hold_seconds, "runs": summaries}
