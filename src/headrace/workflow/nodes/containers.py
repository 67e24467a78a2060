"""Running container rounds: a child engine per round, its events forwarded in order."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from headrace.workflow.events import EngineEvent, RunResult
from headrace.workflow.graph import Graph
from headrace.workflow.nodes.base import NodeError, RunContext
from headrace.workflow.records import now


@dataclass(slots=True)
class RoundTotals:
    """Usage and timing summed over a container's rounds."""

    tokens: int = 0
    price: Decimal = Decimal(0)
    currency: str = "USD"
    durations: dict[str, float] = field(default_factory=dict)

    def add(self, index: int, result: RunResult, seconds: float) -> None:
        """Count one finished round."""
        self.tokens += result.total_tokens
        self.price += Decimal(result.total_price or "0")
        if result.total_tokens:
            self.currency = result.currency
        self.durations[str(index)] = round(seconds, 6)

    def metadata(self) -> dict[str, Any]:
        """Usage keys of `execution_metadata`."""
        return {
            "total_tokens": self.tokens,
            "total_price": f"{self.price:f}",
            "currency": self.currency,
        }


def container_graph(ctx: RunContext, container_id: str, start_node_id: str | None) -> Graph:
    """The child graph of a container, or a NodeError naming what is missing."""
    if not start_node_id:
        raise NodeError(f"field start_node_id in {container_id} not found")
    try:
        return ctx.graph.subgraph(container_id, start_node_id)
    except ValueError as exc:
        raise NodeError(str(exc)) from None


@dataclass(slots=True)
class Round:
    """One executed round: its engine result and elapsed time."""

    index: int
    result: RunResult
    seconds: float
    finished_nodes: set[str]


async def run_round(
    ctx: RunContext, index: int, sink: list[EngineEvent] | None = None
) -> AsyncIterator[EngineEvent | Round]:
    """Run one round on `ctx` (a child context); yield its events, then its `Round`."""
    from headrace.workflow.engine import GraphEngine

    started = time.perf_counter()
    engine = GraphEngine(ctx, ctx.services.registry)
    async for event in engine.run():
        yield event
    assert engine.result is not None
    done = {n for n, state in engine.state.items() if state == "done"}
    yield Round(index, engine.result, time.perf_counter() - started, done)


def container_started(
    spec_id: str, node_type: str, title: str, metadata: dict[str, Any], inputs: dict[str, Any]
) -> dict[str, Any]:
    """`iteration_started`/`loop_started` data."""
    return {
        "id": spec_id,
        "node_id": spec_id,
        "node_type": node_type,
        "title": title,
        "created_at": now(),
        "extras": {},
        "metadata": metadata,
        "inputs": inputs,
        "inputs_truncated": False,
    }


def container_next(spec_id: str, node_type: str, title: str, index: int) -> dict[str, Any]:
    """`iteration_next`/`loop_next` data."""
    return {
        "id": spec_id,
        "node_id": spec_id,
        "node_type": node_type,
        "title": title,
        "index": index,
        "created_at": now(),
        "extras": {},
    }


def container_completed(
    spec_id: str,
    node_type: str,
    title: str,
    *,
    created_at: int,
    started: float,
    inputs: dict[str, Any],
    outputs: dict[str, Any] | None,
    status: str,
    totals: RoundTotals,
    metadata: dict[str, Any],
    steps: int,
) -> dict[str, Any]:
    """`iteration_completed`/`loop_completed` data."""
    return {
        "id": spec_id,
        "node_id": spec_id,
        "node_type": node_type,
        "title": title,
        "outputs": outputs,
        "outputs_truncated": False,
        "created_at": created_at,
        "extras": {},
        "inputs": inputs,
        "inputs_truncated": False,
        "status": status,
        "error": None,
        "elapsed_time": round(time.perf_counter() - started, 6),
        "total_tokens": totals.tokens,
        "execution_metadata": {**totals.metadata(), **metadata},
        "finished_at": now(),
        "steps": steps,
    }
