"""`question-classifier`: the model picks one of the declared classes for the query and the
engine takes that class's branch; unparsable answers and unknown ids pick the first class
(dsl.md §4.6)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
from pydantic import field_validator

from headrace.workflow.model_calls import MemoryConfig, ModelConfig, VisionConfig
from headrace.workflow.nodes.base import Node, NodeData, NodeError, NodeEvent, NodeResult
from headrace.workflow.nodes.llm_family import (
    chat_messages,
    invoke,
    json_object,
    model_process_data,
    query_text,
)
from headrace.workflow.templates import render

_SYSTEM = (
    "You are a text classifier. Put the user's input into exactly one of the categories "
    "listed below. Answer with one JSON object and nothing else, of the form "
    '{{"category_id": "<id of the chosen category>", "category_name": "<its name>"}}.\n\n'
    "Categories (one JSON object per line):\n{categories}"
)


class ClassSpec(NodeData):
    """One class: its id is the branch handle, its name the description the model sees."""

    id: str
    name: str = ""
    label: str | None = None

    @field_validator("id", mode="before")
    @classmethod
    def _text_id(cls, value: Any) -> str:
        return str(value)

    @field_validator("name", mode="before")
    @classmethod
    def _text_name(cls, value: Any) -> str:
        return "" if value is None else str(value)


class QuestionClassifierData(NodeData):
    """Configuration of a question-classifier node."""

    query_variable_selector: list[str] = []
    model: ModelConfig
    classes: list[ClassSpec] = []
    instruction: str | None = None
    memory: MemoryConfig | None = None
    vision: VisionConfig | None = None

    @field_validator("query_variable_selector", mode="before")
    @classmethod
    def _selector(cls, value: Any) -> Any:
        return [] if value is None else [str(part) for part in value]


def choose(classes: list[ClassSpec], answer: str) -> int:
    """The position of the class the answer names by `category_id` (0 when it names none)."""
    parsed = json_object(answer)
    chosen = parsed.get("category_id") if parsed is not None else None
    if chosen is None or isinstance(chosen, dict | list):
        return 0
    for position, item in enumerate(classes):
        if item.id == str(chosen).strip():
            return position
    return 0


class QuestionClassifierNode(Node):
    """Outputs `class_name`, `class_id`, `class_label` and `usage`; branches on the class id."""

    node_type = "question-classifier"
    data_model = QuestionClassifierData
    branching = True

    def _system(self, names: list[str]) -> str:
        data: QuestionClassifierData = self.data
        lines = "\n".join(
            orjson.dumps({"category_id": item.id, "category_name": name}).decode()
            for item, name in zip(data.classes, names, strict=True)
        )
        system = _SYSTEM.format(categories=lines)
        instruction = render(data.instruction or "", self.pool).strip()
        if instruction:
            system += f"\n\nInstructions:\n{instruction}"
        return system

    async def run(self) -> AsyncIterator[NodeEvent]:
        """Ask the model for a category and take its branch."""
        data: QuestionClassifierData = self.data
        if not data.classes:
            raise NodeError("The question classifier has no classes", "QuestionClassifierError")
        names = [render(item.name, self.pool) for item in data.classes]
        query = query_text(self.pool, data.query_variable_selector)
        messages = await chat_messages(
            self.ctx, self._system(names), query, data.memory, data.vision
        )
        invocation = await invoke(self.ctx, data.model, messages)
        position = choose(data.classes, invocation.text)
        chosen = data.classes[position]
        usage = invocation.usage.as_dict()
        process_data = model_process_data(data.model, messages)
        process_data.update(
            llm_text=invocation.text,
            usage=usage,
            finish_reason=invocation.finish_reason,
        )
        yield NodeResult(
            outputs={
                "class_name": names[position],
                "class_id": chosen.id,
                "class_label": chosen.label or f"CLASS {position + 1}",
                "usage": usage,
            },
            inputs={"query": query},
            process_data=process_data,
            handle=chosen.id,
            **invocation.node_usage(),
        )
