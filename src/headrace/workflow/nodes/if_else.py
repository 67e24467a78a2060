"""`if-else`: the first case whose conditions hold picks the branch, else `false`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from headrace.workflow.conditions import ConditionError, evaluate_all
from headrace.workflow.nodes.base import Node, NodeData, NodeError, NodeEvent, NodeResult


class Case(NodeData):
    """One case: conditions combined by a logical operator."""

    case_id: str
    logical_operator: str = "and"
    conditions: list[dict[str, Any]] = []


class IfElseData(NodeData):
    """Configuration of an if-else node (legacy single-case form accepted)."""

    cases: list[Case] | None = None
    conditions: list[dict[str, Any]] | None = None
    logical_operator: str = "and"

    def effective_cases(self) -> list[Case]:
        """`cases`, or the legacy top-level conditions as case `true`."""
        if self.cases is not None:
            return self.cases
        return [
            Case(
                case_id="true",
                logical_operator=self.logical_operator,
                conditions=self.conditions or [],
            )
        ]


class IfElseNode(Node):
    """Branches on conditions."""

    node_type = "if-else"
    data_model = IfElseData
    branching = True

    async def run(self) -> AsyncIterator[NodeEvent]:
        """Evaluate cases in order."""
        result = False
        selected = "false"
        try:
            for case in self.data.effective_cases():
                result = evaluate_all(case.conditions, case.logical_operator, self.pool)
                if result:
                    selected = case.case_id
                    break
        except ConditionError as exc:
            raise NodeError(str(exc), "IfElseNodeError") from None
        yield NodeResult(
            outputs={"result": result, "selected_case_id": selected},
            handle=selected,
        )
