"""1. Added time-to-first-token of a streaming chat.

One client sends streaming requests one at a time, interleaving three targets in rotating
order: the upstream itself (`direct`, the same chat/completions body Headrace sends), the
minimal relay, and Headrace (`POST /v1/chat-messages`, a new conversation each time). TTFT is
from writing the request to reading the first event that carries a token (Headrace's leading
`ping` frame does not count). Added TTFT = target percentile minus the direct percentile.
"headers" is the time to the response head: Headrace sends it only once the turn's rows are
written, so it shows how much of the TTFT is spent before the upstream call.
"""

from __future__ import annotations

from typing import Any

from bench.client import run as run_loop
from bench.common import (
    Options,
    banner,
    direct_target,
    headrace_target,
    percentile,
    ratio,
    relay_target,
    table,
    verdict,
)
from bench.load import ok, sequential
from bench.procs import Stack

NAME = "ttft"
TARGET_ADDED_P50_MS = 5.0


def run(opts: Options) -> dict[str, Any]:
    rounds = opts.size(400, 60, minimum=10)
    warmup = opts.size(40, 15, minimum=5)
    tokens = 20
    banner(
        "1. added time-to-first-token (streaming chat)",
        f"{rounds} sequential requests per target, interleaved, after {warmup} warm-up rounds;"
        f" upstream: {tokens} tokens, no delay",
    )
    with Stack(keep_logs=opts.keep_logs) as stack:
        upstream = stack.upstream(tokens=tokens, tps=0)
        relay = stack.relay(upstream)
        headrace, setup = stack.headrace(upstream)
        targets = [
            direct_target(upstream),
            relay_target(relay, "streaming"),
            headrace_target(headrace, setup, "streaming"),
        ]
        run_loop(sequential(targets, warmup))
        measured = run_loop(sequential(targets, rounds))
    ms: dict[str, list[float]] = {}
    head_ms: dict[str, float] = {}
    failures: dict[str, int] = {}
    for target in targets:
        results = measured[target.name]
        good = [r for r in results if ok(target, r, sse=True) and r.first_token_at]
        failures[target.name] = len(results) - len(good)
        ms[target.name] = [r.ttft * 1000 for r in good]
        head_ms[target.name] = percentile([(r.head_at - r.started) * 1000 for r in good], 50)
    stats = {name: {q: percentile(values, q) for q in (50, 90, 99)} for name, values in ms.items()}
    direct = stats["direct"]
    rows = []
    for name in ("direct", "relay", "headrace"):
        s = stats[name]
        rows.append(
            [
                name,
                s[50],
                s[90],
                s[99],
                s[50] - direct[50] if name != "direct" else "-",
                s[99] - direct[99] if name != "direct" else "-",
                head_ms[name],
                failures[name],
            ]
        )
    print(
        table(
            [
                "target",
                "p50 ms",
                "p90 ms",
                "p99 ms",
                "added p50",
                "added p99",
                "headers p50 ms",
                "errors",
            ],
            rows,
        )
    )
    added_h50 = stats["headrace"][50] - direct[50]
    added_h99 = stats["headrace"][99] - direct[99]
    added_r50 = stats["relay"][50] - direct[50]
    added_r99 = stats["relay"][99] - direct[99]
    print(
        f"headrace/relay added TTFT: p50 x{ratio(added_h50, added_r50):.2f}, "
        f"p99 x{ratio(added_h99, added_r99):.2f};  "
        f"headrace/relay TTFT: p50 x{ratio(stats['headrace'][50], stats['relay'][50]):.2f}"
    )
    print(verdict(added_h50 <= TARGET_ADDED_P50_MS, f"added TTFT p50 <= {TARGET_ADDED_P50_MS} ms"))
    return {
        "rounds": rounds,
        "ttft_ms": stats,
        "headers_p50_ms": head_ms,
        "errors": failures,
        "added_ms": {
            "headrace_p50": added_h50,
            "headrace_p99": added_h99,
            "relay_p50": added_r50,
            "relay_p99": added_r99,
        },
        "ratio_added_p50_headrace_vs_relay": ratio(added_h50, added_r50),
    }
