"""Asynchronous execution of user code in the jail and interpretation of the outcome."""

from __future__ import annotations

import asyncio
import json
import marshal
import os
import re
import signal
from typing import Any, Final, Literal, get_args

from . import _jail
from ._launcher import SETUP_ERROR_MARK, SETUP_FAILED
from ._process import JailOutcome, execute
from ._types import ErrorKind, SandboxError, SandboxLimits
from .outputs import convert_scientific_notation

Language = Literal["python3", "javascript"]

_MAX_MESSAGE: Final = 2000
_MEMORY_SIGNS: Final = re.compile(
    r"heap out of memory|Allocation failed|out of memory|MemoryError|Cannot allocate memory",
    re.IGNORECASE,
)
_REPORTED_KINDS: Final = frozenset({"error", "violation", "memory", "result"})


def _encode_inputs(language: Language, code: str, inputs: dict[str, Any]) -> bytes:
    """Serialise code and inputs for the bootstrap's stdin (inputs as plain JSON values)."""
    if not isinstance(code, str):
        raise SandboxError("Code must be a string", "input")
    if not isinstance(inputs, dict):
        raise SandboxError(f"Inputs must be a dict, got {type(inputs).__name__}", "input")
    try:
        text = json.dumps({"code": code, "inputs": inputs}, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise SandboxError(f"Inputs must be JSON-serialisable: {exc}", "input") from exc
    if language == "javascript":
        return text.encode("utf-8", "surrogatepass")
    return marshal.dumps(json.loads(text))


async def run_code(
    language: Language,
    code: str,
    inputs: dict[str, Any],
    limits: SandboxLimits | None = None,
) -> dict[str, Any]:
    """Run ``main`` of ``code`` in a fresh jailed process and return its result object.

    Python code is called as ``main(**inputs)``, JavaScript as ``main(inputs)`` (a returned
    Promise is awaited). Scientific-notation strings in the result become numbers. Raises
    :class:`SandboxError` (with a one-line ``message`` and a ``kind``) on any failure,
    including when this host cannot provide the sandbox (fail closed).
    """
    if language not in get_args(Language):
        raise SandboxError(f"Unsupported code language: {language}", "input")
    limits = limits or SandboxLimits()
    reason = _jail.sandbox_unavailable_reason()
    if reason is not None:
        raise SandboxError(f"Sandbox unavailable: {reason}", "unavailable")
    if language == "javascript":
        await asyncio.to_thread(_jail.node_info)
    stdin = _encode_inputs(language, code, inputs)
    uid = _jail.allocate_uid()
    try:
        outcome = await _execute(language, stdin, limits, uid)
    finally:
        _jail.release_uid(uid)
    return _interpret(outcome, limits)


async def probe_sandbox() -> str | None:
    """Build one real jail; return why the sandbox cannot work here, or ``None`` if it can.

    Unlike :func:`sandbox_unavailable_reason` this catches hosts where the process is root
    but lacks the capabilities to create namespaces or mounts (e.g. an unprivileged
    container). Meant for start-up diagnostics and test skipping, not for every run.
    """
    try:
        await run_code("python3", "def main():\n    return {}\n", {})
    except SandboxError as exc:
        if exc.kind in ("unavailable", "setup"):
            return exc.message
        raise
    return None


async def run_in_jail(
    language: Language,
    args: list[str],
    limits: SandboxLimits | None = None,
    stdin: bytes = b"",
    keep_stdout: int = 65536,
) -> JailOutcome:
    """Run the interpreter with raw ``args`` in the kernel jail only (testing aid).

    No bootstrap, audit hook or Node permission model is applied, so tests can verify that
    the namespaces, mounts, uid and rlimits contain code on their own.
    """
    reason = _jail.sandbox_unavailable_reason()
    if reason is not None:
        raise SandboxError(f"Sandbox unavailable: {reason}", "unavailable")
    if language == "javascript":
        await asyncio.to_thread(_jail.node_info)
    uid = _jail.allocate_uid()
    try:
        return await _execute(language, stdin, limits or SandboxLimits(), uid, args, keep_stdout)
    finally:
        _jail.release_uid(uid)


async def _execute(
    language: Language,
    stdin: bytes,
    limits: SandboxLimits,
    uid: int,
    worker_args: list[str] | None = None,
    keep_stdout: int = 0,
) -> JailOutcome:
    read_fd, write_fd = os.pipe()
    try:
        plan = _jail.launch_plan(language, stdin, limits, uid, write_fd, worker_args)
    except BaseException:
        os.close(read_fd)
        os.close(write_fd)
        raise
    return await execute(
        plan.argv,
        plan.stdin,
        write_fd,
        read_fd,
        wall_seconds=limits.wall_seconds,
        max_output_bytes=limits.max_output_bytes,
        keep_stdout=keep_stdout,
    )


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= _MAX_MESSAGE else line[: _MAX_MESSAGE - 1] + "…"


def _seconds(value: float) -> str:
    return f"{value:g}s"


def _interpret(outcome: JailOutcome, limits: SandboxLimits) -> dict[str, Any]:
    """Turn the raw outcome into the result dict or the matching SandboxError."""
    if outcome.overflow:
        raise SandboxError(
            f"Output size limit exceeded (max {limits.max_output_bytes} bytes)", "output"
        )
    if outcome.timed_out:
        raise SandboxError(f"Execution timed out after {_seconds(limits.wall_seconds)}", "timeout")
    data = outcome.result
    if data.startswith(SETUP_ERROR_MARK) and outcome.returncode == SETUP_FAILED:
        detail = data[len(SETUP_ERROR_MARK) :].decode("utf-8", "replace")
        raise SandboxError(_one_line(f"Sandbox setup failed: {detail}"), "setup")
    if data:
        return _interpret_message(data)
    raise _crash_error(outcome, limits)


def _interpret_message(data: bytes) -> dict[str, Any]:
    try:
        message = json.loads(data)
    except (ValueError, RecursionError):
        raise SandboxError("The code produced a malformed result", "crash") from None
    if not isinstance(message, dict):
        raise SandboxError("The code produced a malformed result", "crash")
    if message.get("ok") is True:
        result = message.get("result")
        if not isinstance(result, dict):
            raise SandboxError(f"Result must be a dict, got {type(result).__name__}", "result")
        try:
            converted: dict[str, Any] = convert_scientific_notation(result)
        except RecursionError:
            raise SandboxError("Result is nested too deeply", "result") from None
        return converted
    kind = message.get("kind")
    text = message.get("message")
    error_kind: ErrorKind = kind if kind in _REPORTED_KINDS else "error"
    raise SandboxError(_one_line(str(text) if text else "The code failed"), error_kind)


def _crash_error(outcome: JailOutcome, limits: SandboxLimits) -> SandboxError:
    """Explain a run that ended without a message on the result channel."""
    code = outcome.returncode
    stderr = outcome.stderr.decode("utf-8", "replace")
    signum = code - 128 if code is not None and code > 128 else None
    cpu_kill = signum == signal.SIGKILL and outcome.elapsed >= limits.cpu_seconds * 0.9
    if signum == signal.SIGXCPU or cpu_kill:
        return SandboxError(f"CPU time limit exceeded ({_seconds(limits.cpu_seconds)})", "cpu")
    if _MEMORY_SIGNS.search(stderr):
        return SandboxError("Memory limit exceeded", "memory")
    last = next((ln for ln in reversed(stderr.splitlines()) if ln.strip()), "")
    if signum is not None:
        try:
            status = f"killed by {signal.Signals(signum).name}"
        except ValueError:
            status = f"killed by signal {signum}"
    else:
        status = f"exit status {code}"
    detail = f": {last.strip()}" if last else ""
    return SandboxError(_one_line(f"The code exited unexpectedly ({status}){detail}"), "crash")
