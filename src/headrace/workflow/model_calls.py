"""Model invocation shared by the LLM-family nodes (llm, parameter-extractor,
question-classifier): model config, parameter templating, streaming, usage, memory, vision."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from headrace.providers.catalog import model_info
from headrace.providers.types import (
    ImagePart,
    LLMRequest,
    PromptMessage,
    TokenUsage,
    ToolCall,
    ToolSpec,
)
from headrace.providers.usage import UsageInfo, build_usage, estimate_tokens
from headrace.workflow.nodes.base import NodeData, NodeError
from headrace.workflow.services import Services
from headrace.workflow.templates import render, to_text
from headrace.workflow.variables import MISSING, VariablePool, is_file

THINK = re.compile(r"<think>.*?</think>\s*", re.DOTALL)


class ModelConfig(NodeData):
    """The `model` block of an LLM-family node."""

    provider: str
    name: str
    mode: str = "chat"
    completion_params: dict[str, Any] = {}


class MemoryWindow(NodeData):
    """How many earlier turns to include."""

    enabled: bool = False
    size: int | None = None


class MemoryConfig(NodeData):
    """Conversation memory of chatflow LLM nodes."""

    window: MemoryWindow = MemoryWindow()
    query_prompt_template: str | None = None
    role_prefix: dict[str, str] | None = None


class VisionConfigs(NodeData):
    """Where images come from."""

    variable_selector: list[str] = ["sys", "files"]
    detail: str = "high"


class VisionConfig(NodeData):
    """Vision settings."""

    enabled: bool = False
    configs: VisionConfigs | None = None


def model_parameters(params: Mapping[str, Any], pool: VariablePool) -> dict[str, Any]:
    """Completion params with `{{#…#}}` references resolved and JSON-coerced."""
    resolved: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, str) and "{{#" in value:
            text = render(value, pool)
            try:
                value = orjson.loads(text)
            except orjson.JSONDecodeError:
                value = text
        resolved[key] = value
    return resolved


async def history_messages(services: Services, memory: MemoryConfig | None) -> list[PromptMessage]:
    """Earlier turns of the conversation (chatflows), oldest first."""
    if memory is None or services.conversation is None:
        return []
    size = memory.window.size if memory.window.enabled and memory.window.size else 500
    turns = await services.conversation.history(min(size, 500))
    messages: list[PromptMessage] = []
    for turn in turns:
        messages.append(PromptMessage("user", turn.query))
        messages.append(PromptMessage("assistant", turn.answer))
    return messages


def vision_images(pool: VariablePool, vision: VisionConfig | None) -> list[ImagePart]:
    """Image files selected for a vision-enabled node."""
    if vision is None or not vision.enabled:
        return []
    configs = vision.configs or VisionConfigs()
    value = pool.get(configs.variable_selector)
    files = value if isinstance(value, list) else [value]
    detail = configs.detail if configs.detail in ("low", "high", "auto") else "high"
    images = []
    for file in files:
        if (
            is_file(file)
            and file.get("type") == "image"
            and (file.get("url") or file.get("remote_url"))
        ):
            images.append(ImagePart(str(file.get("url") or file.get("remote_url")), detail))  # type: ignore[arg-type]
    return images


def with_images(messages: list[PromptMessage], images: list[ImagePart]) -> list[PromptMessage]:
    """Attach images to the last user message (or a new one)."""
    if not images:
        return messages
    for position in range(len(messages) - 1, -1, -1):
        message = messages[position]
        if message.role == "user":
            messages[position] = PromptMessage(
                "user", message.content, images=(*message.images, *images)
            )
            return messages
    return [*messages, PromptMessage("user", "", images=tuple(images))]


@dataclass(slots=True)
class Invocation:
    """The outcome of one model call."""

    text: str = ""
    usage: UsageInfo = field(default_factory=UsageInfo)
    finish_reason: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()

    def node_usage(self) -> dict[str, Any]:
        """Keyword arguments for `NodeResult` usage fields."""
        return {
            "total_tokens": self.usage.total_tokens,
            "total_price": self.usage.total_price,
            "currency": self.usage.currency,
        }


class ModelRun:
    """One streamed model call: iterate `deltas()`, then read `result`."""

    def __init__(
        self,
        services: Services,
        model: ModelConfig,
        messages: list[PromptMessage],
        parameters: dict[str, Any],
        tools: tuple[ToolSpec, ...] = (),
    ) -> None:
        if not [m for m in messages if m.content or m.images]:
            raise NodeError(
                "No prompt found in the LLM configuration. Please ensure a prompt is properly "
                "configured before proceeding.",
                "NoPromptFoundError",
            )
        self.services = services
        self.model = model
        self.messages = messages
        self.parameters = parameters
        self.tools = tools
        self.result = Invocation()

    async def deltas(self) -> AsyncIterator[str]:
        """Text deltas as the model produces them."""
        if self.services.models is None:
            raise NodeError("No model access is configured for this run", "LLMNodeError")
        handle = await self.services.models.bind(self.model.provider)
        request = LLMRequest(
            model=self.model.name,
            messages=tuple(self.messages),
            mode="completion" if self.model.mode == "completion" else "chat",
            parameters=self.parameters,
            tools=self.tools,
        )
        started = time.perf_counter()
        first: float | None = None
        parts: list[str] = []
        usage: TokenUsage | None = None
        calls: list[ToolCall] = []
        async for chunk in handle.stream(request):
            if chunk.usage is not None:
                usage = chunk.usage
            if chunk.finish_reason:
                self.result.finish_reason = chunk.finish_reason
            calls.extend(chunk.tool_calls)
            if chunk.text:
                first = first or time.perf_counter()
                parts.append(chunk.text)
                yield chunk.text
        finished = time.perf_counter()
        text = "".join(parts)
        tokens = usage or TokenUsage(
            sum(estimate_tokens(m.content) for m in self.messages), estimate_tokens(text)
        )
        self.result.text = text
        self.result.tool_calls = tuple(calls)
        self.result.usage = build_usage(
            tokens,
            model_info(self.model.provider, self.model.name).pricing,
            finished - started,
            None if first is None else first - started,
            None if first is None else finished - first,
        )

    async def complete(self) -> Invocation:
        """Run without streaming to anyone."""
        async for _ in self.deltas():
            pass
        return self.result


def split_reasoning(text: str) -> tuple[str, str]:
    """(text without `<think>` blocks, the reasoning inside them)."""
    reasoning = "".join(m.group(0) for m in THINK.finditer(text))
    reasoning = reasoning.replace("<think>", "").replace("</think>", "").strip()
    return THINK.sub("", text), reasoning


def prompt_log(messages: list[PromptMessage]) -> list[dict[str, Any]]:
    """The prompts as recorded in `process_data`."""
    return [
        {"role": m.role, "text": m.content, "files": [i.url for i in m.images]} for m in messages
    ]


def text_of(pool: VariablePool, selector: list[str]) -> str:
    """A selector's value rendered as text (`""` when missing)."""
    value = pool.get(selector)
    return "" if value is MISSING else to_text(value)
