"""Workflow event streams as comparable tokens, and a matcher that tolerates the
nondeterministic interleaving of parallel branches (per-branch order + multiset)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from tests.support.sse import Frame

NODE_EVENTS = ("node_started", "node_finished", "node_retry")
CONTAINER_EVENTS = (
    "iteration_started",
    "iteration_next",
    "iteration_completed",
    "loop_started",
    "loop_next",
    "loop_completed",
)


@dataclass(frozen=True)
class Par:
    """Branches whose events interleave: each branch keeps its order, together they fill a
    contiguous stretch of the stream."""

    branches: tuple[tuple[str, ...], ...]

    def __init__(self, *branches: Iterable[str]) -> None:
        object.__setattr__(self, "branches", tuple(tuple(b) for b in branches))


Expected = Sequence[str | Par]


def events_of(frames: Sequence[Frame]) -> list[dict[str, Any]]:
    """The parsed `data:` events (pings dropped)."""
    return [f.data for f in frames if f.data is not None]


def tokens(frames: Sequence[Frame]) -> list[str]:
    """One token per frame.

    `ping`; `node_started:<node_id>` (plus `@<round>` inside an iteration/loop, the round taken
    from the matching node_finished's execution_metadata); `iteration_next:<id>#<index>`;
    `iteration_started:<id>`; `text_chunk`; `workflow_started`; ...
    """
    rounds: dict[str, int] = {}
    for event in events_of(frames):
        if event["event"] in ("node_finished", "node_retry"):
            meta = event["data"].get("execution_metadata") or {}
            index = meta.get("iteration_index", meta.get("loop_index"))
            if index is not None:
                rounds[event["data"]["id"]] = index
    out = []
    for frame in frames:
        if frame.data is None:
            out.append(frame.name)
            continue
        name = frame.data["event"]
        data = frame.data.get("data") or {}
        if name in NODE_EVENTS:
            token = f"{name}:{data['node_id']}"
            if data["id"] in rounds:
                token += f"@{rounds[data['id']]}"
        elif name in ("iteration_next", "loop_next"):
            token = f"{name}:{data['node_id']}#{data['index']}"
        elif name in CONTAINER_EVENTS:
            token = f"{name}:{data['node_id']}"
        else:
            token = name
        out.append(token)
    return out


def node(node_id: str, at: int | None = None) -> list[str]:
    """node_started + node_finished of one node (in round `at` of a container)."""
    suffix = "" if at is None else f"@{at}"
    return [f"node_started:{node_id}{suffix}", f"node_finished:{node_id}{suffix}"]


def nodes(*node_ids: str, at: int | None = None) -> list[str]:
    """Several nodes in sequence."""
    return [t for n in node_ids for t in node(n, at)]


def run(*body: str | Par | list[str | Par]) -> list[str | Par]:
    """ping, workflow_started, the body, workflow_finished."""
    flat: list[str | Par] = ["ping", "workflow_started"]
    for part in body:
        flat.extend(part if isinstance(part, list) else [part])
    flat.append("workflow_finished")
    return flat


def _subsequence(needle: Sequence[str], hay: Sequence[str]) -> bool:
    it = iter(hay)
    return all(any(x == y for y in it) for x in needle)


def mismatch(actual: Sequence[str], expected: Expected) -> str | None:
    """None when `actual` matches `expected`, else a description of the first difference."""
    pos = 0
    for item in expected:
        if isinstance(item, str):
            if pos >= len(actual) or actual[pos] != item:
                got = actual[pos] if pos < len(actual) else "<end>"
                return f"at {pos}: expected {item!r}, got {got!r}"
            pos += 1
            continue
        size = sum(len(b) for b in item.branches)
        stretch = list(actual[pos : pos + size])
        wanted = Counter(t for b in item.branches for t in b)
        if Counter(stretch) != wanted:
            return f"at {pos}: parallel stretch {stretch} is not the multiset {sorted(wanted)}"
        for branch in item.branches:
            if not _subsequence(branch, stretch):
                return f"at {pos}: branch {list(branch)} out of order in {stretch}"
        pos += size
    if pos != len(actual):
        return f"{len(actual) - pos} unexpected trailing events: {list(actual[pos:])}"
    return None


def assert_sequence(actual: Sequence[str], expected: Expected) -> None:
    """Assert with the whole streams shown on failure."""
    problem = mismatch(actual, expected)
    assert problem is None, f"{problem}\nactual:   {list(actual)}\nexpected: {list(expected)}"


def assert_well_formed(frames: Sequence[Frame]) -> dict[str, Any]:
    """ping + workflow_started first, workflow_finished last, node events paired (unless the
    run failed or stopped); returns workflow_finished.data."""
    names = [f.name for f in frames]
    assert names[:2] == ["ping", "workflow_started"], names[:5]
    events = events_of(frames)
    assert events[-1]["event"] == "workflow_finished", names[-5:]
    finished = events[-1]["data"]
    assert finished["status"] in ("succeeded", "failed", "stopped", "partial-succeeded")
    started = {e["data"]["id"] for e in events if e["event"] == "node_started"}
    ended = {e["data"]["id"] for e in events if e["event"] == "node_finished"}
    assert ended <= started
    if finished["status"] in ("succeeded", "partial-succeeded"):
        assert started == ended, "a node started but never finished"
    run_ids = {e["workflow_run_id"] for e in events}
    tasks = {e["task_id"] for e in events}
    assert len(run_ids) == 1 and len(tasks) == 1
    return finished
