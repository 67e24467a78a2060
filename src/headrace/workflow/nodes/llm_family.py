"""Shared by the parameter-extractor and question-classifier nodes: reading the query,
assembling system + memory + query (+ images) prompts, calling the model with failures turned
into node errors, and pulling a JSON object out of free model text."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import orjson

from headrace.errors import DomainError
from headrace.providers.types import PromptMessage, ToolSpec
from headrace.workflow.model_calls import (
    Invocation,
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
from headrace.workflow.nodes.base import NodeError, RunContext
from headrace.workflow.templates import to_text
from headrace.workflow.variables import MISSING, VariablePool

_FENCE = re.compile(r"```[a-zA-Z0-9_-]*[ \t]*\n?(.*?)```", re.DOTALL)
#: How many `{` positions `json_object` tries per candidate text before giving up.
_MAX_ATTEMPTS = 64


def query_text(pool: VariablePool, selector: Sequence[Any] | None) -> str:
    """The query a selector points at, as text (`""` when missing).

    Legacy files address the chat query as `["<start_id>", "sys.query"]`; such selectors
    fall back to the `sys` namespace.
    """
    if not selector:
        return ""
    value = pool.get(selector)
    if value is MISSING and len(selector) == 2 and str(selector[1]).startswith("sys."):
        value = pool.get(["sys", str(selector[1])[4:]])
    return "" if value is MISSING else to_text(value)


async def chat_messages(
    ctx: RunContext,
    system: str,
    query: str,
    memory: MemoryConfig | None,
    vision: VisionConfig | None,
) -> list[PromptMessage]:
    """System prompt, earlier turns (when memory is on), the query, images on the last user
    message (when vision is on); empty messages are dropped."""
    messages = [PromptMessage("system", system)]
    messages.extend(await history_messages(ctx.services, memory))
    messages.append(PromptMessage("user", query))
    messages = [m for m in messages if m.content or m.images]
    return with_images(messages, vision_images(ctx.pool, vision))


async def invoke(
    ctx: RunContext,
    model: ModelConfig,
    messages: list[PromptMessage],
    tools: tuple[ToolSpec, ...] = (),
    failure_outputs: bool = False,
) -> Invocation:
    """Call the model once, without streaming.

    Provider and configuration failures raise `NodeError` named after the underlying error;
    with `failure_outputs` the error carries `{__is_success: 0, __reason, __error}`.
    """
    try:
        run = ModelRun(
            ctx.services,
            model,
            messages,
            model_parameters(model.completion_params, ctx.pool),
            tools,
        )
        return await run.complete()
    except NodeError as exc:
        error = NodeError(exc.message, exc.error_type, exc.outputs)
    except DomainError as exc:
        error = NodeError(exc.message or exc.code, type(exc).__name__)
    if failure_outputs and error.outputs is None:
        error.outputs = {
            "__is_success": 0,
            "__reason": error.message,
            "__error": error.error_type,
        }
    raise error


def model_process_data(model: ModelConfig, messages: list[PromptMessage]) -> dict[str, Any]:
    """The `process_data` keys every LLM-family node records."""
    return {
        "model_mode": model.mode,
        "model_provider": model.provider,
        "model_name": model.name,
        "prompts": prompt_log(messages),
    }


def without_reasoning(text: str) -> str:
    """Text with `<think>` blocks removed (also a dangling `…</think>` prefix)."""
    text, _ = split_reasoning(text)
    if "</think>" in text:
        text = text.rsplit("</think>", 1)[1]
    return text.strip()


def _balanced_end(text: str, start: int) -> int:
    """Index of the `}` closing the `{` at `start`, or -1; braces in strings are ignored."""
    depth = 0
    in_string = False
    escaped = False
    for index in range(start, len(text)):
        char = text[index]
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return index
    return -1


def _first_object(text: str) -> dict[str, Any] | None:
    position = text.find("{")
    attempts = 0
    while position != -1 and attempts < _MAX_ATTEMPTS:
        attempts += 1
        end = _balanced_end(text, position)
        if end != -1:
            try:
                value = orjson.loads(text[position : end + 1])
            except orjson.JSONDecodeError:
                value = None
            if isinstance(value, dict):
                return value
        position = text.find("{", position + 1)
    return None


def json_object(text: str) -> dict[str, Any] | None:
    """The first JSON object in model output, leniently: `<think>` blocks are ignored, fenced
    code blocks are tried first, then the first balanced `{…}` that parses."""
    text = without_reasoning(text)
    for fenced in _FENCE.findall(text):
        found = _first_object(fenced)
        if found is not None:
            return found
    return _first_object(text)
