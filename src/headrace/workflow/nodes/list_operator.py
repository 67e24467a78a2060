"""`list-operator`: filter, extract, order and limit an array (dsl.md §4.17)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from headrace.workflow.conditions import ConditionError, compare
from headrace.workflow.nodes.base import Node, NodeData, NodeError, NodeEvent, NodeResult
from headrace.workflow.templates import render
from headrace.workflow.variables import MISSING, is_file


class Toggle(NodeData):
    """A step that may be switched off."""

    enabled: bool = False


class FilterBy(Toggle):
    """Filter conditions (AND)."""

    conditions: list[dict[str, Any]] = []


class ExtractBy(Toggle):
    """Pick one element by 1-based serial."""

    serial: str = "1"


class OrderBy(Toggle):
    """Sort by value (or a file attribute)."""

    key: str = ""
    value: str = "asc"


class Limit(Toggle):
    """Keep the first `size` elements."""

    size: int = -1


class ListOperatorData(NodeData):
    """Configuration of a list-operator node."""

    variable: list[str] = []
    filter_by: FilterBy = FilterBy()
    extract_by: ExtractBy = ExtractBy()
    order_by: OrderBy = OrderBy()
    limit: Limit = Limit()


def _attr(item: Any, key: str) -> Any:
    if is_file(item) and key:
        return item.get("filename") if key == "name" else item.get(key)
    return item


class ListOperatorNode(Node):
    """Outputs `result`, `first_record`, `last_record`."""

    node_type = "list-operator"
    data_model = ListOperatorData

    async def run(self) -> AsyncIterator[NodeEvent]:
        """Filter → extract → order → limit."""
        value = self.pool.get(self.data.variable)
        if value is MISSING:
            raise NodeError(
                f"Variable not found for selector: {self.data.variable}", "InvalidKeyError"
            )
        if value is None:
            value = []
        if not isinstance(value, list):
            raise NodeError(
                f"Variable {self.data.variable} is not an array", "InvalidFilterValueError"
            )
        items = list(value)
        try:
            items = self._filter(items)
        except ConditionError as exc:
            raise NodeError(str(exc), "InvalidConditionError") from None
        items = self._extract(items)
        if self.data.order_by.enabled:
            key = self.data.order_by.key
            items.sort(key=lambda i: _attr(i, key), reverse=self.data.order_by.value == "desc")
        if self.data.limit.enabled and self.data.limit.size >= 0:
            items = items[: self.data.limit.size]
        yield NodeResult(
            outputs={
                "result": items,
                "first_record": items[0] if items else None,
                "last_record": items[-1] if items else None,
            },
            inputs={"variable": value},
        )

    def _filter(self, items: list[Any]) -> list[Any]:
        if not self.data.filter_by.enabled:
            return items
        for condition in self.data.filter_by.conditions:
            key = str(condition.get("key") or "")
            operator = str(condition.get("comparison_operator") or "")
            expected = condition.get("value")
            if isinstance(expected, str):
                expected = render(expected, self.pool)
            items = [i for i in items if compare(operator, _attr(i, key), expected)]
        return items

    def _extract(self, items: list[Any]) -> list[Any]:
        if not self.data.extract_by.enabled:
            return items
        serial_text = render(self.data.extract_by.serial, self.pool)
        try:
            serial = int(serial_text)
        except ValueError:
            raise NodeError(f"Invalid serial index: {serial_text}", "InvalidIndexError") from None
        if serial < 1 or serial > len(items):
            raise NodeError(f"Invalid serial index: {serial}", "InvalidIndexError")
        return [items[serial - 1]]
