"""The node contract: configuration in, events out.

A node's `run()` yields `StreamChunk`s (text of an output while it is produced), any
`GraphEvent`s of nested runs (containers), and finally exactly one `NodeResult`. Failures raise
`NodeError` (or any exception, reported with its class name as `error_type`).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from headrace.coord.base import StopFlag
from headrace.workflow.events import GraphEvent, TextChunkEvent
from headrace.workflow.graph import Graph, NodeSpec
from headrace.workflow.services import Services
from headrace.workflow.variables import VariablePool


class NodeError(Exception):
    """A node failed; `error_type` names the kind of failure for `fail-branch` outputs."""

    def __init__(self, message: str, error_type: str = "", outputs: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.error_type = error_type or type(self).__name__
        self.outputs = outputs


class NodeConfigError(NodeError):
    """The node's configuration is invalid (raised at graph build)."""


@dataclass(frozen=True, slots=True)
class StreamChunk:
    """Text appended to a node output while the node runs (e.g. an LLM's `text`)."""

    selector: tuple[str, str]
    text: str


@dataclass(slots=True)
class NodeResult:
    """A node's successful outcome."""

    outputs: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, Any] | None = None
    process_data: dict[str, Any] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    #: The source handle whose edges are taken ("source" for non-branching nodes).
    handle: str = "source"
    total_tokens: int = 0
    total_price: str = "0"
    currency: str = "USD"


NodeEvent = StreamChunk | GraphEvent | TextChunkEvent | NodeResult


class StepCounter:
    """Run-wide step counter shared by nested engines (node `index`, max-steps limit)."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0

    def next(self) -> int:
        """Count one more node start."""
        self.value += 1
        return self.value


@dataclass(slots=True)
class RunContext:
    """What a node sees of its run."""

    pool: VariablePool
    services: Services
    graph: Graph
    stop: StopFlag
    steps: StepCounter
    workflow_run_id: str
    started_at: float = field(default_factory=time.monotonic)
    iteration_id: str | None = None
    iteration_index: int | None = None
    loop_id: str | None = None
    loop_index: int | None = None
    depth: int = 0

    def child(self, pool: VariablePool, graph: Graph, **container: Any) -> RunContext:
        """The context of a container round."""
        return RunContext(
            pool=pool,
            services=self.services,
            graph=graph,
            stop=self.stop,
            steps=self.steps,
            workflow_run_id=self.workflow_run_id,
            started_at=self.started_at,
            iteration_id=container.get("iteration_id", self.iteration_id),
            iteration_index=container.get("iteration_index", self.iteration_index),
            loop_id=container.get("loop_id", self.loop_id),
            loop_index=container.get("loop_index", self.loop_index),
            depth=self.depth,
        )


class NodeData(BaseModel):
    """Base of node configuration models: unknown (editor) keys are kept and ignored."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Node(ABC):
    """A runnable node type."""

    node_type: ClassVar[str]
    version: ClassVar[str] = "1"
    data_model: ClassVar[type[NodeData]] = NodeData
    #: Whether the engine honours `retry_config` for this type (dsl.md §5).
    retryable: ClassVar[bool] = False
    #: Containers report iteration/loop events instead of node_started/node_finished.
    emits_node_events: ClassVar[bool] = True
    #: Whether the node's outcome picks edges by handle (if-else, classifier).
    branching: ClassVar[bool] = False

    def __init__(self, spec: NodeSpec, ctx: RunContext) -> None:
        self.spec = spec
        self.ctx = ctx
        self.data = self.parse(spec)

    @classmethod
    def parse(cls, spec: NodeSpec) -> Any:
        """Validate the node's configuration."""
        try:
            return cls.data_model.model_validate(dict(spec.data))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ()))
            raise NodeConfigError(
                f"node {spec.id} ({spec.type}): invalid field {where}: {first.get('msg')}"
            ) from None

    @property
    def pool(self) -> VariablePool:
        """The variable pool this node reads and writes."""
        return self.ctx.pool

    @abstractmethod
    def run(self) -> AsyncIterator[NodeEvent]:
        """Execute; yield stream chunks and end with one NodeResult."""
