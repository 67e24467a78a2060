"""Streams response nodes (End in workflows, Answer in chatflows) in order while the graph runs.

Each response node is a list of segments (literal text, variable selectors). A response node
becomes active once every branching node upstream of it has finished and it was not skipped;
one node is active at a time, in the order they become eligible. Variable segments whose
producer streams (an LLM's `text`) are relayed chunk by chunk; other variables are rendered
when their producer finishes. End nodes relay only streamed variables (spec §9.3).

Secret values (secret environment variables) never leave in a chunk (spec §14.1.5): with
secrets set, streamed text that ends with the beginning of a secret is held back until the
next chunk (or the producer's end) shows whether it completes one, and is sent masked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from headrace.workflow.events import TextChunkEvent
from headrace.workflow.graph import Graph
from headrace.workflow.records import redact
from headrace.workflow.templates import Segment, parse, to_markdown
from headrace.workflow.variables import MISSING, VariablePool

Selector = tuple[str, ...]


@dataclass(slots=True)
class _Response:
    node_id: str
    segments: list[Segment]
    literal: bool
    branch_ancestors: set[str]
    position: int = 0
    relayed: dict[Selector, int] = field(default_factory=dict)
    held: dict[Selector, str] = field(default_factory=dict)


def _ancestors(graph: Graph, node_id: str) -> set[str]:
    seen: set[str] = set()
    stack = [node_id]
    while stack:
        for edge in graph.incoming.get(stack.pop(), []):
            if edge.source not in seen:
                seen.add(edge.source)
                stack.append(edge.source)
    return seen


class ResponseStreamer:
    """Turns stream chunks and node completions into ordered text chunks."""

    def __init__(
        self,
        graph: Graph,
        pool: VariablePool,
        is_branching: Callable[[str], bool],
        is_streamed: Callable[[Selector], bool],
        secrets: Iterable[str] = (),
    ) -> None:
        self.pool = pool
        self.is_streamed = is_streamed
        self.secrets = [s for s in secrets if s]
        self._nodes = set(graph.nodes)
        self._chunks: dict[Selector, list[str]] = {}
        self._finished: set[str] = set()
        self._skipped: set[str] = set()
        self._waiting: list[_Response] = []
        self._active: _Response | None = None
        for node in graph.nodes.values():
            if node.type == "answer":
                segments = parse(str(node.data.get("answer") or ""))
                literal = True
            elif node.type == "end":
                segments = [
                    Segment(text=".".join(sel), selector=tuple(str(p) for p in sel))
                    for out in node.data.get("outputs") or []
                    if isinstance(sel := out.get("value_selector"), list) and len(sel) >= 2
                ]
                literal = False
            else:
                continue
            ancestors = {a for a in _ancestors(graph, node.id) if is_branching(a)}
            self._waiting.append(_Response(node.id, segments, literal, ancestors))

    def chunk(self, selector: Selector, text: str) -> list[TextChunkEvent]:
        """A producer streamed `text` for `selector`."""
        self._chunks.setdefault(selector, []).append(text)
        return self._advance()

    def finished(self, node_id: str) -> list[TextChunkEvent]:
        """A node finished (its outputs are in the pool)."""
        self._finished.add(node_id)
        return self._advance()

    def skipped(self, node_id: str) -> list[TextChunkEvent]:
        """A node will not run."""
        self._skipped.add(node_id)
        self._waiting = [r for r in self._waiting if r.node_id != node_id]
        return self._advance()

    def _activate(self) -> None:
        for response in self._waiting:
            if response.branch_ancestors <= self._finished | self._skipped:
                self._waiting.remove(response)
                self._active = response
                return

    def _advance(self) -> list[TextChunkEvent]:
        out: list[TextChunkEvent] = []
        while True:
            if self._active is None:
                self._activate()
                if self._active is None:
                    return out
            if not self._step(self._active, out):
                return out
            self._active = None

    def _step(self, response: _Response, out: list[TextChunkEvent]) -> bool:
        """Emit what can be emitted; True when the response node is complete."""
        while response.position < len(response.segments):
            segment = response.segments[response.position]
            selector = segment.selector
            if selector is None:
                if response.literal and segment.text:
                    out.append(TextChunkEvent(segment.text, None))
                response.position += 1
                continue
            producer = selector[0]
            # sys/env/conversation values (and other non-node owners) are already known.
            done = (
                producer not in self._nodes
                or producer in self._finished
                or producer in self._skipped
            )
            streamed = self.is_streamed(selector)
            if not streamed and not response.literal:
                response.position += 1  # End nodes relay streamed text only
                continue
            if streamed:
                chunks = self._chunks.get(selector, [])
                sent = response.relayed.get(selector, 0)
                self._relay(response, selector, chunks[sent:], done, out)
                response.relayed[selector] = len(chunks)
                if not done:
                    return False
                if not chunks and response.literal:
                    self._render(selector, out)
            elif not done:
                return False
            else:
                self._render(selector, out)
            response.position += 1
        return True

    def _relay(
        self,
        response: _Response,
        selector: Selector,
        texts: list[str],
        final: bool,
        out: list[TextChunkEvent],
    ) -> None:
        if not self.secrets:
            out.extend(TextChunkEvent(text, list(selector)) for text in texts)
            return
        text = redact(response.held.get(selector, "") + "".join(texts), self.secrets)
        keep = 0 if final else self._secret_prefix(text)
        response.held[selector] = text[len(text) - keep :]
        if text[: len(text) - keep]:
            out.append(TextChunkEvent(text[: len(text) - keep], list(selector)))

    def _secret_prefix(self, text: str) -> int:
        """Length of the longest end of `text` that could begin a secret."""
        return max(
            (k for s in self.secrets for k in range(1, len(s)) if text.endswith(s[:k])),
            default=0,
        )

    def _render(self, selector: Selector, out: list[TextChunkEvent]) -> None:
        value = self.pool.get(selector)
        if value is not MISSING:
            text = redact(to_markdown(value), self.secrets)
            if text:
                out.append(TextChunkEvent(text, list(selector)))
