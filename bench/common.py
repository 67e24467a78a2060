"""Shared pieces of the benchmarks: options, request targets, statistics and table output."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from bench.procs import HOST, HeadraceSetup, Proc

HEADRACE_TOKEN = b'"event":"message"'
UPSTREAM_TOKEN = b'"content"'
HEADRACE_END = b'"event":"message_end"'
UPSTREAM_END = b"data: [DONE]"


@dataclass
class Options:
    """What `python -m bench.run` was asked for."""

    quick: bool = False
    pg_url: str | None = None
    keep_logs: bool = False
    #: Multiplies the size knobs (streams, requests, durations) of every benchmark.
    scale: float = 1.0
    results: dict[str, Any] = field(default_factory=dict)

    def size(self, full: float, quick: float, minimum: float = 1) -> int:
        """A count for this run: `full`, or `quick` under --quick, times --scale."""
        base = quick if self.quick else full
        return max(int(minimum), round(base * self.scale))

    def seconds(self, full: float, quick: float) -> float:
        base = quick if self.quick else full
        return max(0.5, base * self.scale)


@dataclass(frozen=True)
class Target:
    """Where and how to send a chat request, and how to recognise its tokens and its end."""

    name: str
    port: int
    path: str
    headers: dict[str, str]
    body: bytes
    token_marker: bytes
    end_marker: bytes
    #: Turns per conversation: 1 opens a new conversation with every request; more continue
    #: the conversation of the previous answer (blocking chats) until that many turns.
    turns: int = 1

    def completed(self, last_event: bytes) -> bool:
        return self.end_marker in last_event


def chat_body(mode: str, *, query: str = "Tell me about rivers.", auto_name: bool = False) -> bytes:
    """A Service API chat body (a new conversation each time)."""
    return orjson.dumps(
        {
            "inputs": {},
            "query": query,
            "response_mode": mode,
            "user": "bench-user",
            "auto_generate_name": auto_name,
        }
    )


def headrace_target(
    proc: Proc,
    setup: HeadraceSetup,
    mode: str,
    *,
    auto_name: bool = False,
    name: str = "",
    turns: int = 1,
) -> Target:
    return Target(
        name or proc.name,
        proc.port,
        "/v1/chat-messages",
        {"authorization": f"Bearer {setup.key}", "content-type": "application/json"},
        chat_body(mode, auto_name=auto_name),
        HEADRACE_TOKEN,
        HEADRACE_END if mode == "streaming" else b"",
        turns,
    )


def relay_target(proc: Proc, mode: str, name: str = "") -> Target:
    return Target(
        name or proc.name,
        proc.port,
        "/v1/chat-messages",
        {"content-type": "application/json"},
        chat_body(mode),
        UPSTREAM_TOKEN,
        UPSTREAM_END if mode == "streaming" else b"",
    )


def direct_target(upstream: Proc, name: str = "direct") -> Target:
    """A streaming client talking straight to the upstream (what Headrace itself sends)."""
    body = orjson.dumps(
        {
            "model": "gpt-4o-mini",
            "messages": [
                {"role": "system", "content": "You are a benchmark assistant for ."},
                {"role": "user", "content": "Tell me about rivers."},
            ],
            "temperature": 0.1,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
    )
    headers = {"content-type": "application/json", "authorization": "Bearer sk-bench"}
    return Target(
        name, upstream.port, "/v1/chat/completions", headers, body, UPSTREAM_TOKEN, UPSTREAM_END
    )


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


def ratio(a: float, b: float) -> float:
    return a / b if b else math.nan


def fmt(value: float | int | str | None, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return f"{value:,}"
    if math.isnan(value):
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table, columns right-aligned except the first."""
    cells = [[str(h) for h in headers]] + [
        [c if isinstance(c, str) else fmt(c) for c in row]  # type: ignore[arg-type]
        for row in rows
    ]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for n, row in enumerate(cells):
        parts = [
            row[i].ljust(widths[i]) if i == 0 else row[i].rjust(widths[i]) for i in range(len(row))
        ]
        lines.append("  ".join(parts).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def banner(title: str, detail: str = "") -> None:
    print()
    print(f"== {title} ==", flush=True)
    if detail:
        print(detail, flush=True)


def verdict(ok: bool, what: str) -> str:
    return f"target {what}: {'MET' if ok else 'MISSED'}"


def machine_line() -> str:
    """Date, cores, load average: printed at the top of a run."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    load = os.getloadavg()
    return (
        f"{stamp}  cores={os.cpu_count()}  loadavg={load[0]:.2f},{load[1]:.2f},{load[2]:.2f}"
        f"  host={HOST}"
    )
