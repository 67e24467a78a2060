"""Real processes on loopback for the benchmarks: the scripted upstream, `headrace serve`
and the minimal relay, plus CPU-time and RSS readings from /proc (no psutil).

Every process is started in its own session so that a benchmark can end it (and the worker
processes of `--workers N`) by process group, and nothing else.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import yaml

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
HOST = "127.0.0.1"

#: A chat app shaped like the test suite's, on the generic OpenAI-compatible provider.
CHAT_DSL: dict[str, object] = {
    "version": "0.3.0",
    "kind": "app",
    "app": {"mode": "chat", "name": "Bench chat", "description": "benchmark app"},
    "model_config": {
        "model": {
            "provider": "openai",
            "name": "gpt-4o-mini",
            "mode": "chat",
            "completion_params": {"temperature": 0.1},
        },
        "pre_prompt": "You are a benchmark assistant for {{name}}.",
        "prompt_type": "simple",
        "opening_statement": "Hi there",
        "user_input_form": [
            {
                "text-input": {
                    "variable": "name",
                    "label": "Name",
                    "required": False,
                    "max_length": 20,
                }
            }
        ],
    },
}


def raise_fd_limit() -> int:
    """Raise the soft open-files limit to the hard one (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def free_port() -> int:
    """An unused loopback TCP port."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_bytes()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        tree.setdefault(int(fields[1]), []).append(int(entry))
    return tree


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants."""
    tree = _children()
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(tree.get(current, ()))
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process (all its threads), from /proc/<pid>/stat."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return 0.0
    fields = stat[stat.rfind(b")") + 2 :].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_bytes(pid: int) -> int:
    """Resident set size of one process, from /proc/<pid>/statm."""
    try:
        statm = Path(f"/proc/{pid}/statm").read_bytes().split()
    except OSError:
        return 0
    return int(statm[1]) * PAGE_SIZE


@dataclass
class Proc:
    """A server process started by a benchmark, listening on `port`."""

    name: str
    popen: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def pids(self) -> list[int]:
        """The process and its workers."""
        return process_tree(self.pid)

    def cpu(self) -> float:
        """CPU seconds used so far by the process and its live descendants."""
        return sum(cpu_seconds(p) for p in self.pids())

    def rss(self) -> int:
        """Summed RSS of the process and its live descendants."""
        return sum(rss_bytes(p) for p in self.pids())

    def worker_rss(self) -> int:
        """RSS of the processes that serve requests (the workers when there are any)."""
        pids = self.pids()
        workers = [p for p in pids if p != self.pid]
        return sum(rss_bytes(p) for p in (workers or pids))

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text("utf-8", "replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def check_alive(self) -> None:
        if self.popen.poll() is not None:
            raise RuntimeError(
                f"{self.name} exited with {self.popen.returncode}:\n{self.log_tail()}"
            )

    def stop(self) -> None:
        """SIGTERM the process group, then SIGKILL what is left after a few seconds."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=8)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=5)


def wait_listening(proc: Proc, timeout: float = 30.0) -> None:
    """Block until the process accepts TCP connections on its port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        proc.check_alive()
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex((HOST, proc.port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{proc.name} did not listen on {proc.port}:\n{proc.log_tail()}")


def spawn(
    name: str,
    argv: list[str],
    port: int,
    logdir: Path,
    env: dict[str, str] | None = None,
    timeout: float = 60.0,
) -> Proc:
    """Start a server in its own session, output to `<logdir>/<name>.log`; wait for its port."""
    log_path = logdir / f"{name}.log"
    with log_path.open("wb") as log:
        popen = subprocess.Popen(
            argv,
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    proc = Proc(name, popen, port, log_path)
    try:
        wait_listening(proc, timeout)
    except BaseException:
        proc.stop()
        raise
    return proc


def start_upstream(
    logdir: Path, *, tokens: int, tps: float, delay_first: float = 0.0, name: str = "upstream"
) -> Proc:
    """The benchmarks' lean OpenAI-compatible upstream (bench/upstream.py), in its own process."""
    port = free_port()
    argv = [sys.executable, "-m", "bench.upstream", "--port", str(port)]
    argv += ["--tokens", str(tokens), "--tps", str(tps), "--delay-first", str(delay_first)]
    return spawn(name, argv, port, logdir)


def start_relay(logdir: Path, upstream: Proc, workers: int = 1, name: str = "relay") -> Proc:
    """The minimal relay (bench/relay.py) in front of `upstream`."""
    port = free_port()
    argv = [sys.executable, "-m", "bench.relay", "--port", str(port)]
    argv += ["--upstream", f"{upstream.base_url}/v1", "--workers", str(workers)]
    proc = spawn(name, argv, port, logdir)
    if workers > 1:
        _wait_workers(proc, workers)
    return proc


def _wait_workers(proc: Proc, workers: int) -> None:
    # With --workers the parent listens before the workers have finished importing.
    deadline = time.monotonic() + 30
    while len(proc.pids()) < workers + 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.5)


@dataclass
class HeadraceSetup:
    """A prepared data directory: provider configured, chat app imported, key minted."""

    data_dir: Path
    env: dict[str, str]
    app_id: str
    key: str
    database_url: str | None = None
    notes: list[str] = field(default_factory=list)


def _cli(args: list[str], env: dict[str, str]) -> str:
    result = subprocess.run(
        [str(VENV_BIN / "headrace"), *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"headrace {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout.strip()


def prepare_headrace(
    data_dir: Path, upstream: Proc, database_url: str | None = None
) -> HeadraceSetup:
    """Configure a fresh data dir through the CLI, exactly as an operator would."""
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {"HEADRACE_DATA_DIR": str(data_dir), "HEADRACE_LOG_LEVEL": "WARNING"}
    if database_url:
        env["HEADRACE_DATABASE_URL"] = database_url
    _cli(
        [
            "provider",
            "configure",
            "openai",
            "--credential",
            "api_key=sk-bench",
            "--credential",
            f"base_url={upstream.base_url}/v1",
        ],
        env,
    )
    dsl = data_dir / "chat.yml"
    dsl.write_text(yaml.safe_dump(CHAT_DSL, sort_keys=False), "utf-8")
    imported = orjson.loads(_cli(["app", "import", str(dsl)], env).splitlines()[-1])
    app_id = str(imported["app_id"])
    key = _cli(["app", "key", app_id], env).splitlines()[-1]
    return HeadraceSetup(data_dir, env, app_id, key, database_url)


def start_headrace(
    logdir: Path, setup: HeadraceSetup, workers: int = 1, name: str = "headrace"
) -> Proc:
    """`headrace serve` on a free port against a prepared data dir."""
    port = free_port()
    argv = [str(VENV_BIN / "headrace"), "serve", "--host", HOST, "--port", str(port)]
    argv += ["--workers", str(workers)]
    proc = spawn(name, argv, port, logdir, env=setup.env)
    if workers > 1:
        _wait_workers(proc, workers)
    return proc


class Stack(contextlib.ExitStack):
    """Owns a temp dir and every process a benchmark starts; stops them all on exit."""

    def __init__(self, keep_logs: bool = False) -> None:
        super().__init__()
        raise_fd_limit()
        self.tmp = Path(tempfile.mkdtemp(prefix="headrace-bench-"))
        self.procs: list[Proc] = []
        self.keep_logs = keep_logs

    def add(self, proc: Proc) -> Proc:
        self.procs.append(proc)
        self.callback(proc.stop)
        return proc

    def upstream(self, *, tokens: int, tps: float, delay_first: float = 0.0) -> Proc:
        return self.add(start_upstream(self.tmp, tokens=tokens, tps=tps, delay_first=delay_first))

    def relay(self, upstream: Proc, workers: int = 1, name: str = "relay") -> Proc:
        return self.add(start_relay(self.tmp, upstream, workers, name))

    def headrace(
        self,
        upstream: Proc,
        *,
        workers: int = 1,
        database_url: str | None = None,
        name: str = "headrace",
    ) -> tuple[Proc, HeadraceSetup]:
        setup = prepare_headrace(self.tmp / f"data-{name}", upstream, database_url)
        return self.add(start_headrace(self.tmp, setup, workers, name)), setup

    def __exit__(self, *exc: object) -> bool:
        try:
            return bool(super().__exit__(*exc))  # type: ignore[arg-type]
        finally:
            if not self.keep_logs:
                _rmtree(self.tmp)


def _rmtree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def machine_busy_seconds() -> float:
    """CPU seconds all processors spent busy since boot (user+nice+system+irq+softirq+steal)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def own_cpu_seconds() -> float:
    """CPU seconds of this process, its reaped children and its live descendants."""
    times = os.times()
    own = times.user + times.system + times.children_user + times.children_system
    return own + sum(cpu_seconds(p) for p in process_tree(os.getpid()) if p != os.getpid())


@dataclass
class MachineShare:
    """How busy the machine was across a block, and how much of that was someone else."""

    wall: float = 0.0
    busy: float = 0.0
    ours: float = 0.0

    @property
    def others(self) -> float:
        return max(0.0, self.busy - self.ours)

    def line(self) -> str:
        if not self.wall:
            return ""
        return (
            f"machine during this benchmark: {self.busy / self.wall:.2f} of {os.cpu_count()} cores"
            f" busy; this benchmark's processes {self.ours / self.wall:.2f},"
            f" other processes {self.others / self.wall:.2f}"
        )


@contextlib.contextmanager
def machine_share() -> Iterator[MachineShare]:
    """Measure machine-wide CPU use across a block, split into ours and others'."""
    out = MachineShare()
    wall0, busy0, ours0 = time.perf_counter(), machine_busy_seconds(), own_cpu_seconds()
    try:
        yield out
    finally:
        out.wall = time.perf_counter() - wall0
        out.busy = machine_busy_seconds() - busy0
        out.ours = own_cpu_seconds() - ours0


@contextlib.contextmanager
def sampling(proc: Proc) -> Iterator[dict[str, float]]:
    """Measure a process tree's CPU seconds and wall time across a block."""
    out: dict[str, float] = {}
    cpu0, wall0 = proc.cpu(), time.perf_counter()
    try:
        yield out
    finally:
        out["cpu"] = proc.cpu() - cpu0
        out["wall"] = time.perf_counter() - wall0
