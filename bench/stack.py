"""Start the benchmark processes and leave them running, for profiling or outside timing.

    python -m bench.stack --tokens 8 --tps 0 [--workers 2] [--pg URL]

prints one JSON line with the ports, pids and the app key, then waits until interrupted
(Ctrl-C or SIGTERM) and stops everything it started. Example while it runs:

    python -m bench.load --port HEADRACE_PORT --key KEY --requests 3000 --concurrency 32
    py-spy record -p HEADRACE_PID -d 10 -o profile.svg
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from types import FrameType

import orjson

from bench.bench_blocking import fresh_pg_database
from bench.procs import Stack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="start upstream + headrace + relay and wait")
    parser.add_argument("--tokens", type=int, default=8, help="upstream tokens per answer")
    parser.add_argument("--tps", type=float, default=0.0, help="upstream tokens/s (0: burst)")
    parser.add_argument("--workers", type=int, default=1, help="headrace (and relay) workers")
    parser.add_argument("--pg", metavar="URL", help="run headrace on a fresh PostgreSQL db")
    parser.add_argument("--keep-logs", action="store_true")
    args = parser.parse_args(argv)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with Stack(keep_logs=args.keep_logs) as stack, contextlib.ExitStack() as scope:
        upstream = stack.upstream(tokens=args.tokens, tps=args.tps)
        relay = stack.relay(upstream, workers=args.workers)
        url = scope.enter_context(fresh_pg_database(args.pg)) if args.pg else None
        headrace, setup = stack.headrace(upstream, workers=args.workers, database_url=url)
        info = {
            "upstream": {"port": upstream.port, "pid": upstream.pid},
            "relay": {"port": relay.port, "pid": relay.pid, "workers": relay.pids()[1:]},
            "headrace": {
                "port": headrace.port,
                "pid": headrace.pid,
                "workers": headrace.pids()[1:],
                "key": setup.key,
                "app_id": setup.app_id,
                "data_dir": str(setup.data_dir),
            },
            "logs": str(stack.tmp),
        }
        print(orjson.dumps(info).decode(), flush=True)
        while not stop.wait(1.0):
            for proc in stack.procs:
                if proc.popen.poll() is not None:
                    print(f"{proc.name} exited:\n{proc.log_tail()}", file=sys.stderr)
                    stop.set()
    return 0


if __name__ == "__main__":
    sys.exit(main())
