"""`iteration`: runs its child graph once per element, sequentially or in parallel
(dsl.md §4.15), with `iteration_*` events and the three error-handle modes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from headrace.workflow.events import EngineEvent, GraphEvent
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

_FAILED = object()


class IterationData(NodeData):
    """Configuration of an iteration node."""

    iterator_selector: list[str] = []
    output_selector: list[str] = []
    start_node_id: str | None = None
    is_parallel: bool = False
    parallel_nums: int = 10
    error_handle_mode: str = "terminated"
    flatten_output: bool = True


class IterationNode(Node):
    """Outputs `output`: the collected value of each round."""

    node_type = "iteration"
    data_model = IterationData
    emits_node_events = False

    async def run(self) -> AsyncIterator[NodeEvent]:
        """Run every round and collect outputs."""
        data, spec = self.data, self.spec
        items = self.pool.get(data.iterator_selector)
        if items is MISSING:
            raise NodeError(
                f"iterator variable {data.iterator_selector} not found",
                "IteratorVariableNotFoundError",
            )
        if items is None or items == []:
            yield NodeResult(outputs={"output": []})
            return
        if not isinstance(items, list):
            raise NodeError(
                f"invalid iterator value: {items}, please provide a list.",
                "InvalidIteratorValueError",
            )
        graph = container_graph(self.ctx, spec.id, data.start_node_id)
        inputs = {"iterator_selector": items}
        created, started = now(), time.perf_counter()
        yield GraphEvent(
            "iteration_started",
            container_started(
                spec.id, spec.type, spec.title, {"iteration_length": len(items)}, inputs
            ),
        )
        totals = RoundTotals()
        collected: list[Any] = [_FAILED] * len(items)
        error: str | None = None
        events: asyncio.Queue[EngineEvent | Round | None] = asyncio.Queue()

        async def one(index: int, item: Any) -> None:
            pool = self.pool.copy()
            pool.set(spec.id, "item", item)
            pool.set(spec.id, "index", index)
            ctx = self.ctx.child(pool, graph, iteration_id=spec.id, iteration_index=index)
            async for event in run_round(ctx, index):
                if isinstance(event, Round):
                    value = pool.get(data.output_selector)
                    if event.result.status in ("succeeded", "partial-succeeded"):
                        collected[index] = None if value is MISSING else value
                await events.put(event)

        if data.is_parallel:
            for index in range(len(items)):
                yield GraphEvent(
                    "iteration_next", container_next(spec.id, spec.type, spec.title, index)
                )
            gate = asyncio.Semaphore(max(1, min(data.parallel_nums, len(items))))

            async def gated(index: int, item: Any) -> None:
                async with gate:
                    await one(index, item)

            tasks = [asyncio.create_task(gated(i, item)) for i, item in enumerate(items)]
            finished = 0
            try:
                while finished < len(items):
                    event = await events.get()
                    if isinstance(event, Round):
                        finished += 1
                        error = error or self._account(event, totals)
                        if error and data.error_handle_mode == "terminated":
                            break
                    elif event is not None:
                        yield event
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        else:
            for index, item in enumerate(items):
                yield GraphEvent(
                    "iteration_next", container_next(spec.id, spec.type, spec.title, index)
                )
                runner = asyncio.create_task(one(index, item))
                while True:
                    event = await events.get()
                    if isinstance(event, Round):
                        break
                    if event is not None:
                        yield event
                await runner
                error = error or self._account(event, totals)
                if error and data.error_handle_mode == "terminated":
                    break
        terminated = error is not None and data.error_handle_mode == "terminated"
        output = self._output(collected)
        outputs = None if terminated else {"output": output}
        yield GraphEvent(
            "iteration_completed",
            container_completed(
                spec.id,
                spec.type,
                spec.title,
                created_at=created,
                started=started,
                inputs=inputs,
                outputs=outputs,
                status="failed" if terminated else "succeeded",
                totals=totals,
                metadata={"iteration_duration_map": totals.durations},
                steps=len(items),
            ),
        )
        if terminated:
            raise NodeError(error or "iteration failed", "IterationNodeError")
        yield NodeResult(
            outputs={"output": output},
            inputs=inputs,
            metadata={"iteration_duration_map": totals.durations},
            total_tokens=totals.tokens,
            total_price=f"{totals.price:f}",
            currency=totals.currency,
        )

    def _account(self, round_: Round, totals: RoundTotals) -> str | None:
        totals.add(round_.index, round_.result, round_.seconds)
        if round_.result.status in ("succeeded", "partial-succeeded"):
            return None
        return round_.result.error or "iteration round failed"

    def _output(self, collected: list[Any]) -> list[Any]:
        mode = self.data.error_handle_mode
        values = (
            [v for v in collected if v is not _FAILED]
            if mode == "remove-abnormal-output"
            else [None if v is _FAILED else v for v in collected]
        )
        non_null = [v for v in values if v is not None]
        if self.data.flatten_output and non_null and all(isinstance(v, list) for v in non_null):
            return [x for v in values if v is not None for x in v]
        return values
