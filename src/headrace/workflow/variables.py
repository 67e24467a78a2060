"""The variable pool: node outputs, `sys.*`, `env.*`, `conversation.*`, addressed by selectors.

A selector is `[namespace_or_node_id, name, key, ...]`; keys past the second walk into objects,
or name a file attribute (dsl.md §3.1).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

FILE_ATTRIBUTES = frozenset(
    {"type", "size", "name", "mime_type", "transfer_method", "url", "extension", "related_id"}
)
FILE_ATTRIBUTE_ALIASES = {"name": "filename"}


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()


def is_file(value: Any) -> bool:
    """Whether a value is a file object."""
    return isinstance(value, Mapping) and value.get("dify_model_identity") == "__dify__file__"


class VariablePool:
    """Values of one run (or one iteration round), two-level keyed: owner, then name."""

    def __init__(self, values: dict[str, dict[str, Any]] | None = None) -> None:
        self._values: dict[str, dict[str, Any]] = values if values is not None else {}

    def set(self, owner: str, name: str, value: Any) -> None:
        """Store one value."""
        self._values.setdefault(owner, {})[name] = value

    def set_outputs(self, owner: str, outputs: Mapping[str, Any]) -> None:
        """Store every output of a node (replacing earlier ones)."""
        self._values[owner] = dict(outputs)

    def clear_owner(self, owner: str) -> None:
        """Forget a node's outputs (loop rounds start clean)."""
        self._values.pop(owner, None)

    def owner_values(self, owner: str) -> dict[str, Any]:
        """Every value stored under an owner."""
        return dict(self._values.get(owner, {}))

    def get(self, selector: Sequence[Any]) -> Any:
        """The value at `selector`, or `MISSING`."""
        if len(selector) < 2:
            return MISSING
        owner, name = str(selector[0]), str(selector[1])
        values = self._values.get(owner)
        if values is None or name not in values:
            return MISSING
        value = values[name]
        for key in selector[2:]:
            value = _walk(value, str(key))
            if value is MISSING:
                return MISSING
        return value

    def has(self, selector: Sequence[Any]) -> bool:
        """Whether `selector` resolves."""
        return self.get(selector) is not MISSING

    def copy(self) -> VariablePool:
        """A deep copy (iteration rounds run on their own copy)."""
        return VariablePool(copy.deepcopy(self._values))

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """The raw mapping (shared, not copied)."""
        return self._values


def _walk(value: Any, key: str) -> Any:
    if is_file(value):
        if key not in FILE_ATTRIBUTES:
            return MISSING
        return value.get(FILE_ATTRIBUTE_ALIASES.get(key, key), MISSING)
    if isinstance(value, Mapping):
        return value.get(key, MISSING)
    return MISSING
