"""Skip markers and helpers shared by the sandbox tests.

Hosts that cannot build the jail (not Linux, not root, or root without the privileges to
create namespaces and mounts) skip with the reason; any other setup failure is a bug and is
left to fail the tests.
"""

from __future__ import annotations

import asyncio
import os
import shutil

import pytest

from headrace.sandbox import probe_sandbox, sandbox_unavailable_reason


def _unavailable() -> str | None:
    reason = sandbox_unavailable_reason()
    if reason is not None:
        return reason
    probed = asyncio.run(probe_sandbox())
    if probed is not None and "Operation not permitted" in probed:
        return probed
    return None


UNAVAILABLE = _unavailable()

needs_sandbox = pytest.mark.skipif(
    UNAVAILABLE is not None, reason=f"sandbox unavailable: {UNAVAILABLE}"
)
needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")


def processes_of(uid: int) -> list[int]:
    """PIDs of the host's processes running as ``uid``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as status:
                for line in status:
                    if line.startswith("Uid:"):
                        if int(line.split()[1]) == uid:
                            found.append(int(entry))
                        break
        except OSError:
            continue
    return found
