"""Sandbox for the workflow ``code`` node: runs untrusted Python 3 / JavaScript code.

Every run is a separate process tree in a kernel jail built by a small privileged launcher
(see :mod:`headrace.sandbox._launcher`): new PID, mount, network, IPC and UTS namespaces; a
read-only tmpfs root with read-only bind mounts of the interpreter trees and a private tmpfs
scratch directory as the only writable place; a per-run unprivileged uid with
``no_new_privs`` and a seccomp deny-list (x86_64); RLIMIT_CPU/AS/NPROC/NOFILE limits; a
wall-clock deadline that kills the whole tree; capped output. On top of that each language
has an in-process layer: a Python audit hook and Node's permission model. The host must be
Linux and the server must run as root; otherwise every run fails closed with
:class:`SandboxError` (kind ``"unavailable"``).

Public API: :func:`run_code`, :func:`check_outputs`, :class:`SandboxLimits`,
:class:`SandboxError`, :class:`OutputValidationError`, :func:`sandbox_unavailable_reason`,
:func:`probe_sandbox`.
"""

from ._jail import sandbox_unavailable_reason
from ._types import ErrorKind, OutputValidationError, SandboxError, SandboxLimits
from .outputs import check_outputs, convert_scientific_notation
from .runner import Language, probe_sandbox, run_code

__all__ = [
    "ErrorKind",
    "Language",
    "OutputValidationError",
    "SandboxError",
    "SandboxLimits",
    "check_outputs",
    "convert_scientific_notation",
    "probe_sandbox",
    "run_code",
    "sandbox_unavailable_reason",
]
