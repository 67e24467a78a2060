"""Hand-written DSL fragments for the DSL tests (small graphs, written for these tests)."""

from __future__ import annotations

import itertools
from typing import Any


def node(node_id: Any, kind: str, parent: str | None = None, **data: Any) -> dict[str, Any]:
    """A graph node with wrapper type `custom` and `data.type` = kind."""
    built: dict[str, Any] = {
        "id": node_id,
        "type": "custom",
        "position": {"x": 0, "y": 0},
        "data": {"type": kind, "title": kind, **data},
    }
    if parent is not None:
        built["parentId"] = parent
    return built


def note(node_id: str) -> dict[str, Any]:
    """A canvas sticky note."""
    return {
        "id": node_id,
        "type": "custom-note",
        "data": {"type": "", "text": "{}", "theme": "blue", "title": "", "desc": ""},
    }


def edge(source: Any, target: Any, handle: Any = "source") -> dict[str, Any]:
    """An edge in the editor's shape."""
    return {
        "id": f"{source}-{handle}-{target}-target",
        "source": source,
        "sourceHandle": handle,
        "target": target,
        "targetHandle": "target",
        "type": "custom",
        "data": {},
    }


def graph_doc(
    nodes: list[dict[str, Any]],
    edges: list[dict[str, Any]] | None = None,
    mode: str = "workflow",
    **workflow: Any,
) -> dict[str, Any]:
    """A current-shape graph-app document."""
    return {
        "version": "0.6.0",
        "kind": "app",
        "app": {"name": "t", "mode": mode, "icon": "🤖", "icon_type": "emoji"},
        "workflow": {"graph": {"nodes": nodes, "edges": edges or []}, **workflow},
    }


def linear(*middle: dict[str, Any], mode: str = "workflow") -> dict[str, Any]:
    """start → middle… → end (answer for advanced-chat), wired with `source` edges."""
    last = node("end", "end", outputs=[]) if mode == "workflow" else node("ans", "answer")
    chain = [node("start", "start", variables=[]), *middle, last]
    edges = [edge(a["id"], b["id"]) for a, b in itertools.pairwise(chain)]
    return graph_doc(chain, edges, mode=mode)


def nodes_by_id(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Graph nodes of a document keyed by id."""
    return {n["id"]: n for n in document["workflow"]["graph"]["nodes"]}
