"""Events the engine yields. Their `data` is already the contract's `data` object (spec §8.3),
so renderers only add the wrapper keys and persistence reads the same fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

GraphEventName = Literal[
    "workflow_started",
    "node_started",
    "node_finished",
    "node_retry",
    "iteration_started",
    "iteration_next",
    "iteration_completed",
    "loop_started",
    "loop_next",
    "loop_completed",
    "workflow_finished",
]


@dataclass(frozen=True, slots=True)
class GraphEvent:
    """A workflow event with its wire `data` object."""

    event: GraphEventName
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class TextChunkEvent:
    """Streamed text of a response node (End in workflows: `text_chunk`)."""

    text: str
    from_variable_selector: list[str] | None
    event: Literal["text_chunk"] = "text_chunk"


@dataclass(frozen=True, slots=True)
class RunResult:
    """How a graph run ended."""

    status: Literal["succeeded", "failed", "stopped", "partial-succeeded"]
    outputs: dict[str, Any]
    error: str | None
    total_steps: int
    total_tokens: int
    total_price: str
    currency: str
    exceptions_count: int
    answer: str = ""


EngineEvent = GraphEvent | TextChunkEvent
