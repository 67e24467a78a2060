"""The graph engine: runs every ready node, parallel branches concurrently, skips untaken
branches (a join waits only for live branches), retries and error strategies, stop and limits.

It yields `EngineEvent`s and records the outcome in `result`; it imports no HTTP, SQL or Redis.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import suppress
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from headrace.errors import DomainError
from headrace.ids import new_id
from headrace.workflow import records
from headrace.workflow.events import EngineEvent, GraphEvent, RunResult, TextChunkEvent
from headrace.workflow.graph import Edge, Graph
from headrace.workflow.nodes.base import (
    Node,
    NodeConfigError,
    NodeError,
    NodeResult,
    RunContext,
    StreamChunk,
)
from headrace.workflow.nodes.registry import NodeRegistry
from headrace.workflow.response import ResponseStreamer
from headrace.workflow.strategy import FAIL_BRANCH, error_strategy, handled_result, retry_policy

log = logging.getLogger(__name__)


class RunAborted(Exception):
    """A fatal condition ends the whole run."""

    def __init__(self, message: str, status: str = "failed") -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(slots=True)
class _Done:
    node_id: str
    result: NodeResult | None
    status: str


@dataclass(slots=True)
class _Fatal:
    error: RunAborted


_STOP = object()
_TIMEOUT = object()


def to_node_error(exc: BaseException) -> NodeError:
    """Any failure as a NodeError with a useful message and type."""
    if isinstance(exc, NodeError):
        return exc
    if isinstance(exc, DomainError):
        return NodeError(exc.message or exc.code, type(exc).__name__)
    return NodeError(str(exc) or type(exc).__name__, type(exc).__name__)


class GraphEngine:
    """Runs one graph (the top level, or one round of a container)."""

    def __init__(
        self,
        ctx: RunContext,
        registry: NodeRegistry,
        stream_responses: bool = False,
    ) -> None:
        self.ctx = ctx
        self.graph: Graph = ctx.graph
        self.registry = registry
        self.secrets = ctx.services.secrets
        self.nodes = {nid: self._instantiate(nid) for nid in self.graph.nodes}
        self.edge_state: dict[Edge, bool | None] = {e: None for e in self.graph.edges}
        self.state: dict[str, str] = {nid: "pending" for nid in self.graph.nodes}
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.outputs: dict[str, Any] = {}
        self.answer: list[str] = []
        self.exceptions = 0
        self.tokens = 0
        self.price = Decimal(0)
        self.currency = "USD"
        self.steps = 0
        self.result: RunResult | None = None
        self.streamer = (
            ResponseStreamer(
                self.graph, ctx.pool, self._is_branching, self._is_streamed, self.secrets
            )
            if stream_responses
            else None
        )

    def _instantiate(self, node_id: str) -> Node:
        spec = self.graph.nodes[node_id]
        cls = self.registry.resolve(spec.type, spec.version)
        if cls is None:
            raise NodeConfigError(f"node {spec.id} ({spec.type}): unknown node type")
        return cls(spec, self.ctx)

    def _is_branching(self, node_id: str) -> bool:
        node = self.nodes.get(node_id)
        return node is not None and (
            node.branching or error_strategy(node.spec.data) == FAIL_BRANCH
        )

    def _is_streamed(self, selector: tuple[str, ...]) -> bool:
        node = self.nodes.get(selector[0])
        return (
            node is not None and len(selector) == 2 and selector[1] in getattr(node, "streams", ())
        )

    async def run(self) -> AsyncIterator[EngineEvent]:
        """Execute the graph, yielding events; `self.result` holds the outcome afterwards."""
        loop = asyncio.get_running_loop()
        stopper = asyncio.create_task(self._watch_stop())
        remaining = self.ctx.services.limits.max_execution_time - (
            time.monotonic() - self.ctx.started_at
        )
        timer = loop.call_later(max(remaining, 0), self.queue.put_nowait, _TIMEOUT)
        status, error = "succeeded", None
        try:
            self._launch(self.graph.root)
            while self.tasks or not self.queue.empty():
                item = await self.queue.get()
                if item is _STOP:
                    status, error = "stopped", "Stopped by user."
                    break
                if item is _TIMEOUT:
                    limit = self.ctx.services.limits.max_execution_time
                    status, error = "failed", f"Max execution time {limit:g}s reached."
                    break
                if isinstance(item, _Fatal):
                    status, error = item.error.status, item.error.message
                    break
                if isinstance(item, _Done):
                    for event in self._complete(item):
                        yield event
                    continue
                if isinstance(item, StreamChunk):
                    if self.streamer is not None:
                        for chunk in self.streamer.chunk(item.selector, item.text):
                            yield chunk
                    continue
                yield item
        finally:
            timer.cancel()
            stopper.cancel()
            await self._cancel_running()
        if status == "succeeded" and self.exceptions:
            status = "partial-succeeded"
        self.result = RunResult(
            status=status,  # type: ignore[arg-type]
            outputs=self.outputs,
            error=error,
            total_steps=self.steps,
            total_tokens=self.tokens,
            total_price=f"{self.price:f}",
            currency=self.currency,
            exceptions_count=self.exceptions,
            answer="".join(self.answer),
        )

    async def _watch_stop(self) -> None:
        await self.ctx.stop.wait()
        self.queue.put_nowait(_STOP)

    async def _cancel_running(self) -> None:
        tasks = list(self.tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with suppress(asyncio.CancelledError, Exception):
                await task
        self.tasks.clear()

    def _launch(self, node_id: str) -> None:
        self.state[node_id] = "running"
        self.tasks[node_id] = asyncio.create_task(self._execute(node_id))

    def _complete(self, done: _Done) -> list[EngineEvent]:
        self.tasks.pop(done.node_id, None)
        self.state[done.node_id] = "done"
        events: list[EngineEvent] = []
        result = done.result
        node = self.nodes[done.node_id]
        if result is not None:
            self.ctx.pool.set_outputs(done.node_id, result.outputs)
            if node.spec.type == "end":
                self.outputs.update(result.outputs)
            if node.spec.type == "answer":
                self.answer.append(str(result.outputs.get("answer", "")))
            self.tokens += result.total_tokens
            self.price += Decimal(result.total_price or "0")
            if result.total_tokens:
                self.currency = result.currency
        handle = result.handle if result is not None else "source"
        for edge in self.graph.outgoing[done.node_id]:
            taken = self._takes(done.node_id, edge, handle)
            events.extend(self._decide(edge, taken))
        # After the skips have propagated, so a response node on an untaken branch never starts.
        if self.streamer is not None:
            events.extend(self.streamer.finished(done.node_id))
        return events

    def _takes(self, node_id: str, edge: Edge, handle: str) -> bool:
        node = self.nodes[node_id]
        if node.branching:
            return edge.handle == handle
        if error_strategy(node.spec.data) == FAIL_BRANCH:
            return (edge.handle == FAIL_BRANCH) == (handle == FAIL_BRANCH)
        return True

    def _decide(self, edge: Edge, taken: bool) -> list[EngineEvent]:
        self.edge_state[edge] = taken
        target = edge.target
        if self.state[target] != "pending":
            return []
        incoming = [self.edge_state[e] for e in self.graph.incoming[target]]
        if any(state is None for state in incoming):
            return []
        if any(incoming):
            self._launch(target)
            return []
        return self._skip(target)

    def _skip(self, node_id: str) -> list[EngineEvent]:
        self.state[node_id] = "skipped"
        events: list[EngineEvent] = []
        if self.streamer is not None:
            events.extend(self.streamer.skipped(node_id))
        for edge in self.graph.outgoing[node_id]:
            events.extend(self._decide(edge, False))
        return events

    async def _execute(self, node_id: str) -> None:
        node = self.nodes[node_id]
        try:
            result, status = await self._attempts(node)
        except RunAborted as abort:
            self.queue.put_nowait(_Fatal(abort))
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("node %s crashed", node_id)
            self.queue.put_nowait(_Fatal(RunAborted(to_node_error(exc).message)))
            return
        self.queue.put_nowait(_Done(node_id, result, status))

    async def _attempts(self, node: Node) -> tuple[NodeResult, str]:
        spec, ctx = node.spec, self.ctx
        index = ctx.steps.next()
        self.steps += 1
        max_steps = ctx.services.limits.max_steps
        if index > max_steps:
            raise RunAborted(f"Max steps {max_steps} reached.")
        exec_id = new_id()
        created = records.now()
        started = time.perf_counter()
        if node.emits_node_events:
            self.queue.put_nowait(
                GraphEvent("node_started", records.node_started(spec, ctx, exec_id, index, created))
            )
        policy = retry_policy(spec.data) if node.retryable else None
        attempt = 0
        while True:
            try:
                result = await self._run_once(node)
                status = "succeeded"
                break
            except asyncio.CancelledError:
                raise
            except RunAborted:
                raise
            except Exception as exc:
                error = to_node_error(exc)
                if policy is not None and attempt < policy.max_retries:
                    attempt += 1
                    data = self._finished_data(
                        node, exec_id, index, created, started, "retry", None, error
                    )
                    data["retry_index"] = attempt
                    self.queue.put_nowait(GraphEvent("node_retry", data))
                    await asyncio.sleep(policy.interval_seconds)
                    continue
                handled = handled_result(spec.data, error)
                if handled is None:
                    if node.emits_node_events:
                        data = self._finished_data(
                            node, exec_id, index, created, started, "failed", error.outputs, error
                        )
                        self.queue.put_nowait(GraphEvent("node_finished", data))
                    raise RunAborted(error.message) from None
                result, status = handled, "exception"
                self.exceptions += 1
                break
        if node.emits_node_events:
            data = self._finished_data(node, exec_id, index, created, started, status, result, None)
            self.queue.put_nowait(GraphEvent("node_finished", data))
        return result, status

    async def _run_once(self, node: Node) -> NodeResult:
        result: NodeResult | None = None
        async for event in node.run():
            if isinstance(event, NodeResult):
                result = event
            elif isinstance(event, GraphEvent):
                # container events (iteration/loop inputs, outputs) carry pool values
                data = records.redact(event.data, self.secrets)
                self.queue.put_nowait(GraphEvent(event.event, data))
            elif isinstance(event, StreamChunk | TextChunkEvent):
                self.queue.put_nowait(event)
        if result is None:
            raise NodeError(f"node {node.spec.id} produced no result")
        return result

    def _finished_data(
        self,
        node: Node,
        exec_id: str,
        index: int,
        created: int,
        started: float,
        status: str,
        result: NodeResult | dict[str, Any] | None,
        error: NodeError | None,
    ) -> dict[str, Any]:
        metadata = records.container_metadata(self.ctx)
        inputs = process_data = outputs = None
        if isinstance(result, NodeResult):
            inputs, process_data, outputs = result.inputs, result.process_data, result.outputs
            metadata.update({k: v for k, v in result.metadata.items() if k != "error_message"})
            if result.total_tokens:
                metadata.update(
                    total_tokens=result.total_tokens,
                    total_price=result.total_price,
                    currency=result.currency,
                )
        elif isinstance(result, dict):
            outputs = result
        message = error.message if error is not None else None
        if status == "exception" and isinstance(result, NodeResult):
            message = str(result.outputs.get("error_message") or "")
        return records.node_finished(
            node.spec,
            self.ctx,
            exec_id,
            index,
            created,
            status=status,
            inputs=inputs,
            process_data=process_data,
            outputs=outputs,
            error=message,
            elapsed=time.perf_counter() - started,
            metadata=metadata,
            secrets=self.secrets,
        )
