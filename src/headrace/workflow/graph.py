"""The executable graph: nodes, edges with source handles, entry node, container sub-graphs.

Built from the canonical DSL graph (`dsl/normalize.py` output). Sticky notes are dropped;
children of an iteration or loop live only in that container's sub-graph.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

ENTRY_TYPES = frozenset({"start"})
CONTAINER_START_TYPES = frozenset({"iteration-start", "loop-start"})


class GraphError(ValueError):
    """The graph cannot run as given."""


@dataclass(frozen=True, slots=True)
class NodeSpec:
    """One node's identity and configuration."""

    id: str
    type: str
    title: str
    data: Mapping[str, Any]
    container: str | None = None

    @property
    def version(self) -> str:
        """The implementation version the DSL pins (default "1")."""
        return str(self.data.get("version") or "1")


@dataclass(frozen=True, slots=True)
class Edge:
    """A directed edge leaving `source` through `handle`."""

    source: str
    handle: str
    target: str


@dataclass(slots=True)
class Graph:
    """Nodes and edges of one (sub-)graph, with its root."""

    nodes: dict[str, NodeSpec]
    edges: list[Edge]
    root: str
    outgoing: dict[str, list[Edge]] = field(default_factory=dict)
    incoming: dict[str, list[Edge]] = field(default_factory=dict)
    all_nodes: dict[str, NodeSpec] = field(default_factory=dict)
    all_edges: list[Edge] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.outgoing = {node_id: [] for node_id in self.nodes}
        self.incoming = {node_id: [] for node_id in self.nodes}
        for edge in self.edges:
            self.outgoing[edge.source].append(edge)
            self.incoming[edge.target].append(edge)

    @classmethod
    def from_dsl(cls, graph: Mapping[str, Any]) -> Graph:
        """The top-level graph of a canonical DSL `workflow.graph`."""
        specs = list(_node_specs(graph.get("nodes") or []))
        edges = list(_edges(graph.get("edges") or []))
        nodes = {spec.id: spec for spec in specs}
        top = {i: s for i, s in nodes.items() if s.container is None}
        roots = [s.id for s in top.values() if s.type in ENTRY_TYPES]
        if not roots:
            raise GraphError("the workflow has no start node")
        built = cls(
            nodes=top,
            edges=[e for e in edges if e.source in top and e.target in top],
            root=roots[0],
            all_nodes=nodes,
            all_edges=edges,
        )
        return built

    def subgraph(self, container_id: str, start_node_id: str) -> Graph:
        """The child graph of an iteration or loop, rooted at its start node."""
        children = {i: s for i, s in self.all_nodes.items() if s.container == container_id}
        if start_node_id not in children:
            raise GraphError(f"field start_node_id in {container_id} not found")
        return Graph(
            nodes=children,
            edges=[e for e in self.all_edges if e.source in children and e.target in children],
            root=start_node_id,
            all_nodes=self.all_nodes,
            all_edges=self.all_edges,
        )


def _node_specs(raw_nodes: Iterable[Any]) -> Iterable[NodeSpec]:
    for raw in raw_nodes:
        if not isinstance(raw, Mapping) or raw.get("type") == "custom-note":
            continue
        data = raw.get("data") or {}
        node_type = str(data.get("type") or "")
        if not node_type:
            continue
        node_id = str(raw["id"])
        container = raw.get("parentId") or data.get("iteration_id") or data.get("loop_id")
        if container is not None and str(container) == node_id:
            container = None
        yield NodeSpec(
            id=node_id,
            type=node_type,
            title=str(data.get("title") or ""),
            data=data,
            container=str(container) if container else None,
        )


def _edges(raw_edges: Iterable[Any]) -> Iterable[Edge]:
    for raw in raw_edges:
        if not isinstance(raw, Mapping):
            continue
        handle = raw.get("sourceHandle", "source")
        if handle is None:
            handle = "source"
        if not isinstance(handle, str):
            continue
        yield Edge(str(raw["source"]), handle, str(raw["target"]))
