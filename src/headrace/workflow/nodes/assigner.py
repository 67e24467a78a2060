"""`assigner`: writes conversation and loop variables (versions 1 and 2, dsl.md §4.13)."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

import orjson

from headrace.workflow.nodes.base import Node, NodeData, NodeError, NodeEvent, NodeResult
from headrace.workflow.variables import MISSING

SCALARS = (str, int, float, bool, dict)


def zero_of(value: Any) -> Any:
    """The cleared value of a variable of the same type."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return 0
    if isinstance(value, dict):
        return {}
    if isinstance(value, list):
        return []
    return ""


class AssignerV1Data(NodeData):
    """Version 1 configuration."""

    assigned_variable_selector: list[str] = []
    input_variable_selector: list[str] = []
    write_mode: str = "over-write"


class AssignerError(NodeError):
    """An assignment that cannot be applied."""


def _write(node: Node, selector: list[str], value: Any) -> None:
    node.pool.set(selector[0], selector[1], value)


class AssignerV1Node(Node):
    """over-write / append / clear one variable."""

    node_type = "assigner"
    version = "1"
    data_model = AssignerV1Data

    async def run(self) -> AsyncIterator[NodeEvent]:
        """Apply the write."""
        target = self.data.assigned_variable_selector
        current = self.pool.get(target)
        if current is MISSING:
            raise AssignerError("assigned variable not found")
        mode = self.data.write_mode
        if mode == "clear":
            value = zero_of(current)
        else:
            source = self.pool.get(self.data.input_variable_selector)
            if source is MISSING:
                raise AssignerError("input value not found")
            if mode == "append":
                if not isinstance(current, list):
                    raise AssignerError("append mode requires an array variable")
                value = [*current, source]
            else:
                value = source
        _write(self, target, value)
        yield NodeResult(process_data={"updated_variables": [{"selector": target, "value": value}]})


class Item(NodeData):
    """One version-2 operation."""

    variable_selector: list[str] = []
    input_type: str = "variable"
    operation: str = "over-write"
    value: Any = None


class AssignerV2Data(NodeData):
    """Version 2 configuration."""

    items: list[Item] = []


NO_VALUE_OPERATIONS = frozenset({"clear", "remove-first", "remove-last"})


def apply_operation(current: Any, operation: str, value: Any) -> Any:
    """The new value of a variable after one operation."""
    match operation:
        case "over-write" | "set":
            if operation == "set" and isinstance(current, dict) and isinstance(value, str):
                value = orjson.loads(value)
            return value
        case "clear":
            return zero_of(current)
        case "+=" | "-=" | "*=" | "/=":
            if isinstance(current, bool) or not isinstance(current, int | float):
                raise AssignerError(f"Operation {operation} requires a number variable")
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise AssignerError(f"Invalid input value {value!r} for operation {operation}")
            if operation == "+=":
                return current + value
            if operation == "-=":
                return current - value
            if operation == "*=":
                return current * value
            if value == 0:
                raise AssignerError("Division by zero is not allowed")
            return current / value
        case "append":
            if not isinstance(current, list):
                raise AssignerError("append requires an array variable")
            return [*current, value]
        case "extend":
            if not isinstance(current, list) or not isinstance(value, list):
                raise AssignerError("extend requires an array variable and an array value")
            return [*current, *value]
        case "remove-first":
            if not isinstance(current, list):
                raise AssignerError("remove-first requires an array variable")
            return current[1:]
        case "remove-last":
            if not isinstance(current, list):
                raise AssignerError("remove-last requires an array variable")
            return current[:-1]
    raise AssignerError(f"Unsupported operation: {operation}")


class AssignerV2Node(Node):
    """Applies each item in order (read after write)."""

    node_type = "assigner"
    version = "2"
    data_model = AssignerV2Data

    async def run(self) -> AsyncIterator[NodeEvent]:
        """Apply the items."""
        updated: list[dict[str, Any]] = []
        for item in self.data.items:
            selector = item.variable_selector
            current = self.pool.get(selector)
            if current is MISSING or len(selector) < 2:
                raise AssignerError(f"Variable {selector} not found")
            if item.operation in NO_VALUE_OPERATIONS:
                value = None
            elif item.input_type == "constant":
                if not isinstance(current, SCALARS):
                    raise AssignerError(f"Constant input is not allowed for variable {selector}")
                value = item.value
            else:
                value = self.pool.get(item.value or [])
                if value is MISSING or value is None:
                    continue
            new_value = apply_operation(copy.deepcopy(current), item.operation, value)
            _write(self, selector, new_value)
            updated.append({"selector": selector, "value": new_value})
        yield NodeResult(process_data={"updated_variables": updated})
