"""`llm`: assembles the prompt (templates, context, memory, vision), streams the model's
text as it is generated, and outputs text, reasoning, usage and structured output."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar

import orjson

from headrace.providers.types import PromptMessage, Role
from headrace.workflow.model_calls import (
    MemoryConfig,
    ModelConfig,
    ModelRun,
    VisionConfig,
    history_messages,
    model_parameters,
    prompt_log,
    split_reasoning,
    vision_images,
    with_images,
)
from headrace.workflow.nodes.base import (
    Node,
    NodeData,
    NodeError,
    NodeEvent,
    NodeResult,
    StreamChunk,
)
from headrace.workflow.nodes.template_transform import Binding, bind, render_jinja
from headrace.workflow.templates import render
from headrace.workflow.variables import MISSING

_JSON_BLOCK = re.compile(r"\{.*\}", re.DOTALL)


class PromptItem(NodeData):
    """One chat message (or the completion template)."""

    role: str = "user"
    text: str = ""
    edition_type: str | None = None
    jinja2_text: str | None = None


class ContextConfig(NodeData):
    """Knowledge/context input."""

    enabled: bool = False
    variable_selector: list[str] | None = None


class PromptConfig(NodeData):
    """Variables for jinja2 messages."""

    jinja2_variables: list[Binding] = []


class LLMData(NodeData):
    """Configuration of an LLM node."""

    model: ModelConfig
    prompt_template: list[PromptItem] | PromptItem = []
    prompt_config: PromptConfig | None = None
    context: ContextConfig = ContextConfig()
    memory: MemoryConfig | None = None
    vision: VisionConfig | None = None
    structured_output_enabled: bool = False
    structured_output: dict[str, Any] | None = None
    reasoning_format: str = "tagged"


def context_text(value: Any) -> str:
    """The context string from a string or a list of retrieval results."""
    if value is None or value is MISSING:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        parts = []
        for item in value:
            if isinstance(item, str):
                parts.append(item)
            elif isinstance(item, Mapping):
                if "content" not in item:
                    raise NodeError(
                        f"Invalid context structure: {item}", "InvalidContextStructureError"
                    )
                summary = item.get("summary")
                parts.append((f"{summary}\n" if summary else "") + f"{item['content']}\n")
        return "".join(parts)
    return str(value)


def completion_history(memory: list[PromptMessage], config: MemoryConfig | None) -> str:
    """Earlier turns as text for completion-model prompts, with the configured role prefixes."""
    prefixes = (config.role_prefix if config else None) or {}
    lines = []
    for message in memory:
        role = "user" if message.role == "user" else "assistant"
        lines.append(f"{prefixes.get(role, role)}: {message.content}")
    return "\n".join(lines)


class LLMNode(Node):
    """Streams `text` while the model generates it."""

    node_type = "llm"
    data_model = LLMData
    retryable = True
    streams: ClassVar[tuple[str, ...]] = ("text",)

    def _render(self, item: PromptItem, context: str) -> str:
        if item.edition_type == "jinja2":
            bindings = self.data.prompt_config.jinja2_variables if self.data.prompt_config else []
            return render_jinja(item.jinja2_text or "", bind(self.pool, bindings))
        return render(item.text.replace("{{#context#}}", context), self.pool)

    async def _messages(self, context: str) -> list[PromptMessage]:
        data = self.data
        memory = await history_messages(self.ctx.services, data.memory)
        query = self._query()
        if isinstance(data.prompt_template, PromptItem):
            text = self._render(data.prompt_template, context)
            if memory:
                history = completion_history(memory, data.memory)
                text = (
                    text.replace("#histories#", history)
                    if "#histories#" in text
                    else f"{history}\n{text}"
                )
            messages = [PromptMessage("user", text)]
        else:
            messages = []
            for item in data.prompt_template:
                role: Role = item.role if item.role in ("system", "user", "assistant") else "user"
                messages.append(PromptMessage(role, self._render(item, context)))
            messages.extend(memory)
            if query is not None:
                messages.append(PromptMessage("user", query))
        messages = [m for m in messages if m.content or m.images]
        return with_images(messages, vision_images(self.pool, data.vision))

    def _query(self) -> str | None:
        memory = self.data.memory
        if memory is None:
            return None
        template = memory.query_prompt_template or "{{#sys.query#}}"
        return render(template, self.pool)

    async def run(self) -> AsyncIterator[NodeEvent]:
        """Call the model, streaming `text`."""
        data = self.data
        context = ""
        if data.context.enabled and data.context.variable_selector:
            context = context_text(self.pool.get(data.context.variable_selector))
        messages = await self._messages(context)
        model_run = ModelRun(
            self.ctx.services,
            data.model,
            messages,
            model_parameters(data.model.completion_params, self.pool),
        )
        selector = (self.spec.id, "text")
        separated = data.reasoning_format == "separated"
        async for delta in model_run.deltas():
            if not separated:
                yield StreamChunk(selector, delta)
        result = model_run.result
        text, reasoning = split_reasoning(result.text)
        if separated and text:
            yield StreamChunk(selector, text)
        outputs: dict[str, Any] = {
            "text": text if separated else result.text,
            "reasoning_content": reasoning,
            "usage": result.usage.as_dict(),
            "finish_reason": result.finish_reason,
        }
        if data.structured_output_enabled and data.structured_output:
            outputs["structured_output"] = self._structured(text)
        yield NodeResult(
            outputs=outputs,
            inputs={"#context#": context} if data.context.enabled else {},
            process_data={
                "model_mode": data.model.mode,
                "model_provider": data.model.provider,
                "model_name": data.model.name,
                "prompts": prompt_log(messages),
                "usage": result.usage.as_dict(),
                "finish_reason": result.finish_reason,
            },
            **result.node_usage(),
        )

    def _structured(self, text: str) -> Any:
        match = _JSON_BLOCK.search(text)
        try:
            return orjson.loads(match.group(0) if match else text)
        except orjson.JSONDecodeError:
            raise NodeError(
                "Failed to parse structured output: the model did not return JSON", "LLMNodeError"
            ) from None
