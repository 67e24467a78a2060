"""`start`: publishes the run's inputs and a `sys.<name>` copy of each system variable."""

from __future__ import annotations

from collections.abc import AsyncIterator

from headrace.workflow.nodes.base import Node, NodeEvent, NodeResult


class StartNode(Node):
    """The entry node. The runner validated the inputs and stored them under this node id."""

    node_type = "start"

    async def run(self) -> AsyncIterator[NodeEvent]:
        """Outputs: every input, plus `sys.*` (and `env.*`) copies for legacy selectors."""
        outputs = self.pool.owner_values(self.spec.id)
        inputs = dict(outputs)
        for namespace in ("sys", "env"):
            for name, value in self.pool.owner_values(namespace).items():
                outputs.setdefault(f"{namespace}.{name}", value)
        yield NodeResult(outputs=outputs, inputs=inputs)
