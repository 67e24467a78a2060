"""5. Blocking chat requests per second with persistence on.

`concurrency` keep-alive client connections send `response_mode: blocking` chats back to back
(each a new conversation, `auto_generate_name: false` unless noted) for `duration` seconds
after a warm-up; the upstream answers 8 tokens at once. Each configuration runs on its own,
started fresh: the minimal relay (same upstream call, no persistence) with 1 and 2 workers,
Headrace on SQLite (the default) with 1 and 2 workers, Headrace with the default
`auto_generate_name` (a second upstream call per new conversation, for its title), Headrace
with each connection continuing its conversation for 10 turns ("continued": the conversation
and its history are read first, and the prompt grows), and, with `--pg`, Headrace on a fresh
PostgreSQL database with 1 and 2 workers and continued.
Reported: req/s, latency percentiles, errors, and the server's CPU milliseconds per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import make_url

from bench.client import run as run_loop
from bench.common import (
    Options,
    banner,
    headrace_target,
    ratio,
    relay_target,
    table,
    verdict,
)
from bench.load import closed_loop
from bench.procs import Proc, Stack

TARGET_RPS = 1000.0
#: Turns per conversation in the "continued" configurations (the others open one per chat).
CONTINUED_TURNS = 10


@dataclass(frozen=True)
class Config:
    name: str
    kind: str  # "relay" | "headrace"
    workers: int = 1
    database: str = "sqlite"
    auto_name: bool = False
    turns: int = 1


@contextlib.contextmanager
def fresh_pg_database(url: str) -> Iterator[str]:
    """Create an empty database on the server of `url`; yield its URL; drop it afterwards."""
    import asyncpg  # type: ignore[import-untyped]

    parsed = make_url(url)
    admin = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"headrace_bench_{uuid.uuid4().hex[:10]}"

    async def execute(sql: str) -> None:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(execute(f'CREATE DATABASE "{name}"'))
    try:
        yield parsed.set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _measure(
    proc: Proc, upstream: Proc, target: Any, conc: int, duration: float, warmup: float
) -> dict[str, Any]:
    marks: dict[str, float] = {}

    def window(opening: bool) -> None:
        key = "open" if opening else "close"
        marks[f"{key}_cpu"] = proc.cpu()
        marks[f"{key}_up"] = upstream.cpu()

    outcome = run_loop(
        closed_loop(target, concurrency=conc, duration=duration, warmup=warmup, on_window=window)
    )
    cpu = marks.get("close_cpu", 0.0) - marks.get("open_cpu", 0.0)
    up = marks.get("close_up", 0.0) - marks.get("open_up", 0.0)
    return {
        "requests": outcome.done,
        "errors": outcome.errors,
        "error_samples": outcome.error_samples,
        "seconds": outcome.seconds,
        "req_per_s": outcome.rate,
        "p50_ms": outcome.latency_ms(50),
        "p90_ms": outcome.latency_ms(90),
        "p99_ms": outcome.latency_ms(99),
        "server_cpu_ms_per_req": cpu / outcome.done * 1000 if outcome.done else float("nan"),
        "server_cpu_share": cpu / outcome.seconds if outcome.seconds else float("nan"),
        "upstream_cpu_share": up / outcome.seconds if outcome.seconds else float("nan"),
    }


def run(opts: Options) -> dict[str, Any]:
    conc = opts.size(32, 16, minimum=1)
    duration = opts.seconds(10, 3)
    warmup = 2.0 if not opts.quick else 1.0
    configs = [
        Config("relay", "relay"),
        Config("headrace sqlite", "headrace"),
        Config("relay 2 workers", "relay", workers=2),
        Config("headrace sqlite 2 workers", "headrace", workers=2),
        Config("headrace sqlite auto-name", "headrace", auto_name=True),
        Config("headrace sqlite continued", "headrace", turns=CONTINUED_TURNS),
    ]
    if opts.pg_url:
        configs += [
            Config("headrace postgres", "headrace", database="postgres"),
            Config("headrace postgres 2 workers", "headrace", workers=2, database="postgres"),
            Config(
                "headrace postgres continued",
                "headrace",
                database="postgres",
                turns=CONTINUED_TURNS,
            ),
        ]
    banner(
        "5. blocking chat requests/s (persistence on)",
        f"{conc} connections, {duration:g} s measured after {warmup:g} s warm-up per"
        " configuration; upstream: 8 tokens, no delay",
    )
    out: dict[str, dict[str, Any]] = {}
    with Stack(keep_logs=opts.keep_logs) as stack:
        upstream = stack.upstream(tokens=8, tps=0)
        for config in configs:
            with contextlib.ExitStack() as scope:
                if config.kind == "relay":
                    server = stack.relay(upstream, workers=config.workers, name=_slug(config))
                    scope.callback(server.stop)
                    target = relay_target(server, "blocking")
                else:
                    url = None
                    if config.database == "postgres":
                        assert opts.pg_url
                        url = scope.enter_context(fresh_pg_database(opts.pg_url))
                    server, setup = stack.headrace(
                        upstream, workers=config.workers, database_url=url, name=_slug(config)
                    )
                    scope.callback(server.stop)
                    target = headrace_target(
                        server, setup, "blocking", auto_name=config.auto_name, turns=config.turns
                    )
                out[config.name] = _measure(server, upstream, target, conc, duration, warmup)
                out[config.name]["workers"] = config.workers
    base = out["relay"]["req_per_s"]
    rows = [
        [
            name,
            m["req_per_s"],
            f"x{ratio(m['req_per_s'], base):.2f}",
            m["p50_ms"],
            m["p99_ms"],
            m["errors"],
            m["server_cpu_ms_per_req"],
            f"{m['server_cpu_share'] * 100:.0f}%",
            f"{m['upstream_cpu_share'] * 100:.0f}%",
        ]
        for name, m in out.items()
    ]
    print(
        table(
            [
                "configuration",
                "req/s",
                "vs relay",
                "p50 ms",
                "p99 ms",
                "errors",
                "srv CPU ms/req",
                "srv CPU",
                "upstream CPU",
            ],
            rows,
        )
    )
    for name, m in out.items():
        if m["error_samples"]:
            print(f"{name} errors, e.g.: {m['error_samples'][:2]}")
    best = max(m["req_per_s"] for n, m in out.items() if n.startswith("headrace"))
    print(verdict(best >= TARGET_RPS, f">= {TARGET_RPS:,.0f} blocking req/s (best: {best:,.0f})"))
    return {"concurrency": conc, "duration_s": duration, "configs": out}


def _slug(config: Config) -> str:
    return config.name.replace(" ", "-")
