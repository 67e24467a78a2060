"""Bootstrap that runs user Python code inside the jail (passed to ``python -I -S -c``).

It reads ``marshal({"code": str, "inputs": dict})`` from stdin, installs an audit hook (an
in-process layer on top of the kernel jail: it cannot be removed once installed), runs the
user code, calls ``main(**inputs)`` and writes one JSON message to fd 3::

    {"ok": true, "result": {...}}
    {"ok": false, "kind": "error" | "violation" | "memory" | "result", "message": "..."}

The source avoids importing ``json`` (and through it ``re``/``enum``) to keep start-up short.
"""

from __future__ import annotations

import builtins
import marshal
import os
import sys
from _json import encode_basestring_ascii as _quote

TYPE_CHECKING = False  # typing is not imported at run time: start-up speed
if TYPE_CHECKING:
    from typing import Any

RESULT_FD = 3
SCRATCH = "/tmp"
USER_FILE = "<code>"
MAX_JSON_DEPTH = 100
TIMEZONE_DATA = ("/usr/share/zoneinfo",)

NETWORK = "Network access is not allowed"
PROCESS = "Process creation is not allowed"
FILES = "File system access outside the scratch directory is not allowed"
NATIVE = "Native code (ctypes) is not allowed"
TAMPER = "Changing the sandbox is not allowed"


class SandboxViolation(PermissionError):
    """Raised by the audit hook when user code attempts a forbidden operation."""


def _resolve(
    path: Any,
    _type: Any = type,
    _str: Any = str,
    _bytes: Any = bytes,
    _int: Any = int,
    _getcwd: Any = os.getcwd,
    _v: Any = SandboxViolation,
) -> str | None:
    """Absolute, lexically normalised form of a str/bytes path (None for a descriptor).

    Only exact ``str``/``bytes`` values are accepted so that no user-defined method can run
    inside the audit hook. Symlinks need no resolving: user code cannot create any.
    """
    kind = _type(path)
    if kind is _int:
        return None
    if path is None:
        cwd: str = _getcwd()
        return cwd
    if kind is _bytes:
        path = _bytes.decode(path, "utf-8", "surrogateescape")
    elif kind is not _str:
        raise _v(FILES)
    if not _str.startswith(path, "/"):
        path = _getcwd() + "/" + path
    parts: list[str] = []
    for part in _str.split(path, "/"):
        if part == "..":
            if parts:
                parts.pop()
        elif part and part != ".":
            parts.append(part)
    return "/" + "/".join(parts)


def _make_guard(read_roots: tuple[str, ...]) -> Any:
    """Build the audit hook; all of its state is bound as default arguments (tamper-proof)."""
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
    one_path = frozenset(
        {"os.mkdir", "os.rmdir", "os.remove", "os.chmod", "os.chown", "os.utime"}
        | {"os.truncate", "os.chdir", "os.chflags", "os.setxattr", "os.removexattr"}
    )
    process_events = frozenset(
        {"os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty"}
        | {"subprocess.Popen", "pty.spawn", "os.startfile"}
    )
    tamper_events = frozenset(
        {"sys.addaudithook", "resource.setrlimit", "resource.prlimit"}
        | {"gc.get_objects", "gc.get_referrers", "gc.get_referents", "os.link", "os.symlink"}
    )
    function_type = type(_resolve)
    scratch_prefix = SCRATCH + "/"
    read_prefixes = tuple(root + "/" for root in read_roots)

    def allowed(
        path: Any,
        write: bool,
        _resolve: Any = _resolve,
        _str: Any = str,
        _scratch: str = SCRATCH,
        _scratch_prefix: str = scratch_prefix,
        _roots: tuple[str, ...] = read_roots,
        _prefixes: tuple[str, ...] = read_prefixes,
    ) -> bool:
        full = _resolve(path)
        if full is None or full == _scratch or _str.startswith(full, _scratch_prefix):
            return True
        if write:
            return False
        return full in _roots or _str.startswith(full, _prefixes)

    def guard(
        event: str,
        args: tuple[Any, ...],
        _allowed: Any = allowed,
        _type: Any = type,
        _str: Any = str,
        _int: Any = int,
        _fn: Any = function_type,
        _v: Any = SandboxViolation,
        _wflags: int = write_flags,
        _one_path: frozenset[str] = one_path,
        _procs: frozenset[str] = process_events,
        _tamper: frozenset[str] = tamper_events,
    ) -> None:
        if event == "open":
            flags = args[2] if _type(args[2]) is _int else 0
            if not _allowed(args[0], (flags & _wflags) != 0):
                raise _v(FILES)
        elif event == "os.listdir" or event == "os.scandir":
            if not _allowed(args[0], False):
                raise _v(FILES)
        elif event in _one_path:
            if not _allowed(args[0], True):
                raise _v(FILES)
        elif event == "os.rename":
            if not (_allowed(args[0], True) and _allowed(args[1], True)):
                raise _v(FILES)
        elif _str.startswith(event, "socket."):
            raise _v(NETWORK)
        elif event in _procs:
            raise _v(PROCESS)
        elif _str.startswith(event, "ctypes."):
            raise _v(NATIVE)
        elif event == "import" and args[0] in ("_posixsubprocess", "_ctypes", "_multiprocessing"):
            raise _v(NATIVE if args[0] == "_ctypes" else PROCESS)
        elif event in _tamper or (
            event == "object.__setattr__"
            and _type(args[0]) is _fn
            and args[1] in ("__code__", "__defaults__", "__kwdefaults__")
        ):
            raise _v(TAMPER)

    return guard


def _dump(value: Any, out: list[str], depth: int) -> None:
    """Append the JSON encoding of ``value`` (plain JSON types only) to ``out``."""
    if depth > MAX_JSON_DEPTH:
        raise ValueError("Result is nested too deeply")
    if value is None or value is True or value is False:
        out.append("null" if value is None else "true" if value else "false")
    elif isinstance(value, str):
        out.append(_quote(value))
    elif isinstance(value, int):
        out.append(int.__repr__(value))
    elif isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"Out of range float values are not JSON compliant: {value!r}")
        out.append(float.__repr__(value))
    elif isinstance(value, dict):
        out.append("{")
        for index, (key, item) in enumerate(value.items()):
            if index:
                out.append(",")
            _dump_key(key, out)
            _dump(item, out, depth + 1)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _dump(item, out, depth + 1)
        out.append("]")
    else:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _dump_key(key: Any, out: list[str]) -> None:
    """Encode a mapping key the way ``json.dumps`` does (scalars become strings)."""
    if isinstance(key, str):
        out.append(_quote(key))
    elif key is None or isinstance(key, bool):
        out.append('"null"' if key is None else '"true"' if key else '"false"')
    elif isinstance(key, int | float):
        out.append(_quote(int.__repr__(key) if isinstance(key, int) else float.__repr__(key)))
    else:
        raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")
    out.append(":")


def _send(message: str) -> None:
    data = memoryview(message.encode("utf-8", "surrogatepass"))
    while data:
        data = data[os.write(RESULT_FD, data) :]


def _fail(kind: str, message: str) -> None:
    _send('{"ok":false,"kind":' + _quote(kind) + ',"message":' + _quote(message) + "}")


def _user_line(exc: BaseException) -> int | None:
    """Line of the innermost user-code frame of ``exc`` (or of a syntax error)."""
    if isinstance(exc, SyntaxError) and exc.filename == USER_FILE:
        return exc.lineno
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == USER_FILE:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _describe(exc: BaseException) -> str:
    try:
        text = str(exc.msg) if isinstance(exc, SyntaxError) else str(exc)
    except BaseException:
        text = "<unprintable>"
    name = type(exc).__name__
    message = f"{name}: {text}" if text else name
    line = _user_line(exc)
    return message if line is None else f"{message} (line {line})"


def _run(payload: dict[str, Any]) -> None:
    namespace: dict[str, Any] = {"__name__": "__sandbox__", "__builtins__": builtins}
    try:
        code = compile(payload["code"], USER_FILE, "exec")
    except (SyntaxError, ValueError) as exc:
        _fail("error", _describe(exc))
        return
    roots = tuple(p for p in sys.path if p.startswith("/") and not p.endswith(".zip"))
    roots += TIMEZONE_DATA  # read-only: lets zoneinfo work
    sys.addaudithook(_make_guard(roots))
    try:
        exec(code, namespace)
        main = namespace.get("main")
        if not callable(main):
            _fail("error", "The code must define a function named main")
            return
        result = main(**payload["inputs"])
    except MemoryError:
        _fail("memory", "Memory limit exceeded")
        return
    except SandboxViolation as exc:
        line = _user_line(exc)
        text = str(exc.args[0]) if exc.args else FILES
        _fail("violation", text if line is None else f"{text} (line {line})")
        return
    except BaseException as exc:
        _fail("error", _describe(exc))
        return
    if not isinstance(result, dict):
        _fail("result", f"Result must be a dict, got {type(result).__name__}")
        return
    out = ['{"ok":true,"result":']
    try:
        _dump(result, out, 0)
    except MemoryError:
        _fail("memory", "Memory limit exceeded")
        return
    except (TypeError, ValueError) as exc:
        _fail("result", f"Result is not JSON serializable: {exc}")
        return
    out.append("}")
    _send("".join(out))


def _main() -> None:
    try:
        payload = marshal.loads(sys.stdin.buffer.read())
        _run(payload)
    except MemoryError:
        _fail("memory", "Memory limit exceeded")
    os._exit(0)


if __name__ == "__main__":
    _main()
