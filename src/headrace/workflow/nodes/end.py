"""`end` (workflow mode): the run's outputs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from headrace.workflow.nodes.base import Node, NodeData, NodeEvent, NodeResult


class OutputItem(NodeData):
    """One declared output."""

    variable: str
    value_selector: list[str] = []
    value_type: str | None = None


class EndData(NodeData):
    """Configuration of an End node."""

    outputs: list[OutputItem] = []


class EndNode(Node):
    """Collects the declared outputs (null when a selector does not resolve)."""

    node_type = "end"
    data_model = EndData

    async def run(self) -> AsyncIterator[NodeEvent]:
        """Resolve every output selector."""
        outputs: dict[str, Any] = {}
        for item in self.data.outputs:
            value = self.pool.get(item.value_selector)
            outputs[item.variable] = None if not self.pool.has(item.value_selector) else value
        yield NodeResult(outputs=outputs, inputs=dict(outputs))
