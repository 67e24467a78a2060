"""`variable-aggregator`: the first candidate that exists (per group in group mode)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from headrace.workflow.nodes.base import Node, NodeData, NodeEvent, NodeResult
from headrace.workflow.variables import MISSING


class Group(NodeData):
    """One output group."""

    group_name: str
    variables: list[list[str]] = []
    output_type: str | None = None


class AdvancedSettings(NodeData):
    """Group mode settings."""

    group_enabled: bool = False
    groups: list[Group] = []


class AggregatorData(NodeData):
    """Configuration of a variable-aggregator node."""

    variables: list[list[str]] = []
    output_type: str | None = None
    advanced_settings: AdvancedSettings | None = None


class VariableAggregatorNode(Node):
    """Picks the value of the branch that actually ran."""

    node_type = "variable-aggregator"
    data_model = AggregatorData

    def _first(self, candidates: list[list[str]]) -> Any:
        for selector in candidates:
            value = self.pool.get(selector)
            if value is not MISSING:
                return value
        return MISSING

    async def run(self) -> AsyncIterator[NodeEvent]:
        """Resolve candidates in priority order."""
        settings = self.data.advanced_settings
        outputs: dict[str, Any] = {}
        if settings is not None and settings.group_enabled:
            for group in settings.groups:
                value = self._first(group.variables)
                if value is not MISSING:
                    outputs[group.group_name] = {"output": value}
        else:
            value = self._first(self.data.variables)
            if value is not MISSING:
                outputs["output"] = value
        yield NodeResult(outputs=outputs)
