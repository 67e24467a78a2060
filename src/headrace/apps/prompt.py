"""Prompt assembly for chat and completion apps from the app's model config.

Templates use `{{variable}}` for inputs and the specials `{{#query#}}`, `{{#histories#}}`,
`{{#context#}}` (dsl.md §1.7). History is a window of earlier turns fitted to a token budget.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from headrace.apps.app_config import AppConfig
from headrace.providers.types import ImagePart, PromptMessage, Role
from headrace.providers.usage import estimate_tokens

_VARIABLE = re.compile(r"\{\{([a-zA-Z_][a-zA-Z0-9_]{0,29})\}\}")
HISTORY_TOKEN_BUDGET = 2000
HISTORY_MAX_TURNS = 50


@dataclass(frozen=True, slots=True)
class Turn:
    """An earlier query/answer pair of the conversation."""

    query: str
    answer: str


def render(text: str, inputs: Mapping[str, Any], query: str = "", context: str = "") -> str:
    """Fill `{{var}}` from inputs and the `{{#query#}}`/`{{#context#}}` specials."""
    filled = _VARIABLE.sub(lambda m: _text(inputs.get(m.group(1))), text)
    return filled.replace("{{#query#}}", query).replace("{{#context#}}", context)


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def history_window(turns: Sequence[Turn], budget: int = HISTORY_TOKEN_BUDGET) -> list[Turn]:
    """The newest turns that fit `budget` tokens, oldest first."""
    kept: list[Turn] = []
    used = 0
    for turn in reversed(turns[-HISTORY_MAX_TURNS:]):
        used += estimate_tokens(turn.query) + estimate_tokens(turn.answer)
        if used > budget:
            break
        kept.append(turn)
    kept.reverse()
    return kept


def _history_messages(turns: Sequence[Turn]) -> list[PromptMessage]:
    messages: list[PromptMessage] = []
    for turn in turns:
        messages.append(PromptMessage("user", turn.query))
        messages.append(PromptMessage("assistant", turn.answer))
    return messages


def _history_text(turns: Sequence[Turn], user: str = "Human", assistant: str = "Assistant") -> str:
    return "\n".join(f"{user}: {t.query}\n{assistant}: {t.answer}" for t in turns)


def build_prompt(
    config: AppConfig,
    app_mode: str,
    inputs: Mapping[str, Any],
    query: str,
    history: Sequence[Turn] = (),
    images: Sequence[ImagePart] = (),
    context: str = "",
) -> tuple[PromptMessage, ...]:
    """The messages sent to the model for one turn (`context`: retrieved knowledge)."""
    turns = history_window(history) if app_mode != "completion" else []
    user = PromptMessage("user", query, images=tuple(images))
    if config.prompt_type == "advanced":
        return _advanced(config, inputs, query, turns, user, context)
    pre_prompt = with_context_slot(config.pre_prompt, context)
    if app_mode == "completion":
        text = render(pre_prompt, inputs, query, context)
        if query and "{{#query#}}" not in pre_prompt:
            text = f"{text}\n{query}" if text else query
        return (PromptMessage("user", text, images=tuple(images)),)
    messages: list[PromptMessage] = []
    system = render(pre_prompt, inputs, query, context)
    if system.strip():
        messages.append(PromptMessage("system", system))
    messages.extend(_history_messages(turns))
    messages.append(user)
    return tuple(messages)


CONTEXT_BLOCK = (
    "Use the knowledge between the <context></context> tags to answer. If it does not hold "
    "the answer, say so rather than guess.\n<context>\n{{#context#}}\n</context>\n\n"
)


def with_context_slot(template: str, context: str) -> str:
    """A template that shows retrieved knowledge: its own `{{#context#}}`, else a block first."""
    if not context or "{{#context#}}" in template:
        return template
    return CONTEXT_BLOCK + template


def _advanced(
    config: AppConfig,
    inputs: Mapping[str, Any],
    query: str,
    turns: Sequence[Turn],
    user: PromptMessage,
    context: str = "",
) -> tuple[PromptMessage, ...]:
    if config.model.mode == "completion" or not config.chat_prompt:
        text = render(config.completion_prompt or config.pre_prompt, inputs, query, context)
        text = text.replace("{{#histories#}}", _history_text(turns))
        return (PromptMessage("user", text, images=user.images),)
    messages: list[PromptMessage] = []
    mentions_query = False
    for role, text in config.chat_prompt:
        mentions_query = mentions_query or "{{#query#}}" in text
        rendered = render(text, inputs, query, context).replace(
            "{{#histories#}}", _history_text(turns)
        )
        safe_role: Role = role if role in ("system", "user", "assistant") else "user"  # type: ignore[assignment]
        messages.append(PromptMessage(safe_role, rendered))
    if not mentions_query:
        messages.extend(_history_messages(turns))
        if user.content or user.images:
            messages.append(user)
    return tuple(messages)
