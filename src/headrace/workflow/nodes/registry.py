"""Node classes by type string and version; resolution picks the exact version, else the
highest registered one (dsl.md §2.2)."""

from __future__ import annotations

from collections.abc import Iterable

from headrace.workflow.nodes.base import Node


class NodeRegistry:
    """The node types this process can run."""

    def __init__(self, classes: Iterable[type[Node]] = ()) -> None:
        self._classes: dict[str, dict[str, type[Node]]] = {}
        for cls in classes:
            self.register(cls)

    def register(self, cls: type[Node]) -> None:
        """Add a node class; a duplicate (type, version) is a start-up error."""
        versions = self._classes.setdefault(cls.node_type, {})
        if cls.version in versions:
            raise ValueError(f"duplicate node type {cls.node_type} version {cls.version}")
        versions[cls.version] = cls

    def resolve(self, node_type: str, version: str = "1") -> type[Node] | None:
        """The class for a type and pinned version, or None when the type is unknown."""
        versions = self._classes.get(node_type)
        if not versions:
            return None
        if version in versions:
            return versions[version]
        return versions[max(versions, key=_version_key)]

    def types(self) -> set[str]:
        """Registered type strings."""
        return set(self._classes)


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) if part.isdigit() else 0 for part in version.split("."))
