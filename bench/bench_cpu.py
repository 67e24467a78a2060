"""2. Server CPU time per streamed event, Headrace against the minimal relay.

A fixed number of streaming chats (`concurrency` at a time, each `tokens` tokens paced by the
upstream) goes through each server; the server's CPU time (utime + stime of the process,
from /proc/<pid>/stat, 10 ms ticks) over the run is divided by the SSE events the client
received (pings excluded; Headrace: one per token + message_end; relay: one per upstream
chunk + finish + usage + [DONE]). Headrace and relay runs alternate; medians are reported.
The per-event figure includes each stream's fixed cost (request, database rows), spread
over its events.
"""

from __future__ import annotations

from typing import Any

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
)
from bench.load import closed_loop
from bench.procs import Proc, Stack


def _measure(proc: Proc, upstream: Proc, target: Target, streams: int, conc: int) -> dict[str, Any]:
    cpu0, up0 = proc.cpu(), upstream.cpu()
    outcome = run_loop(closed_loop(target, concurrency=conc, requests=streams, sse=True))
    cpu = proc.cpu() - cpu0
    events = sum(r.events for r in outcome.results)
    return {
        "cpu_s": cpu,
        "upstream_cpu_s": upstream.cpu() - up0,
        "wall_s": outcome.seconds,
        "streams_ok": outcome.done,
        "errors": outcome.errors,
        "events": events,
        "us_per_event": cpu / events * 1e6 if events else float("nan"),
        "ms_per_stream": cpu / outcome.done * 1e3 if outcome.done else float("nan"),
        "utilisation": cpu / outcome.seconds if outcome.seconds else float("nan"),
        "error_samples": outcome.error_samples,
    }


def run(opts: Options) -> dict[str, Any]:
    tokens, tps = 200, 100.0
    conc = opts.size(50, 20, minimum=2)
    streams = opts.size(300, 60, minimum=conc)
    rounds = 1 if opts.quick else 3
    banner(
        "2. CPU per streamed event",
        f"{streams} streams per run, {conc} at a time, {tokens} tokens at {tps:g} tok/s each;"
        f" {rounds} alternating run(s) per server",
    )
    runs: dict[str, list[dict[str, Any]]] = {"relay": [], "headrace": []}
    with Stack(keep_logs=opts.keep_logs) as stack:
        upstream = stack.upstream(tokens=tokens, tps=tps)
        relay = stack.relay(upstream)
        headrace, setup = stack.headrace(upstream)
        targets = {
            "relay": (relay, relay_target(relay, "streaming")),
            "headrace": (headrace, headrace_target(headrace, setup, "streaming")),
        }
        for _proc, target in targets.values():  # warm up pools, caches, allocator
            run_loop(closed_loop(target, concurrency=conc, requests=conc, sse=True))
        for _ in range(rounds):
            for name, (proc, target) in targets.items():
                runs[name].append(_measure(proc, upstream, target, streams, conc))
    summary: dict[str, dict[str, float]] = {}
    for name, measured in runs.items():
        summary[name] = {
            key: median([m[key] for m in measured])
            for key in ("us_per_event", "ms_per_stream", "utilisation", "events", "errors")
        }
        summary[name]["upstream_us_per_event"] = median(
            [m["upstream_cpu_s"] / m["events"] * 1e6 for m in measured if m["events"]]
        )
    rows = [
        [
            name,
            s["us_per_event"],
            s["ms_per_stream"],
            f"{s['utilisation'] * 100:.0f}%",
            int(s["events"]),
            int(s["errors"]),
            s["upstream_us_per_event"],
        ]
        for name, s in summary.items()
    ]
    print(
        table(
            [
                "server",
                "CPU us/event",
                "CPU ms/stream",
                "server CPU",
                "events/run",
                "errors",
                "upstream us/event",
            ],
            rows,
        )
    )
    for name, measured in runs.items():
        samples = [e for m in measured for e in m["error_samples"]]
        if samples:
            print(f"{name} errors, e.g.: {samples[:3]}")
    r = ratio(summary["headrace"]["us_per_event"], summary["relay"]["us_per_event"])
    print(f"headrace/relay CPU per event: x{r:.2f}")
    return {"runs": runs, "summary": summary, "ratio_headrace_vs_relay": r}
