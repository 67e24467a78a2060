"""`loop`: repeats its child graph on the shared pool until a break condition, `loop-end`,
or `loop_count` rounds (dsl.md §4.16), with `loop_*` events."""

from __future__ import annotations

import copy
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson

from headrace.workflow.conditions import ConditionError, evaluate_all
from headrace.workflow.events import GraphEvent
from headrace.workflow.nodes.base import Node, NodeData, NodeError, NodeEvent, NodeResult
from headrace.workflow.nodes.containers import (
    Round,
    RoundTotals,
    container_completed,
    container_graph,
    container_next,
    container_started,
    run_round,
)
from headrace.workflow.records import now
from headrace.workflow.variables import MISSING

MAX_LOOP_COUNT = 100


class LoopVariable(NodeData):
    """A loop variable and its initial value."""

    label: str
    var_type: str = "string"
    value_type: str = "constant"
    value: Any = None


class LoopData(NodeData):
    """Configuration of a loop node."""

    loop_count: int = 10
    break_conditions: list[dict[str, Any]] = []
    logical_operator: str = "and"
    loop_variables: list[LoopVariable] = []
    start_node_id: str | None = None


class LoopNode(Node):
    """Outputs each loop variable's final value and `loop_round`."""

    node_type = "loop"
    data_model = LoopData
    emits_node_events = False

    def _initial(self, var: LoopVariable) -> Any:
        if var.value_type == "variable":
            value = self.pool.get(var.value or [])
            return None if value is MISSING else copy.deepcopy(value)
        value = var.value
        needs_json = var.var_type == "object" or var.var_type.startswith("array")
        if needs_json and isinstance(value, str):
            try:
                value = orjson.loads(value or ("{}" if var.var_type == "object" else "[]"))
            except orjson.JSONDecodeError:
                raise NodeError(
                    f"Invalid value for loop variable {var.label}", "LoopNodeError"
                ) from None
        if var.var_type == "number" and isinstance(value, str):
            try:
                value = float(value) if "." in value else int(value)
            except ValueError:
                raise NodeError(
                    f"Invalid value for loop variable {var.label}", "LoopNodeError"
                ) from None
        return value

    def _breaks(self, strict: bool) -> bool:
        if not self.data.break_conditions:
            return False
        try:
            return evaluate_all(self.data.break_conditions, self.data.logical_operator, self.pool)
        except ConditionError as exc:
            if strict:
                raise NodeError(str(exc), "LoopNodeError") from None
            return False

    async def run(self) -> AsyncIterator[NodeEvent]:
        """Run rounds until done."""
        data, spec = self.data, self.spec
        count = max(0, min(data.loop_count, MAX_LOOP_COUNT))
        for var in data.loop_variables:
            self.pool.set(spec.id, var.label, self._initial(var))
        graph = container_graph(self.ctx, spec.id, data.start_node_id)
        labels = [v.label for v in data.loop_variables]
        inputs = {
            "loop_count": count,
            **{label: self.pool.get([spec.id, label]) for label in labels},
        }
        created, started = now(), time.perf_counter()
        yield GraphEvent(
            "loop_started",
            container_started(
                spec.id, spec.type, spec.title, {"loop_length": count}, copy.deepcopy(inputs)
            ),
        )
        totals = RoundTotals()
        snapshots: dict[str, dict[str, Any]] = {}
        rounds, reason, error = 0, "loop_completed", None
        if self._breaks(strict=False):
            reason, count = "loop_break", 0
        for index in range(count):
            for child in graph.nodes:
                self.pool.clear_owner(child)
            ctx = self.ctx.child(self.pool, graph, loop_id=spec.id, loop_index=index)
            finished: set[str] = set()
            async for event in run_round(ctx, index):
                if isinstance(event, Round):
                    totals.add(index, event.result, event.seconds)
                    finished = event.finished_nodes
                    if event.result.status not in ("succeeded", "partial-succeeded"):
                        error = event.result.error or "loop round failed"
                else:
                    yield event
            snapshots[str(index)] = {
                label: copy.deepcopy(self.pool.get([spec.id, label])) for label in labels
            }
            if error is not None:
                break
            rounds = index + 1
            if any(graph.nodes[n].type == "loop-end" for n in finished):
                reason = "loop_break"
                break
            try:
                if self._breaks(strict=True):
                    reason = "loop_break"
                    break
            except NodeError as exc:
                error = exc.message
                break
            yield GraphEvent(
                "loop_next",
                {
                    **container_next(spec.id, spec.type, spec.title, index + 1),
                    "pre_loop_output": {},
                },
            )
        outputs = {label: self.pool.get([spec.id, label]) for label in labels}
        outputs["loop_round"] = rounds
        metadata = {
            "loop_duration_map": totals.durations,
            "loop_variable_map": snapshots,
            "completed_reason": reason,
        }
        yield GraphEvent(
            "loop_completed",
            container_completed(
                spec.id,
                spec.type,
                spec.title,
                created_at=created,
                started=started,
                inputs=inputs,
                outputs=None if error else outputs,
                status="failed" if error else "succeeded",
                totals=totals,
                metadata=metadata,
                steps=count,
            ),
        )
        if error is not None:
            raise NodeError(error, "LoopNodeError")
        yield NodeResult(
            outputs=outputs,
            inputs=inputs,
            metadata={k: v for k, v in metadata.items() if k != "completed_reason"},
            total_tokens=totals.tokens,
            total_price=f"{totals.price:f}",
            currency=totals.currency,
        )
