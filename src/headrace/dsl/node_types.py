"""The catalogue of workflow node types: what runs now, what arrives later (dsl.md §2, §4).

`normalize` rewrites legacy names (`LEGACY_RENAMES`); `validate` refuses every type that is
neither `SUPPORTED` nor a canvas note, with a one-line message from `refusal`. Refusals of
types that a later issue brings are `UnsupportedNodeError`s, so an importer can tell "not yet"
from "malformed".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from headrace.dsl.loader import DslError

SUPPORTED: frozenset[str] = frozenset(
    {
        "start",
        "end",
        "answer",
        "llm",
        "if-else",
        "code",
        "template-transform",
        "http-request",
        "variable-aggregator",
        "assigner",
        "parameter-extractor",
        "question-classifier",
        "list-operator",
        "document-extractor",
        "knowledge-retrieval",
        "iteration",
        "iteration-start",
        "loop",
        "loop-start",
        "loop-end",
    }
)
"""`data.type` strings Headrace's workflow engine runs."""

AGENTS_TOOLS_ISSUE = "agents/tools"


@dataclass(frozen=True, slots=True)
class LaterType:
    """A node type Headrace does not run yet: which issue brings it (None: not planned)."""

    issue: str | None
    what: str
    hint: str = ""


_TRIGGER = LaterType(None, "trigger nodes", "use a start node")
_PIPELINE = LaterType(None, "knowledge-pipeline nodes", "they belong to pipelines, not apps")

LATER: Mapping[str, LaterType] = {
    "tool": LaterType(AGENTS_TOOLS_ISSUE, "tool nodes"),
    "agent": LaterType(AGENTS_TOOLS_ISSUE, "agent nodes"),
    "human-input": LaterType(None, "human-input nodes"),
    "trigger-webhook": _TRIGGER,
    "trigger-schedule": _TRIGGER,
    "trigger-plugin": _TRIGGER,
    "datasource": _PIPELINE,
    "knowledge-index": _PIPELINE,
    "start-placeholder": LaterType(None, "editor placeholders", "choose a start node"),
    "datasource-empty": LaterType(None, "editor placeholders"),
}
"""Types that are refused now, with the issue that brings them (dsl.md §4.5, §4.11, §4.19-21)."""

LEGACY_RENAMES: Mapping[str, str] = {"variable-assigner": "variable-aggregator"}
"""Old `data.type` names rewritten on import (dsl.md §4.12, §8 rule 10)."""

CONTAINER_START: Mapping[str, str] = {"iteration": "iteration-start", "loop": "loop-start"}
"""Container type → the type of the child node its `start_node_id` must name."""

CONTAINER_ID_KEY: Mapping[str, str] = {"iteration": "iteration_id", "loop": "loop_id"}
"""Container type → the `data` key children carry the container id in (dsl.md §2.6)."""

START_WRAPPERS: Mapping[str, str] = {
    "iteration-start": "custom-iteration-start",
    "loop-start": "custom-loop-start",
    "loop-end": "custom-simple",
}
"""React-Flow wrapper `type` the editor uses for container-internal nodes (dsl.md §2.1)."""

NOTE_WRAPPER = "custom-note"
"""Wrapper `type` of canvas sticky notes, which never execute (dsl.md §2.7)."""


class UnsupportedNodeError(DslError):
    """A node whose type Headrace does not run yet (or will not run); one-line message."""

    def __init__(self, node_id: str, node_type: str, later: LaterType) -> None:
        self.node_id = node_id
        self.node_type = node_type
        self.issue = later.issue
        super().__init__(_later_message(node_id, node_type, later))


def one_line(text: str) -> str:
    """Text with line breaks escaped, so an operator message stays on one line."""
    return text.replace("\r", "\\r").replace("\n", "\\n")


def _later_message(node_id: str, node_type: str, later: LaterType) -> str:
    head = one_line(f"node {node_id} ({node_type}): ")
    if later.issue is not None:
        return head + f"{later.what} arrive with the {later.issue} issue; not available yet"
    hint = f"; {later.hint}" if later.hint else ""
    return head + f"{later.what} are not supported (not planned){hint}"


def node_type(node: Mapping[str, Any]) -> str:
    """The `data.type` of a graph node ("" when absent or not a string)."""
    data = node.get("data")
    value = data.get("type") if isinstance(data, Mapping) else None
    return value if isinstance(value, str) else ""


def is_note(node: Mapping[str, Any]) -> bool:
    """Whether a graph node is a canvas note: kept for export, never executed."""
    return node.get("type") == NOTE_WRAPPER


def is_executable(node: Mapping[str, Any]) -> bool:
    """Whether the engine instantiates this node (everything but notes)."""
    return not is_note(node)


def refusal(node_id: str, type_name: str) -> DslError | None:
    """The error refusing a node of this type, or None when Headrace runs it.

    Later-issue types give an `UnsupportedNodeError`; anything else unknown gives a plain
    `DslError` "node <id> (<type>): unknown node type".
    """
    if type_name in SUPPORTED:
        return None
    later = LATER.get(type_name)
    if later is not None:
        return UnsupportedNodeError(node_id, type_name, later)
    shown = type_name or "no type"
    return DslError(one_line(f"node {node_id} ({shown}): unknown node type"))


def refusal_message(node_id: str, type_name: str) -> str | None:
    """The one-line refusal for a node of this type, or None when Headrace runs it."""
    error = refusal(node_id, type_name)
    return None if error is None else str(error)
