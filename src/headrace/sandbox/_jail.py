"""Host-side description of the jail: what to mount, which limits, which command to exec."""

from __future__ import annotations

import atexit
import contextlib
import marshal
import math
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Final

from . import _jsboot
from ._types import SandboxError, SandboxLimits

SCRATCH: Final = "/tmp"
NODE_ADDRESS_SPACE_OVERHEAD_MB: Final = 1024
"""Extra RLIMIT_AS for Node: V8 reserves ~0.7 GB of address space before running any code."""

_UID_BASE: Final = 0x60000000
_UID_SPAN: Final = 1 << 24
_LAUNCHER: Final = Path(__file__).with_name("_launcher.py")
_PYBOOT_SOURCE: Final = Path(__file__).with_name("_pyboot.py").read_text(encoding="utf-8")
_ENV: Final = {
    "PATH": "/usr/bin:/bin",
    "HOME": SCRATCH,
    "TMPDIR": SCRATCH,
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
}
_DEVICES: Final = ("/dev/null", "/dev/zero", "/dev/random", "/dev/urandom")
_TOP_LEVEL: Final = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")

_active_uids: set[int] = set()


def sandbox_unavailable_reason() -> str | None:
    """Why this host cannot run the sandbox, or ``None`` when it can.

    The jail needs Linux namespaces (mount, PID, network) and root privileges to build them
    and to switch the code to an unprivileged uid. Without them runs fail closed.
    """
    if not sys.platform.startswith("linux"):
        return "the sandbox needs Linux namespaces; this host is " + sys.platform
    if os.geteuid() != 0:
        return (
            "the sandbox must run as root: it creates mount/PID/network namespaces and runs "
            "the code under an unprivileged uid"
        )
    for ns in ("mnt", "pid", "net"):
        if not os.path.exists(f"/proc/self/ns/{ns}"):
            return f"the kernel lacks {ns} namespace support"
    return None


@cache
def _python_paths() -> tuple[str, str]:
    """(base interpreter, installation prefix) of the running Python, symlinks resolved.

    The base interpreter (not a virtualenv's) runs with ``-I -S``, so only the standard
    library is needed inside the jail.
    """
    executable = getattr(sys, "_base_executable", None) or sys.executable
    return os.path.realpath(executable), os.path.realpath(sys.base_prefix)


@cache
def _node_info() -> tuple[str, tuple[int, int]]:
    """(path, (major, minor) version) of ``node``; raises SandboxError when unusable."""
    found = shutil.which("node")
    if found is None:
        raise SandboxError("Sandbox unavailable: Node.js (node) is not installed", "unavailable")
    path = os.path.realpath(found)
    out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30)
    match = re.match(r"v(\d+)\.(\d+)\.", out.stdout)
    if match is None or int(match.group(1)) < 20:
        raise SandboxError(
            f"Sandbox unavailable: Node.js >= 20 is required, found {out.stdout.strip()!r}",
            "unavailable",
        )
    return path, (int(match.group(1)), int(match.group(2)))


def node_info() -> tuple[str, tuple[int, int]]:
    """Public wrapper of the cached ``node`` lookup (blocking the first time)."""
    return _node_info()


@cache
def _root_mountpoint() -> str:
    """An empty root-owned directory the jail's tmpfs root is mounted on (per process)."""
    path = tempfile.mkdtemp(prefix="headrace-sandbox-root-")
    atexit.register(_remove_dir, path)
    return path


def _remove_dir(path: str) -> None:
    with contextlib.suppress(OSError):
        os.rmdir(path)


def _prefix_of(executable: str) -> str:
    """Installation prefix of an interpreter binary (``<prefix>/bin/<exe>``)."""
    return os.path.dirname(os.path.dirname(executable))


@cache
def _filesystem(node: str | None) -> tuple[list[str], list[list[str]]]:
    """Read-only bind mounts and top-level symlinks of the jail's file system."""
    binds = ["/usr"]
    symlinks: list[list[str]] = []
    for top in _TOP_LEVEL:
        if os.path.islink(top):
            symlinks.append([os.readlink(top), top])
        elif os.path.isdir(top):
            binds.append(top)
    python, python_prefix = _python_paths()
    prefixes = [python_prefix, _prefix_of(python)]
    if node is not None:
        prefixes.append(_prefix_of(node))
    for prefix in prefixes:
        covered = any(prefix == b or prefix.startswith(b.rstrip("/") + "/") for b in binds)
        if not covered and prefix != "/":
            binds.append(prefix)
    return binds, symlinks


def allocate_uid() -> int:
    """Reserve a fresh unprivileged uid for one run (so RLIMIT_NPROC is per run)."""
    while True:
        uid = _UID_BASE + secrets.randbelow(_UID_SPAN)
        if uid not in _active_uids:
            _active_uids.add(uid)
            return uid


def release_uid(uid: int) -> None:
    """Return a uid obtained from :func:`allocate_uid`."""
    _active_uids.discard(uid)


@dataclass(frozen=True, slots=True)
class LaunchPlan:
    """Everything needed to start one run: the launcher command and the stdin payload."""

    argv: list[str]
    stdin: bytes


def _worker_argv(language: str, limits: SandboxLimits) -> tuple[list[str], str | None, int]:
    """(argv, node path or None, address-space limit in MB) for the sandboxed interpreter."""
    if language == "python3":
        python = _python_paths()[0]
        return [python, "-I", "-S", "-B", "-c", _PYBOOT_SOURCE], None, limits.memory_mb
    node, version = _node_info()
    # the flag lost its "experimental-" prefix in Node 23.5 / 22.13
    stable = version >= (23, 5) or (22, 13) <= version < (23, 0)
    permission = "--permission" if stable else "--experimental-permission"
    argv = [
        node,
        "--no-warnings",
        permission,
        f"--allow-fs-read={SCRATCH}/*",
        f"--allow-fs-write={SCRATCH}/*",
        f"--max-old-space-size={limits.memory_mb}",
        "-e",
        _jsboot.SOURCE,
    ]
    return argv, node, limits.memory_mb + NODE_ADDRESS_SPACE_OVERHEAD_MB


def launch_plan(
    language: str,
    stdin: bytes,
    limits: SandboxLimits,
    uid: int,
    result_fd: int,
    worker_args: list[str] | None = None,
) -> LaunchPlan:
    """Build the launcher command line for one run.

    ``worker_args`` replaces the interpreter's arguments (bootstrap, permission flags); it
    exists so tests can exercise the kernel jail without the in-process guard layers.
    """
    worker, node, address_space_mb = _worker_argv(language, limits)
    if worker_args is not None:
        worker = [worker[0], *worker_args]
    binds, symlinks = _filesystem(node)
    cpu = max(1, math.ceil(limits.cpu_seconds))
    address_space = address_space_mb << 20
    config: dict[str, Any] = {
        "root": _root_mountpoint(),
        "result_fd": result_fd,
        "ro_binds": binds,
        "symlinks": symlinks,
        "devices": [dev for dev in _DEVICES if os.path.exists(dev)],
        "scratch": SCRATCH,
        "scratch_mb": limits.scratch_mb,
        "uid": uid,
        "gid": uid,
        "rlimits": {
            "RLIMIT_CPU": [cpu, cpu + 1],
            "RLIMIT_AS": [address_space, address_space],
            "RLIMIT_NPROC": [limits.max_processes, limits.max_processes],
            "RLIMIT_NOFILE": [256, 256],
            "RLIMIT_CORE": [0, 0],
            "RLIMIT_STACK": [8 << 20, 8 << 20],
            "RLIMIT_MEMLOCK": [0, 0],
            "RLIMIT_MSGQUEUE": [0, 0],
        },
        "env": dict(_ENV),
        "argv": worker,
    }
    launcher = [_python_paths()[0], "-I", "-S", "-B", str(_LAUNCHER), marshal.dumps(config).hex()]
    return LaunchPlan(argv=launcher, stdin=stdin)
