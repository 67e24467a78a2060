"""`answer` (chatflows): renders its template with markdown rules."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from headrace.workflow.nodes.base import Node, NodeData, NodeEvent, NodeResult
from headrace.workflow.templates import render, selectors_in
from headrace.workflow.variables import is_file


class AnswerData(NodeData):
    """Configuration of an Answer node."""

    answer: str = ""


class AnswerNode(Node):
    """Outputs the rendered `answer` and the files it references."""

    node_type = "answer"
    data_model = AnswerData

    async def run(self) -> AsyncIterator[NodeEvent]:
        """Render the template."""
        files: list[Any] = []
        for selector in selectors_in(self.data.answer):
            value = self.pool.get(selector)
            if is_file(value):
                files.append(value)
            elif isinstance(value, list):
                files.extend(v for v in value if is_file(v))
        yield NodeResult(
            outputs={"answer": render(self.data.answer, self.pool, markdown=True), "files": files}
        )
