"""Refuse graphs Headrace cannot run, with one-line messages (dsl.md §2, §3.5, §3.6).

`validate_graph` expects a document that went through `normalize` and raises `DslError` (or
its subclass `UnsupportedNodeError` for node types that a later issue brings) at the first
problem found, in this order: node types, containers, edges, the entry node, cycles,
environment variables, conversation variables. Apps without a graph (chat, completion,
agent-chat) pass. Messages name the node as `node <id> (<type>)`. Beyond the spec, an edge
may not cross a container boundary (the editor never writes one).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from headrace.dsl.loader import DslError
from headrace.dsl.node_types import CONTAINER_START, is_note, node_type, one_line, refusal
from headrace.dsl.normalize import GRAPH_MODES
from headrace.dsl.normalize_graph import parent_of

MAX_VARIABLE_SIZE = 200 * 1024
"""Largest environment-variable value in bytes (Dify's `MAX_VARIABLE_SIZE`)."""

ENV_VALUE_TYPES = frozenset({"string", "number", "integer", "float", "secret"})
CONVERSATION_VALUE_TYPES = frozenset(
    {
        "string",
        "number",
        "integer",
        "float",
        "boolean",
        "object",
        "array[string]",
        "array[number]",
        "array[object]",
        "array[boolean]",
    }
)
MAX_DESCRIPTION = 255
ENV_SHOWN = "use string, number or secret"
CONVERSATION_SHOWN = "use string, number, boolean, object or array[string|number|object|boolean]"

Nodes = dict[str, Mapping[str, Any]]


def validate_graph(document: Mapping[str, Any]) -> None:
    """Raise `DslError` when a normalised workflow/advanced-chat document cannot run."""
    try:
        _validate(document)
    except DslError as exc:
        # Ids and names come from the file; keep the operator message on one line.
        exc.args = (one_line(str(exc)),)
        raise


def _validate(document: Mapping[str, Any]) -> None:
    app = document.get("app")
    mode = app.get("mode") if isinstance(app, Mapping) else None
    if not isinstance(mode, str) or mode not in GRAPH_MODES:
        return
    workflow = document.get("workflow")
    if not isinstance(workflow, Mapping):
        raise DslError("Missing workflow data for workflow/advanced chat app")
    graph = workflow.get("graph")
    if not isinstance(graph, Mapping):
        raise DslError("invalid DSL: workflow.graph must be a mapping")
    nodes, notes = _check_nodes(graph.get("nodes"))
    _check_containers(nodes)
    edges = _check_edges(graph.get("edges"), nodes, notes)
    _check_entry(nodes, str(mode))
    _check_cycles(nodes, edges)
    validate_environment_variables(workflow.get("environment_variables"))
    validate_conversation_variables(workflow.get("conversation_variables"))


def _name(node_id: str, node: Mapping[str, Any]) -> str:
    return f"node {node_id} ({node_type(node) or 'no type'})"


def _check_nodes(raw: Any) -> tuple[Nodes, set[str]]:
    if not isinstance(raw, list):
        raise DslError("invalid DSL: workflow.graph.nodes must be a list")
    nodes: Nodes = {}
    notes: set[str] = set()
    for index, node in enumerate(raw, start=1):
        if not isinstance(node, Mapping):
            raise DslError(f"graph node #{index}: not a mapping")
        node_id = node.get("id")
        if not isinstance(node_id, str) or not node_id:
            raise DslError(f"graph node #{index} ({node_type(node) or 'no type'}): missing id")
        if node_id in nodes or node_id in notes:
            raise DslError(f"{_name(node_id, node)}: duplicate node id")
        if is_note(node):
            notes.add(node_id)
            continue
        error = refusal(node_id, node_type(node))
        if error is not None:
            raise error
        nodes[node_id] = node
    return nodes, notes


def _check_edges(raw: Any, nodes: Nodes, notes: set[str]) -> list[tuple[str, str]]:
    if not isinstance(raw, list):
        raise DslError("invalid DSL: workflow.graph.edges must be a list")
    pairs: list[tuple[str, str]] = []
    for index, edge in enumerate(raw, start=1):
        if not isinstance(edge, Mapping):
            raise DslError(f"graph edge #{index}: not a mapping")
        edge_id = edge.get("id") if isinstance(edge.get("id"), str) else f"#{index}"
        ends = []
        for end in ("source", "target"):
            ref = edge.get(end)
            if isinstance(ref, str) and ref in notes:
                raise DslError(f"edge {edge_id}: {end} {ref} is a note, not a runnable node")
            if not isinstance(ref, str) or ref not in nodes:
                raise DslError(f"edge {edge_id}: unknown {end} node {ref}")
            ends.append(ref)
        if not isinstance(edge.get("sourceHandle"), str):
            raise DslError(f"edge {edge_id}: sourceHandle must be a string")
        scopes = [parent_of(nodes[end]) or "the top level" for end in ends]
        if scopes[0] != scopes[1]:
            raise DslError(
                f"edge {edge_id}: joins {ends[0]} (in {scopes[0]}) to {ends[1]} "
                f"(in {scopes[1]}); edges cannot cross a container boundary"
            )
        pairs.append((ends[0], ends[1]))
    return pairs


def _check_entry(nodes: Nodes, mode: str) -> None:
    starts = [node_id for node_id, node in nodes.items() if node_type(node) == "start"]
    if not starts:
        raise DslError(f"graph: no start node; {mode} apps need exactly one")
    if len(starts) > 1:
        second = starts[1]
        raise DslError(
            f"{_name(second, nodes[second])}: a second start node (the first is {starts[0]}); "
            f"{mode} apps need exactly one"
        )
    parent = parent_of(nodes[starts[0]])
    if parent is not None:
        raise DslError(f"{_name(starts[0], nodes[starts[0]])}: cannot sit inside {parent}")


def _check_containers(nodes: Nodes) -> None:
    for node_id, node in nodes.items():
        kind = node_type(node)
        parent = parent_of(node)
        if parent is not None and node_type(nodes.get(parent, {})) not in CONTAINER_START:
            raise DslError(f"{_name(node_id, node)}: parent {parent} is not an iteration or loop")
        for container, child_type in CONTAINER_START.items():
            if kind == child_type and (parent is None or node_type(nodes[parent]) != container):
                raise DslError(f"{_name(node_id, node)}: must sit inside a {container}")
        if kind == "loop-end" and not _inside_loop(node, nodes):
            raise DslError(f"{_name(node_id, node)}: must sit inside a loop")
        start_type = CONTAINER_START.get(kind)
        if start_type is not None:
            _check_start_node(node_id, node, start_type, nodes)


def _check_start_node(node_id: str, node: Mapping[str, Any], start_type: str, nodes: Nodes) -> None:
    start_id = node["data"].get("start_node_id")
    if not isinstance(start_id, str) or not start_id:
        raise DslError(f"{_name(node_id, node)}: start_node_id is missing")
    child = nodes.get(start_id)
    if child is None or parent_of(child) != node_id:
        raise DslError(f"{_name(node_id, node)}: start_node_id {start_id} is not a child of it")
    if node_type(child) != start_type:
        raise DslError(
            f"{_name(node_id, node)}: start_node_id {start_id} is a {node_type(child)} node, "
            f"not a {start_type} node"
        )


def _inside_loop(node: Mapping[str, Any], nodes: Nodes) -> bool:
    seen: set[str] = set()
    parent = parent_of(node)
    while parent is not None and parent in nodes and parent not in seen:
        if node_type(nodes[parent]) == "loop":
            return True
        seen.add(parent)
        parent = parent_of(nodes[parent])
    return False


def _check_cycles(nodes: Nodes, edges: list[tuple[str, str]]) -> None:
    """The graph must be acyclic; edges never cross containers, so each container's
    children form a separate sub-graph and a container is one node of its parent's graph."""
    successors: dict[str, list[str]] = {node_id: [] for node_id in nodes}
    for source, target in edges:
        successors[source].append(target)
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    for root in nodes:
        if root in state:
            continue
        path = [root]
        state[root] = 1
        stack = [iter(successors[root])]
        while stack:
            step = next(stack[-1], None)
            if step is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(step) == 1:
                raise DslError(_cycle_message(path[path.index(step) :], nodes))
            elif step not in state:
                state[step] = 1
                path.append(step)
                stack.append(iter(successors[step]))


def _cycle_message(cycle: list[str], nodes: Nodes) -> str:
    shown = [*cycle, cycle[0]]
    if len(shown) > 6:
        shown = [*shown[:3], "…", *shown[-2:]]
    return (
        f"{_name(cycle[0], nodes[cycle[0]])}: on a cycle ({' -> '.join(shown)}); "
        "edges must not loop back (repeat work with a loop node)"
    )


def _check_value(label: str, value_type: str, value: Any) -> None:
    if value_type in ("string", "secret"):
        ok = isinstance(value, str)
        kind = "string"
    elif value_type in ("number", "integer", "float"):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        kind = "number"
    elif value_type == "boolean":
        ok, kind = isinstance(value, bool), "boolean"
    elif value_type == "object":
        ok, kind = isinstance(value, Mapping), "object"
    else:
        ok, kind = isinstance(value, list), "array"
    if not ok:
        raise DslError(f"{label}: invalid {kind} value")


def _check_variables(
    raw: Any, what: str, allowed: frozenset[str], shown: str
) -> list[Mapping[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise DslError(f"invalid DSL: {what}s must be a list")
    checked: list[Mapping[str, Any]] = []
    for index, item in enumerate(raw, start=1):
        label = f"{what} #{index}"
        if not isinstance(item, Mapping):
            raise DslError(f"{label}: not a mapping")
        name = item.get("name")
        if not isinstance(name, str) or not name:
            raise DslError(f"{label}: missing name")
        label = f"{what} {name}"
        value_type = item.get("value_type")
        if not value_type:
            raise DslError(f"{label}: missing value type")
        if item.get("value") is None:
            raise DslError(f"{label}: missing value")
        if not isinstance(value_type, str) or value_type not in allowed:
            raise DslError(f"{label}: value type {value_type!r} is not allowed ({shown})")
        _check_value(label, str(value_type), item["value"])
        checked.append(item)
    return checked


def validate_environment_variables(raw: Any) -> None:
    """`workflow.environment_variables` rules (dsl.md §3.5)."""
    for item in _check_variables(raw, "environment variable", ENV_VALUE_TYPES, ENV_SHOWN):
        value = item["value"]
        text = value if isinstance(value, str) else json.dumps(value)
        if len(text.encode("utf-8")) > MAX_VARIABLE_SIZE:
            raise DslError(f"environment variable {item['name']}: value is larger than 200 KB")


def validate_conversation_variables(raw: Any) -> None:
    """`workflow.conversation_variables` rules (dsl.md §3.6)."""
    for item in _check_variables(
        raw, "conversation variable", CONVERSATION_VALUE_TYPES, CONVERSATION_SHOWN
    ):
        description = item.get("description")
        if isinstance(description, str) and len(description) > MAX_DESCRIPTION:
            raise DslError(
                f"conversation variable {item['name']}: description is longer than "
                f"{MAX_DESCRIPTION} characters"
            )
