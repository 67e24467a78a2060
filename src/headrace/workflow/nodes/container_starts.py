"""`iteration-start`, `loop-start` and `loop-end`: structural nodes without outputs."""

from __future__ import annotations

from collections.abc import AsyncIterator

from headrace.workflow.nodes.base import Node, NodeEvent, NodeResult


class IterationStartNode(Node):
    """Root of each iteration round."""

    node_type = "iteration-start"

    async def run(self) -> AsyncIterator[NodeEvent]:
        """Nothing to do."""
        yield NodeResult()


class LoopStartNode(Node):
    """Root of each loop round."""

    node_type = "loop-start"

    async def run(self) -> AsyncIterator[NodeEvent]:
        """Nothing to do."""
        yield NodeResult()


class LoopEndNode(Node):
    """Reaching it ends the loop after the current round."""

    node_type = "loop-end"

    async def run(self) -> AsyncIterator[NodeEvent]:
        """Mark the round as the last one."""
        yield NodeResult(metadata={"loop_end": True})
