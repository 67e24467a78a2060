"""End-to-end tests of run_code: real jailed Python and Node processes."""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from headrace.sandbox import Language, SandboxError, SandboxLimits, _jail, run_code

from .support import needs_node, needs_sandbox, processes_of

pytestmark = needs_sandbox

PY: Language = "python3"
JS: Language = "javascript"
LANGS = [PY, pytest.param(JS, marks=needs_node)]

FILES = "File system access outside the scratch directory is not allowed"
NETWORK = "Network access is not allowed"
PROCESS = "Process creation is not allowed"


async def fails(language: Language, code: str, limits: SandboxLimits | None = None) -> SandboxError:
    with pytest.raises(SandboxError) as info:
        await run_code(language, code, {}, limits)
    return info.value


# --- happy paths -------------------------------------------------------------------------


async def test_python_inputs_in_dict_out_prints_ignored() -> None:
    code = (
        "def main(a, b, items, meta):\n"
        "    print('noise on stdout', a)\n"
        "    import sys; print('noise on stderr', file=sys.stderr)\n"
        "    return {'sum': a + b, 'n': len(items), 'meta': meta, 'text': 'é ☃'}\n"
    )
    inputs = {"a": 2, "b": 3.5, "items": [1, None, "x"], "meta": {"k": [True, False, None]}}
    result = await run_code(PY, code, inputs)
    assert result == {"sum": 5.5, "n": 3, "meta": {"k": [True, False, None]}, "text": "é ☃"}


@needs_node
async def test_javascript_inputs_in_dict_out_logs_ignored() -> None:
    code = (
        "function main({a, b, items}) {\n"
        "  console.log('noise', a);\n"
        "  console.error('more noise');\n"
        "  return {sum: a + b, n: items.length, text: 'é ☃'};\n"
        "}\n"
    )
    result = await run_code(JS, code, {"a": 2, "b": 3.5, "items": [1, None, "x"]})
    assert result == {"sum": 5.5, "n": 3, "text": "é ☃"}


@needs_node
async def test_javascript_async_main_is_awaited() -> None:
    code = (
        "async function main({x}) {\n"
        "  await new Promise((r) => setTimeout(r, 20));\n"
        "  return {doubled: x * 2};\n"
        "}\n"
    )
    assert await run_code(JS, code, {"x": 21}) == {"doubled": 42}


@pytest.mark.parametrize("language", LANGS)
async def test_scientific_notation_strings_become_numbers(language: Language) -> None:
    code = (
        "def main():\n    return {'a': '1.5e-7', 'b': '2E+3', 'c': 'e5', 'd': '1.5'}\n"
        if language == PY
        else "function main() { return {a: '1.5e-7', b: '2E+3', c: 'e5', d: '1.5'}; }"
    )
    result = await run_code(language, code, {})
    assert result == {"a": 1.5e-7, "b": 2000.0, "c": "e5", "d": "1.5"}


@pytest.mark.parametrize("language", LANGS)
async def test_scratch_directory_is_writable(language: Language) -> None:
    code = (
        "import os\n"
        "def main():\n"
        "    with open('/tmp/note.txt', 'w') as f:\n"
        "        f.write('hi')\n"
        "    return {'text': open('note.txt').read(), 'files': os.listdir('/tmp')}\n"
        if language == PY
        else "const fs = require('fs');\n"
        "function main() {\n"
        "  fs.writeFileSync('/tmp/note.txt', 'hi');\n"
        "  const text = fs.readFileSync('/tmp/note.txt', 'utf8');\n"
        "  return {text, files: fs.readdirSync('/tmp')};\n"
        "}\n"
    )
    result = await run_code(language, code, {})
    assert result == {"text": "hi", "files": ["note.txt"]}


@needs_node
async def test_javascript_module_exports_main_is_accepted() -> None:
    code = "module.exports = { main: ({x}) => ({y: x + 1}) };"
    assert await run_code(JS, code, {"x": 1}) == {"y": 2}


async def test_python_stdlib_imports_work() -> None:
    code = (
        "import json, re, math, datetime, collections, decimal, hashlib, base64\n"
        "def main():\n"
        "    return {'j': json.dumps({'a': 1}), 'h': hashlib.md5(b'x').hexdigest()[:6],\n"
        "            'r': re.sub('a', 'b', 'aa'), 'd': str(decimal.Decimal('0.1') * 3)}\n"
    )
    result = await run_code(PY, code, {})
    assert result == {"j": '{"a": 1}', "h": "9dd4e4", "r": "bb", "d": "0.3"}


async def test_concurrent_runs_are_independent() -> None:
    code = "def main(n):\n    return {'n': n * n}\n"
    results = await asyncio.gather(*(run_code(PY, code, {"n": i}) for i in range(6)))
    assert results == [{"n": i * i} for i in range(6)]


async def test_event_loop_is_not_blocked() -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.05)
            ticks += 1

    task = asyncio.create_task(ticker())
    started = time.monotonic()
    await run_code(PY, "import time\ndef main():\n    time.sleep(1)\n    return {}\n", {})
    elapsed = time.monotonic() - started
    task.cancel()
    assert elapsed >= 1
    assert ticks >= 10


# --- errors ------------------------------------------------------------------------------


async def test_python_error_reports_type_message_and_line() -> None:
    code = "def main():\n    x = 1\n    return {'x': x / 0}\n"
    error = await fails(PY, code)
    assert error.kind == "error"
    assert error.message == "ZeroDivisionError: division by zero (line 3)"


async def test_python_error_in_helper_reports_innermost_user_line() -> None:
    code = "def helper(v):\n    raise ValueError(f'bad {v}')\n\ndef main():\n    helper(7)\n"
    error = await fails(PY, code)
    assert error.message == "ValueError: bad 7 (line 2)"


async def test_python_syntax_error_has_line() -> None:
    error = await fails(PY, "def main():\n    return {}\n\nx = = 1\n")
    assert error.kind == "error"
    assert error.message == "SyntaxError: invalid syntax (line 4)"


@needs_node
async def test_javascript_error_reports_type_message_and_line() -> None:
    error = await fails(JS, "function main() {\n  const x = 1;\n  return {x: y.z};\n}\n")
    assert error.kind == "error"
    assert error.message == "ReferenceError: y is not defined (line 3)"


@needs_node
async def test_javascript_rejected_promise_and_thrown_value() -> None:
    rejected = await fails(JS, "async function main() {\n\n  throw new TypeError('nope');\n}\n")
    assert rejected.message == "TypeError: nope (line 3)"
    thrown = await fails(JS, "function main() { throw 'plain'; }")
    assert thrown.message == "Uncaught plain"


@needs_node
async def test_javascript_syntax_error_has_line() -> None:
    error = await fails(JS, "function main() {\n  return {a: 1,,};\n}\n")
    assert error.message.startswith("SyntaxError: ")
    assert error.message.endswith("(line 2)")


@pytest.mark.parametrize("language", LANGS)
async def test_missing_main_is_an_error(language: Language) -> None:
    error = await fails(language, "x = 1\n" if language == PY else "const x = 1;")
    assert error.message == "The code must define a function named main"


@pytest.mark.parametrize(
    ("language", "code", "type_name"),
    [
        (PY, "def main():\n    return [1, 2]\n", "list"),
        (PY, "def main():\n    return 'text'\n", "str"),
        (PY, "def main():\n    return None\n", "NoneType"),
        (PY, "def main():\n    return {1, 2}\n", "set"),
        pytest.param(JS, "function main() { return [1, 2]; }", "list", marks=needs_node),
        pytest.param(JS, "function main() { return 'text'; }", "str", marks=needs_node),
        pytest.param(JS, "function main() { return 3; }", "int", marks=needs_node),
        pytest.param(JS, "function main() {}", "NoneType", marks=needs_node),
    ],
)
async def test_non_dict_result_is_rejected(language: Language, code: str, type_name: str) -> None:
    error = await fails(language, code)
    assert error.kind == "result"
    assert error.message == f"Result must be a dict, got {type_name}"


async def test_python_unserialisable_result_is_rejected() -> None:
    error = await fails(PY, "def main():\n    return {'s': {1, 2}}\n")
    assert error.kind == "result"
    assert "set is not JSON serializable" in error.message


async def test_inputs_must_be_json_values() -> None:
    with pytest.raises(SandboxError) as info:
        await run_code(PY, "def main(x):\n    return {}\n", {"x": object()})
    assert info.value.kind == "input"


async def test_unsupported_language_is_rejected() -> None:
    with pytest.raises(SandboxError) as info:
        await run_code("ruby", "def main; end", {})  # type: ignore[arg-type]
    assert info.value.message == "Unsupported code language: ruby"


# --- refusals ----------------------------------------------------------------------------

REFUSALS: dict[str, tuple[str, str, str]] = {
    # name: (python code, javascript code, expected message prefix)
    "read_etc_passwd": (
        "def main():\n    return {'x': open('/etc/passwd').read()}\n",
        "const fs = require('fs');\n"
        "function main() { return {x: fs.readFileSync('/etc/passwd', 'utf8')}; }\n",
        FILES,
    ),
    "read_via_traversal": (
        "def main():\n    return {'x': open('/tmp/../etc/passwd').read()}\n",
        "const fs = require('fs');\n"
        "function main() { return {x: fs.readFileSync('/tmp/../etc/passwd', 'utf8')}; }\n",
        FILES,
    ),
    "write_outside_scratch": (
        "def main():\n    open('/usr/evil', 'w').write('x')\n    return {}\n",
        "const fs = require('fs');\n"
        "function main() { fs.writeFileSync('/usr/evil', 'x'); return {}; }\n",
        FILES,
    ),
    "list_root": (
        "import os\ndef main():\n    return {'x': os.listdir('/')}\n",
        "const fs = require('fs');\nfunction main() { return {x: fs.readdirSync('/')}; }\n",
        FILES,
    ),
    "socket_to_loopback": (
        "import socket\n"
        "def main():\n"
        "    socket.create_connection(('127.0.0.1', 80), timeout=2)\n"
        "    return {}\n",
        "const net = require('net');\n"
        "function main() {\n"
        "  return new Promise((resolve, reject) => {\n"
        "    const s = net.connect(80, '127.0.0.1', () => resolve({}));\n"
        "    s.on('error', reject);\n"
        "  });\n"
        "}\n",
        NETWORK,
    ),
    "socket_to_public_ip": (
        "import socket\n"
        "def main():\n"
        "    socket.create_connection(('1.1.1.1', 80), timeout=2)\n"
        "    return {}\n",
        "async function main() {\n  await fetch('http://1.1.1.1/');\n  return {};\n}\n",
        NETWORK,
    ),
    "subprocess": (
        "import subprocess\n"
        "def main():\n"
        "    return {'x': subprocess.run(['id'], capture_output=True).stdout.decode()}\n",
        "const cp = require('child_process');\n"
        "function main() { return {x: String(cp.execSync('id'))}; }\n",
        PROCESS,
    ),
    "fork_bomb": (
        "import os\ndef main():\n    while True:\n        os.fork()\n",
        "const cp = require('child_process');\n"
        "function main() {\n"
        "  while (true) cp.spawn(process.execPath, ['-e', 'while(1){}']);\n"
        "}\n",
        PROCESS,
    ),
}


@pytest.mark.parametrize("language", LANGS)
@pytest.mark.parametrize("case", sorted(REFUSALS))
async def test_refused_operations(language: Language, case: str) -> None:
    py_code, js_code, expected = REFUSALS[case]
    error = await fails(language, py_code if language == PY else js_code)
    assert error.kind == "violation", error.message
    assert error.message.startswith(expected), error.message


async def test_python_native_code_and_guard_tampering_are_refused() -> None:
    ctypes_error = await fails(PY, "import ctypes\ndef main():\n    return {}\n")
    assert ctypes_error.message == "Native code (ctypes) is not allowed (line 1)"
    # adding another audit hook is silently refused (CPython swallows the hook's error)
    hooks = (
        "import sys\n"
        "def main():\n"
        "    seen = []\n"
        "    sys.addaudithook(lambda e, a: seen.append(e))\n"
        "    open('/tmp/f', 'w').close()\n"
        "    return {'seen': len(seen)}\n"
    )
    assert await run_code(PY, hooks, {}) == {"seen": 0}
    gc_walk = await fails(PY, "import gc\ndef main():\n    gc.get_objects()\n")
    assert gc_walk.kind == "violation"
    symlink = await fails(PY, "import os\ndef main():\n    os.symlink('/etc', '/tmp/etc')\n")
    assert symlink.kind == "violation"


async def test_python_guard_resists_tampering_with_bootstrap_state() -> None:
    # the hook's state is bound in default arguments: rebinding the bootstrap's globals,
    # builtins or helper code does not open the file system
    code = (
        "import __main__, builtins\n"
        "def main():\n"
        "    __main__.SCRATCH = '/'\n"
        "    __main__._resolve = lambda *a: '/tmp/x'\n"
        "    builtins.isinstance = lambda *a: True\n"
        "    return {'x': open('/etc/passwd').read()}\n"
    )
    assert (await fails(PY, code)).message == f"{FILES} (line 6)"
    patch = (
        "import __main__\ndef main():\n    __main__._resolve.__code__ = (lambda p: p).__code__\n"
    )
    assert (await fails(PY, patch)).message == "Changing the sandbox is not allowed (line 3)"


@pytest.mark.skipif(
    not os.path.exists("/usr/share/zoneinfo/UTC"), reason="no system time zone database"
)
async def test_python_zoneinfo_reads_the_system_database() -> None:
    code = (
        "import datetime, zoneinfo\n"
        "def main():\n"
        "    tz = zoneinfo.ZoneInfo('Europe/Berlin')\n"
        "    return {'t': datetime.datetime(2024, 1, 1, tzinfo=tz).isoformat()}\n"
    )
    assert await run_code(PY, code, {}) == {"t": "2024-01-01T00:00:00+01:00"}


@needs_node
async def test_javascript_worker_threads_are_refused() -> None:
    code = (
        "const {Worker} = require('worker_threads');\n"
        "function main() { new Worker('1', {eval: true}); }\n"
    )
    error = await fails(JS, code)
    assert error.message == "Worker threads are not allowed (line 2)"


# --- resource limits ---------------------------------------------------------------------

MEMORY_BOMBS = [
    (PY, "def main():\n    x = []\n    while True:\n        x.append(' ' * 10_000_000)\n"),
    (PY, "def main():\n    return {'x': len(bytearray(2 ** 34))}\n"),
    pytest.param(
        JS,
        "function main() {\n"
        "  const a = [];\n"
        "  while (true) a.push({v: Math.random(), w: [1, 2]});\n"
        "}\n",
        marks=needs_node,
    ),
    pytest.param(
        JS,
        "function main() {\n  const a = [];\n  while (true) a.push(Buffer.alloc(1e7, 1));\n}",
        marks=needs_node,
    ),
]


@pytest.mark.parametrize(("language", "code"), MEMORY_BOMBS)
async def test_memory_bomb_fails_cleanly(language: Language, code: str) -> None:
    limits = SandboxLimits(memory_mb=64, cpu_seconds=30, wall_seconds=60)
    error = await fails(language, code, limits)
    assert error.kind == "memory", error.message
    assert error.message == "Memory limit exceeded"


@pytest.mark.parametrize("language", LANGS)
async def test_infinite_loop_hits_cpu_limit(language: Language) -> None:
    code = (
        "def main():\n    while True:\n        pass\n"
        if language == PY
        else ("function main() { while (true) {} }")
    )
    error = await fails(language, code, SandboxLimits(cpu_seconds=1, wall_seconds=20))
    assert error.kind == "cpu", error.message
    assert error.message == "CPU time limit exceeded (1s)"


@pytest.mark.parametrize("language", LANGS)
async def test_sleeping_code_hits_wall_clock_limit(language: Language) -> None:
    code = (
        "import time\ndef main():\n    time.sleep(30)\n"
        if language == PY
        else ("function main() { return new Promise((r) => setTimeout(r, 30000)); }")
    )
    error = await fails(language, code, SandboxLimits(wall_seconds=1.5))
    assert error.kind == "timeout"
    assert error.message == "Execution timed out after 1.5s"


@pytest.mark.parametrize("language", LANGS)
async def test_oversized_result_is_rejected(language: Language) -> None:
    code = (
        "def main():\n    return {'x': 'a' * 300_000}\n"
        if language == PY
        else ("function main() { return {x: 'a'.repeat(300000)}; }")
    )
    limits = SandboxLimits(max_output_bytes=200_000)
    error = await fails(language, code, limits)
    assert error.kind == "output"
    assert error.message == "Output size limit exceeded (max 200000 bytes)"
    # just under the cap is fine
    small = code.replace("300_000", "150_000").replace("300000", "150000")
    result = await run_code(language, small, {}, limits)
    assert len(result["x"]) == 150_000


@pytest.mark.parametrize("language", LANGS)
async def test_console_flood_is_rejected(language: Language) -> None:
    code = (
        "def main():\n    while True:\n        print('x' * 10_000)\n"
        if language == PY
        else "function main() { while (true) process.stdout.write('x'.repeat(10000)); }"
    )
    # The cap is below the 64 KiB pipe buffer: Node queues console writes in memory once the
    # pipe is full, so with a larger cap a flood may end as "Memory limit exceeded" instead.
    error = await fails(language, code, SandboxLimits(max_output_bytes=20_000))
    assert error.kind == "output"
    assert error.message == "Output size limit exceeded (max 20000 bytes)"


async def test_abrupt_exit_is_reported() -> None:
    error = await fails(PY, "import os\ndef main():\n    os._exit(3)\n")
    assert error.kind == "crash"
    assert error.message == "The code exited unexpectedly (exit status 3)"


async def test_cancelled_run_leaves_no_process(monkeypatch: pytest.MonkeyPatch) -> None:
    uid = 0x60000000 + 4343
    monkeypatch.setattr(_jail, "allocate_uid", lambda: uid)
    code = "import time\ndef main():\n    time.sleep(30)\n"
    task = asyncio.create_task(run_code(PY, code, {}))
    deadline = time.monotonic() + 10
    while not processes_of(uid) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert processes_of(uid), "the sandboxed process never started"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    while processes_of(uid) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert processes_of(uid) == []


# --- jail setup failures -------------------------------------------------------------------------


async def test_jail_setup_failure_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_jail, "_root_mountpoint", lambda: "/nonexistent/headrace-root")
    with pytest.raises(SandboxError) as info:
        await run_code(PY, "def main():\n    return {}\n", {})
    assert info.value.kind == "setup"
    assert info.value.message.startswith("Sandbox setup failed: ")
