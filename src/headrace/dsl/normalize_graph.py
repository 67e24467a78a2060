"""Graph-level rules of the importer checklist (dsl.md §2, §8 rules 2-10, 19).

`normalize_graph` rewrites `workflow.graph` in place: string ids, default wrapper types and
handles, legacy type names, synthesized container start nodes, container ids on children and
`[<start-id>, "sys.x"]` selectors rewritten to `["sys", "x"]`. Notes are kept untouched apart
from their ids.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from headrace.dsl.node_types import (
    CONTAINER_ID_KEY,
    CONTAINER_START,
    LEGACY_RENAMES,
    NOTE_WRAPPER,
    START_WRAPPERS,
    is_note,
    node_type,
)
from headrace.dsl.normalize_nodes import normalize_node_data

_NOT_TEMPLATES = frozenset({"code", "template", "jinja2_text"})
"""String fields that are code or Jinja2, never `{{#…#}}` templates: left verbatim."""

DEFAULT_VIEWPORT = {"x": 0, "y": 0, "zoom": 1}


def _as_id(value: Any) -> Any:
    """Numeric-looking ids loaded as numbers become strings (§8 rule 4)."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return str(value)
    return value


def parent_of(node: Mapping[str, Any]) -> str | None:
    """The id of the container a node sits in: wrapper `parentId`, else `data.*_id`."""
    parent = node.get("parentId")
    if isinstance(parent, str) and parent:
        return parent
    data = node.get("data")
    if isinstance(data, Mapping):
        for key in ("iteration_id", "loop_id"):
            value = data.get(key)
            if isinstance(value, str) and value:
                return value
    return None


def normalize_graph(graph: dict[str, Any]) -> None:
    """Normalise a `workflow.graph` mapping in place (idempotent)."""
    if not isinstance(graph.get("nodes"), list):
        graph["nodes"] = []
    if not isinstance(graph.get("edges"), list):
        graph["edges"] = []
    if not isinstance(graph.get("viewport"), dict):
        graph["viewport"] = dict(DEFAULT_VIEWPORT)
    nodes: list[Any] = graph["nodes"]
    for node in nodes:
        if isinstance(node, dict):
            _normalize_node(node)
    by_id = {n["id"]: n for n in nodes if isinstance(n, dict) and isinstance(n.get("id"), str)}
    edges = (_normalize_edge(edge, by_id) for edge in graph["edges"])
    graph["edges"] = [edge for edge in edges if edge is not None]
    _repair_containers(nodes, graph["edges"], by_id)
    _set_container_ids(nodes, by_id)
    _rewrite_references(nodes, by_id)


def _normalize_node(node: dict[str, Any]) -> None:
    node["id"] = _as_id(node.get("id"))
    if "parentId" in node:
        node["parentId"] = _as_id(node["parentId"])
    data = node.get("data")
    if not isinstance(data, dict):
        data = node["data"] = {}
    if is_note(node):
        data.setdefault("type", "")
        return
    kind = data.get("type")
    if isinstance(kind, str) and kind in LEGACY_RENAMES:
        data["type"] = kind = LEGACY_RENAMES[kind]
    if not node.get("type"):
        node["type"] = START_WRAPPERS.get(kind, "custom") if isinstance(kind, str) else "custom"
    for key in ("iteration_id", "loop_id", "start_node_id"):
        if key in data:
            data[key] = _as_id(data[key])
    normalize_node_data(data)


def _normalize_edge(edge: Any, by_id: dict[str, dict[str, Any]]) -> Any:
    """The edge in canonical form, or None when Dify would drop it (non-string handle)."""
    if not isinstance(edge, dict):
        return edge
    edge["source"] = _as_id(edge.get("source"))
    edge["target"] = _as_id(edge.get("target"))
    if "sourceHandle" not in edge:
        edge["sourceHandle"] = "source"
    if not isinstance(edge["sourceHandle"], str):
        return None
    if not isinstance(edge.get("targetHandle"), str):
        edge["targetHandle"] = "target"
    edge.setdefault("type", "custom")
    edge["id"] = _as_id(edge.get("id"))
    if not isinstance(edge["id"], str):
        edge["id"] = (
            f"{edge['source']}-{edge['sourceHandle']}-{edge['target']}-{edge['targetHandle']}"
        )
    data = edge.get("data")
    if isinstance(data, dict):
        for key, end in (("sourceType", "source"), ("targetType", "target")):
            old = data.get(key)
            if isinstance(old, str) and old in LEGACY_RENAMES and isinstance(edge[end], str):
                data[key] = node_type(by_id.get(edge[end], {})) or LEGACY_RENAMES[old]
    return edge


def _repair_containers(
    nodes: list[Any], edges: list[Any], by_id: dict[str, dict[str, Any]]
) -> None:
    """Give legacy iterations/loops a start child and point `start_node_id` at it (rule 7)."""
    k = 0
    for container in list(nodes):
        if not isinstance(container, dict) or is_note(container):
            continue
        kind = node_type(container)
        start_type = CONTAINER_START.get(kind)
        cid = container.get("id")
        if start_type is None or not isinstance(cid, str):
            continue
        data = container["data"]
        current = data.get("start_node_id")
        target = by_id.get(current) if isinstance(current, str) else None
        if target is not None and node_type(target) == start_type:
            continue
        while f"{cid}start{k}" in by_id:
            k += 1
        new_id = f"{cid}start{k}"
        k += 1
        flag, id_key = _container_flags(kind)
        start = {
            "id": new_id,
            "type": START_WRAPPERS[start_type],
            "parentId": cid,
            "position": {"x": 24, "y": 68},
            "data": {"type": start_type, "title": "", "desc": "", flag: True},
        }
        nodes.append(start)
        by_id[new_id] = start
        data["start_node_id"] = new_id
        if target is not None and parent_of(target) == cid:
            edges.append(_start_edge(new_id, target, cid, start_type, flag, id_key))


def _container_flags(kind: str) -> tuple[str, str]:
    return ("isInIteration", "iteration_id") if kind == "iteration" else ("isInLoop", "loop_id")


def _start_edge(
    start_id: str, child: dict[str, Any], cid: str, start_type: str, flag: str, id_key: str
) -> dict[str, Any]:
    return {
        "id": f"{start_id}-source-{child['id']}-target",
        "source": start_id,
        "sourceHandle": "source",
        "target": child["id"],
        "targetHandle": "target",
        "type": "custom",
        "zIndex": 1002,
        "data": {
            flag: True,
            id_key: cid,
            "sourceType": start_type,
            "targetType": node_type(child),
        },
    }


def _set_container_ids(nodes: list[Any], by_id: dict[str, dict[str, Any]]) -> None:
    """Children lacking `data.iteration_id` / `data.loop_id` get it from `parentId` (rule 8)."""
    for node in nodes:
        if not isinstance(node, dict) or is_note(node):
            continue
        parent = node.get("parentId")
        if not isinstance(parent, str) or parent not in by_id:
            continue
        key = CONTAINER_ID_KEY.get(node_type(by_id[parent]))
        if key is not None and not node["data"].get(key):
            node["data"][key] = parent


def _rewrite_references(nodes: list[Any], by_id: dict[str, dict[str, Any]]) -> None:
    """`[<start>, "sys.x"]` → `["sys", "x"]`, `{{#<start>.sys.x#}}` → `{{#sys.x#}}` (rule 19);
    numeric selector heads naming a node become strings (rule 4)."""
    starts = [i for i, n in by_id.items() if node_type(n) == "start" and not is_note(n)]
    pattern = None
    if starts:
        alternatives = "|".join(re.escape(s) for s in starts)
        pattern = re.compile(r"\{\{#(?:" + alternatives + r")\.sys\.(?=[A-Za-z_])")
    for node in nodes:
        if isinstance(node, dict) and node.get("type") != NOTE_WRAPPER:
            node["data"] = _rewrite(node["data"], frozenset(starts), pattern, by_id)


def _rewrite(
    value: Any,
    starts: frozenset[str],
    pattern: re.Pattern[str] | None,
    by_id: dict[str, dict[str, Any]],
) -> Any:
    if isinstance(value, dict):
        return {
            key: item
            if key in _NOT_TEMPLATES and isinstance(item, str)
            else _rewrite(item, starts, pattern, by_id)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return _rewrite_list(value, starts, pattern, by_id)
    if isinstance(value, str) and pattern is not None and "{{#" in value:
        return pattern.sub("{{#sys.", value)
    return value


def _rewrite_list(
    value: list[Any],
    starts: frozenset[str],
    pattern: re.Pattern[str] | None,
    by_id: dict[str, dict[str, Any]],
) -> list[Any]:
    if len(value) >= 2 and all(isinstance(part, str) for part in value[1:]):
        head = value[0]
        if isinstance(head, int) and not isinstance(head, bool) and str(head) in by_id:
            value = [str(head), *value[1:]]
            head = value[0]
        second = value[1]
        if isinstance(head, str) and head in starts and second.startswith("sys.") and second[4:]:
            return ["sys", second[4:], *value[2:]]
    return [_rewrite(item, starts, pattern, by_id) for item in value]
