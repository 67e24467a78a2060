"""Run the benchmarks: `python -m bench.run [NAME ...] [--quick] [--scale F] [--pg [URL]]`.

Every benchmark starts its own processes on loopback (scripted upstream, `headrace serve`,
the minimal relay), prints figures and ratios against a baseline measured in the same run,
and never asserts a timing. Names: ttft, cpu, concurrency, memory, blocking (default: all).
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import time
import traceback
from types import FrameType
from typing import Any

import orjson

from bench.common import Options, machine_line
from bench.procs import machine_share, raise_fd_limit

BENCHMARKS = {
    "ttft": "bench.bench_ttft",
    "cpu": "bench.bench_cpu",
    "concurrency": "bench.bench_concurrency",
    "memory": "bench.bench_memory",
    "blocking": "bench.bench_blocking",
}
DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help=f"benchmarks to run: {', '.join(BENCHMARKS)}"
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, short durations")
    parser.add_argument(
        "--scale", type=float, default=1.0, help="multiply every size and duration by this"
    )
    parser.add_argument(
        "--pg",
        nargs="?",
        const=DEFAULT_PG,
        default=None,
        metavar="URL",
        help="also run `blocking` on PostgreSQL (a fresh database is created on this server "
        f"and dropped afterwards; default URL {DEFAULT_PG})",
    )
    parser.add_argument("--json", metavar="PATH", help="also write every figure as JSON here")
    parser.add_argument(
        "--keep-logs", action="store_true", help="keep the temp dir with server logs"
    )
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    return parser


def _terminate(signum: int, frame: FrameType | None) -> None:
    # Turn SIGTERM into SystemExit so each benchmark's ExitStack stops its servers.
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.list:
        for name, module in BENCHMARKS.items():
            doc = (importlib.import_module(module).__doc__ or "").strip().splitlines()
            print(f"{name:12} {doc[0] if doc else ''}")
        return 0
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        _parser().error(f"unknown benchmark(s): {', '.join(unknown)}")
    signal.signal(signal.SIGTERM, _terminate)
    fds = raise_fd_limit()
    opts = Options(quick=args.quick, pg_url=args.pg, keep_logs=args.keep_logs, scale=args.scale)
    names = args.names or list(BENCHMARKS)
    print(f"headrace benchmarks  {machine_line()}  open-files={fds}")
    print(f"mode: {'quick' if args.quick else 'full'}  scale={args.scale}  running: {names}")
    results: dict[str, Any] = {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "runs": {}}
    failed = []
    for name in names:
        started = time.perf_counter()
        with machine_share() as share:
            try:
                bench_module = importlib.import_module(BENCHMARKS[name])
                results["runs"][name] = bench_module.run(opts)
            except KeyboardInterrupt:
                raise
            except Exception as exc:
                failed.append(name)
                traceback.print_exc()
                results["runs"][name] = {"error": repr(exc)}
        print(share.line())
        results["runs"][name]["machine_cores_busy_by_others"] = share.others / share.wall
        print(f"({name}: {time.perf_counter() - started:.0f} s)", flush=True)
    if args.json:
        with open(args.json, "wb") as out:
            out.write(
                orjson.dumps(
                    results, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS, default=str
                )
            )
    if failed:
        print(f"benchmarks that failed to run: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
