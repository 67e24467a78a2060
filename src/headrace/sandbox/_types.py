"""Public value types of the sandbox: limits and errors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ErrorKind = Literal[
    "unavailable",  # the host cannot provide the jail (not root, not Linux, ...)
    "setup",  # building the jail failed
    "timeout",  # wall-clock limit
    "cpu",  # CPU-time limit
    "memory",  # memory limit
    "output",  # result or console output too large
    "violation",  # refused operation (network, file system, processes, ...)
    "error",  # the user code raised / threw
    "result",  # main() returned something that is not a JSON object
    "crash",  # the interpreter died without reporting
    "input",  # the inputs cannot be passed to the code
    "validation",  # check_outputs() rejected the result
]


@dataclass(frozen=True, slots=True)
class SandboxLimits:
    """Resource limits for one sandboxed run.

    ``max_processes`` counts processes *and threads* of the run (RLIMIT_NPROC of the run's
    private uid); Node needs about a dozen threads of its own. ``scratch_mb`` is the size of
    the writable scratch directory (a tmpfs at ``/tmp``). For JavaScript, ``memory_mb``
    caps the V8 heap; the address-space limit additionally allows V8's fixed reservations
    (see :data:`headrace.sandbox._jail.NODE_ADDRESS_SPACE_OVERHEAD_MB`). The CPU limit is
    enforced in whole seconds (rounded up).
    """

    cpu_seconds: float = 10
    wall_seconds: float = 15
    memory_mb: int = 256
    max_output_bytes: int = 1_000_000
    max_processes: int = 32
    scratch_mb: int = 16

    def __post_init__(self) -> None:
        for name in ("cpu_seconds", "wall_seconds", "memory_mb", "max_output_bytes"):
            if getattr(self, name) <= 0:
                raise ValueError(f"SandboxLimits.{name} must be positive")
        if self.max_processes < 1 or self.scratch_mb < 1:
            raise ValueError("SandboxLimits.max_processes and scratch_mb must be at least 1")


class SandboxError(Exception):
    """A sandboxed run (or the validation of its outputs) failed.

    ``message`` is a single human-readable line suitable for a node's ``error`` field;
    ``kind`` classifies the failure for callers and tests.
    """

    def __init__(self, message: str, kind: ErrorKind = "error") -> None:
        super().__init__(message)
        self.message = message
        self.kind: ErrorKind = kind


class OutputValidationError(SandboxError):
    """The code's result does not satisfy the declared outputs (spec §4.8 output checks)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "validation")
