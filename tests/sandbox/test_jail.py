"""The kernel jail on its own: raw interpreters without the audit hook or permission model.

These prove the outer layer (namespaces, pivot_root, read-only mounts, private uid, rlimits)
contains code even if the in-process layer were bypassed.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any

import pytest

from headrace.sandbox import SandboxLimits, _jail
from headrace.sandbox.runner import run_in_jail

from .support import needs_node, needs_sandbox, processes_of

pytestmark = needs_sandbox

PROBE = r"""
import errno, json, os, socket
def attempt(fn):
    try:
        return ['ok', fn()]
    except OSError as exc:
        return ['error', errno.errorcode.get(exc.errno, str(exc.errno))]
def connect(host):
    s = socket.socket()
    s.settimeout(2)
    try:
        s.connect((host, 80))
    finally:
        s.close()
def write(path):
    with open(path, 'w') as f:
        f.write('x')
print(json.dumps({
    'uid': os.getuid(), 'gid': os.getgid(), 'pid': os.getpid(), 'groups': os.getgroups(),
    'root': sorted(os.listdir('/')), 'dev': sorted(os.listdir('/dev')), 'cwd': os.getcwd(),
    'passwd': attempt(lambda: open('/etc/passwd').read()),
    'shadow': attempt(lambda: open('/etc/shadow').read()),
    'proc': attempt(lambda: os.listdir('/proc')),
    'write_root': attempt(lambda: write('/evil')),
    'write_usr': attempt(lambda: write('/usr/evil')),
    'write_scratch': attempt(lambda: write('/tmp/ok')),
    'write_devnull': attempt(lambda: write('/dev/null')),
    'loopback': attempt(lambda: connect('127.0.0.1')),
    'public': attempt(lambda: connect('1.1.1.1')),
    'dns': attempt(lambda: socket.getaddrinfo('example.com', 80)),
    'setuid': attempt(lambda: os.setuid(0)),
    'kill_init': attempt(lambda: os.kill(1, 9)),
    'hostname': socket.gethostname(),
}))
"""


async def probe(args: list[str], language: str = "python3", **limits: Any) -> Any:
    outcome = await run_in_jail(language, args, SandboxLimits(**limits))  # type: ignore[arg-type]
    assert outcome.returncode == 0, outcome.stderr.decode()
    return json.loads(outcome.stdout)


async def test_jail_isolates_files_network_and_identity() -> None:
    facts = await probe(["-I", "-S", "-c", PROBE])
    assert facts["uid"] >= 0x60000000 and facts["gid"] == facts["uid"]
    assert facts["groups"] == []
    assert facts["pid"] == 2  # PID 1 is the jail's init
    assert facts["cwd"] == "/tmp"
    assert "etc" not in facts["root"] and "proc" not in facts["root"]
    assert "home" not in facts["root"] and "work" not in facts["root"]
    assert set(facts["dev"]) <= {"null", "zero", "random", "urandom"}
    assert facts["passwd"] == ["error", "ENOENT"]
    assert facts["shadow"] == ["error", "ENOENT"]
    assert facts["proc"] == ["error", "ENOENT"]
    assert facts["write_root"] == ["error", "EROFS"]
    assert facts["write_usr"] == ["error", "EROFS"]
    assert facts["write_scratch"] == ["ok", None]
    assert facts["write_devnull"] == ["ok", None]
    assert facts["loopback"] == ["error", "ENETUNREACH"]
    assert facts["public"] == ["error", "ENETUNREACH"]
    assert facts["dns"][0] == "error"
    assert facts["setuid"] == ["error", "EPERM"]
    assert facts["kill_init"] == ["error", "EPERM"]
    assert facts["hostname"] == "sandbox"


async def test_jail_scratch_directory_is_size_limited() -> None:
    script = (
        "import errno\n"
        "try:\n"
        "    with open('/tmp/big', 'wb') as f:\n"
        "        for _ in range(64):\n"
        "            f.write(b'x' * (1 << 20))\n"
        "    print('wrote')\n"
        "except OSError as exc:\n"
        "    print(errno.errorcode[exc.errno])\n"
    )
    outcome = await run_in_jail("python3", ["-I", "-S", "-c", script], SandboxLimits(scratch_mb=8))
    assert outcome.stdout.decode().strip() == "ENOSPC"


async def test_fork_bomb_is_contained_and_cleaned_up(monkeypatch: pytest.MonkeyPatch) -> None:
    uid = 0x60000000 + 4242
    monkeypatch.setattr(_jail, "allocate_uid", lambda: uid)
    bomb = (
        "import os, time\n"
        "while True:\n"
        "    try:\n"
        "        os.fork()\n"
        "    except OSError:\n"
        "        time.sleep(0.05)\n"
    )
    limits = SandboxLimits(max_processes=16, wall_seconds=3, cpu_seconds=30)
    run = asyncio.create_task(run_in_jail("python3", ["-I", "-S", "-c", bomb], limits))
    peak = 0
    while not run.done():
        peak = max(peak, len(processes_of(uid)))
        await asyncio.sleep(0.1)
    started = time.monotonic()
    outcome = run.result()
    assert outcome.returncode is not None and outcome.returncode != 0  # killed at the deadline
    assert 1 < peak <= 16  # it did fork, but RLIMIT_NPROC capped it
    while processes_of(uid) and time.monotonic() - started < 2:
        await asyncio.sleep(0.05)
    assert processes_of(uid) == []  # nothing outlives the run


async def test_memory_limit_applies_without_the_bootstrap() -> None:
    script = (
        "try:\n"
        "    x = bytearray(512 << 20)\n"
        "    print('allocated')\n"
        "except MemoryError:\n"
        "    print('refused')\n"
    )
    outcome = await run_in_jail("python3", ["-I", "-S", "-c", script], SandboxLimits(memory_mb=128))
    assert outcome.stdout.decode().strip() == "refused"


@needs_node
async def test_node_without_permission_model_is_still_jailed() -> None:
    script = r"""
const fs = require('fs');
const net = require('net');
const cp = require('child_process');
const out = {};
try { fs.readFileSync('/etc/passwd'); out.passwd = 'read'; } catch (e) { out.passwd = e.code; }
try { fs.writeFileSync('/evil', 'x'); out.write = 'ok'; } catch (e) { out.write = e.code; }
out.root = fs.readdirSync('/').sort();
out.uid = process.getuid();
const r = cp.spawnSync('/usr/bin/id', ['-u']);
out.child = r.error ? r.error.code : String(r.stdout).trim();
const s = net.connect(80, '127.0.0.1');
s.on('error', (e) => { out.net = e.code; console.log(JSON.stringify(out)); });
"""
    facts = await probe(["-e", script], language="javascript")
    assert facts["passwd"] == "ENOENT"
    assert facts["write"] == "EROFS"
    assert "etc" not in facts["root"]
    assert facts["uid"] >= 0x60000000
    assert facts["child"] == str(facts["uid"])  # a child stays inside the jail, same uid
    assert facts["net"] == "ENETUNREACH"


SECCOMP_PROBE = r"""
import ctypes, errno, json, os, threading
libc = ctypes.CDLL(None, use_errno=True)
def call(*args):
    if libc.syscall(*args) == -1:
        return errno.errorcode[ctypes.get_errno()]
    return 'ok'
done = []
thread = threading.Thread(target=lambda: done.append(1))
thread.start()
thread.join()
print(json.dumps({
    'unshare_user': call(272, 0x10000000),
    'unshare_net': call(272, 0x40000000),
    'ptrace': call(101, 0, 0, 0, 0),
    'bpf': call(321, 0, 0, 0),
    'io_uring_setup': call(425, 1, 0),
    'clone3': call(435, 0, 0),
    'keyctl': call(250, 0, 0),
    'getpid': 'ok' if libc.syscall(39) > 0 else 'failed',
    'threads': done,
}))
"""


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="the seccomp filter is x86_64 only")
async def test_seccomp_filter_shrinks_the_kernel_surface() -> None:
    facts = await probe(["-I", "-S", "-c", SECCOMP_PROBE])
    assert facts["unshare_user"] == "EPERM"  # no user namespaces: no in-jail "root"
    assert facts["unshare_net"] == "EPERM"
    assert facts["ptrace"] == "EPERM"
    assert facts["bpf"] == "EPERM"
    assert facts["keyctl"] == "EPERM"
    assert facts["io_uring_setup"] == "ENOSYS"
    assert facts["clone3"] == "ENOSYS"
    assert facts["getpid"] == "ok"
    assert facts["threads"] == [1]  # thread creation falls back from clone3 to clone
