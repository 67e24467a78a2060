"""Provider-neutral value types: prompt messages, stream chunks, token usage, tool calls."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True, slots=True)
class ImagePart:
    """An image given to a vision model, as an http(s) or data URL."""

    url: str
    detail: Literal["low", "high", "auto"] = "high"


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A function call requested by the model."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class PromptMessage:
    """One message of a chat prompt."""

    role: Role
    content: str
    images: tuple[ImagePart, ...] = ()
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A function the model may call: name, description and JSON-schema parameters."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """Token counts reported by the upstream (or estimated when it reports none)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class LLMChunk:
    """One streamed piece of a completion.

    `text` is a delta; `tool_calls` are complete calls (adapters assemble the upstream's
    argument fragments); `usage` arrives on the last chunk when the upstream reports it.
    """

    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    usage: TokenUsage | None = None
    finish_reason: str | None = None


@dataclass(frozen=True, slots=True)
class LLMRequest:
    """Everything an adapter needs for one invocation."""

    model: str
    messages: tuple[PromptMessage, ...]
    mode: Literal["chat", "completion"] = "chat"
    parameters: dict[str, Any] = field(default_factory=dict)
    tools: tuple[ToolSpec, ...] = ()
    stop: tuple[str, ...] = ()
