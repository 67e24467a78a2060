"""Run one launcher process on the event loop: feed stdin, collect capped output, enforce the
wall-clock deadline and kill the whole process group when needed."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from dataclasses import dataclass
from typing import Final

_RESULT: Final = 3  # key of the result channel (a separate pipe, not the child's fd 3 here)
_KEEP_STDERR: Final = 16384


@dataclass
class JailOutcome:
    """Raw facts about one finished run."""

    returncode: int | None = None
    result: bytes = b""
    stdout: bytes = b""
    stderr: bytes = b""
    timed_out: bool = False
    overflow: bool = False
    elapsed: float = 0.0


class _Run(asyncio.SubprocessProtocol):
    """Collects stdout, stderr and the result channel of one launcher with size caps.

    Each channel may carry at most ``cap`` bytes; past that the process group is killed and
    ``overflow`` is set. ``done`` resolves when the process has exited and every channel is
    closed; ``exited`` when the process has exited.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, cap: int, keep_stdout: int, stdin: bytes):
        self._cap = cap
        self._keep = {1: keep_stdout, 2: _KEEP_STDERR, _RESULT: cap}
        self.data = {fd: bytearray() for fd in self._keep}
        self._total = dict.fromkeys(self._keep, 0)
        self._open = set(self._keep)
        self._stdin = stdin
        self.overflow = False
        self.transport: asyncio.SubprocessTransport | None = None
        self.exited: asyncio.Future[None] = loop.create_future()
        self.done: asyncio.Future[None] = loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.SubprocessTransport)
        self.transport = transport
        pipe = transport.get_pipe_transport(0)
        if isinstance(pipe, asyncio.WriteTransport):
            pipe.write(self._stdin)
            pipe.close()  # flushes the buffer first; a broken pipe is reported, not raised

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        self.feed(fd, data)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if fd != 0:
            self.closed(fd)

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)
        self._check()

    def feed(self, channel: int, data: bytes) -> None:
        """Account for ``data`` on ``channel``; kill the run once a channel exceeds the cap."""
        if self.overflow:
            return
        self._total[channel] += len(data)
        room = self._keep[channel] - len(self.data[channel])
        if room > 0:
            self.data[channel] += data[:room]
        if self._total[channel] > self._cap:
            self.overflow = True
            self.kill()

    def closed(self, channel: int) -> None:
        """A channel reached end of file."""
        self._open.discard(channel)
        self._check()

    def _check(self) -> None:
        if self.exited.done() and not self._open and not self.done.done():
            self.done.set_result(None)

    def kill(self) -> None:
        """SIGKILL the launcher's process group (the launcher, the jail's init and worker)."""
        transport = self.transport
        if transport is not None and transport.get_returncode() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(transport.get_pid(), signal.SIGKILL)


class _ResultPipe(asyncio.Protocol):
    """Forwards the result pipe into the run's collector."""

    def __init__(self, run: _Run) -> None:
        self._run = run

    def data_received(self, data: bytes) -> None:
        self._run.feed(_RESULT, data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._run.closed(_RESULT)


async def execute(
    argv: list[str],
    stdin: bytes,
    result_write_fd: int,
    result_read_fd: int,
    *,
    wall_seconds: float,
    max_output_bytes: int,
    keep_stdout: int = 0,
) -> JailOutcome:
    """Start ``argv`` in a new session and collect its outcome.

    ``result_write_fd`` is passed to the child (and closed here); ``result_read_fd`` is owned
    by this function from the start.
    """
    loop = asyncio.get_running_loop()
    run = _Run(loop, max_output_bytes, keep_stdout, stdin)
    result_file = os.fdopen(result_read_fd, "rb", 0)
    try:
        transport, _ = await loop.subprocess_exec(
            lambda: run,
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            pass_fds=(result_write_fd,),
            start_new_session=True,
        )
    except BaseException:
        result_file.close()
        raise
    finally:
        os.close(result_write_fd)
    started = time.monotonic()
    outcome = JailOutcome()
    result_transport: asyncio.BaseTransport | None = None
    try:
        result_transport, _ = await loop.connect_read_pipe(lambda: _ResultPipe(run), result_file)
        try:
            async with asyncio.timeout(wall_seconds):
                await asyncio.shield(run.done)
        except TimeoutError:
            outcome.timed_out = True
            run.kill()
        await asyncio.shield(run.exited)
    finally:
        run.kill()
        transport.close()
        if result_transport is not None:
            result_transport.close()
        else:
            result_file.close()
    outcome.elapsed = time.monotonic() - started
    outcome.returncode = transport.get_returncode()
    outcome.overflow = run.overflow
    outcome.result = bytes(run.data[_RESULT])
    outcome.stdout = bytes(run.data[1])
    outcome.stderr = bytes(run.data[2])
    return outcome
