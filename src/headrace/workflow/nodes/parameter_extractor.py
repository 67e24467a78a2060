"""`parameter-extractor`: asks the model for the declared parameters of a text, through a
function call (`function_call` mode) or a JSON object in its answer (`prompt` mode), then
coerces every value to its declared type (dsl.md §4.14)."""

from __future__ import annotations

import math
import re
from collections.abc import AsyncIterator
from typing import Any

import orjson
from pydantic import field_validator

from headrace.providers.types import ToolCall, ToolSpec
from headrace.workflow.model_calls import Invocation, MemoryConfig, ModelConfig, VisionConfig
from headrace.workflow.nodes.base import Node, NodeData, NodeEvent, NodeResult
from headrace.workflow.nodes.llm_family import (
    chat_messages,
    invoke,
    json_object,
    model_process_data,
    query_text,
)
from headrace.workflow.templates import render

FUNCTION_CALL = "function_call"
PROMPT = "prompt"
TOOL_NAME = "extract_parameters"
RESERVED_NAMES = frozenset({"__reason", "__is_success"})
TYPES = frozenset(
    {
        "string",
        "number",
        "boolean",
        "array[string]",
        "array[number]",
        "array[object]",
        "array[boolean]",
    }
)
_TYPE_RENAMES = {"bool": "boolean", "select": "string"}
_TRUE = frozenset({"true", "yes", "y", "1", "on"})
_FALSE = frozenset({"false", "no", "n", "0", "off"})
_INTEGER = re.compile(r"[+-]?\d+")
_GROUPED = re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d+)?")

_SYSTEM_FUNCTION = (
    "You extract structured parameters from the user's text. Call the function "
    f"`{TOOL_NAME}` exactly once with the values the text contains. Leave out any parameter "
    "the text does not mention; never invent values."
)
_SYSTEM_PROMPT = (
    "You extract structured parameters from the user's text. Answer with one JSON object "
    "and nothing else: its keys are parameter names and its values follow this JSON schema. "
    "Leave out any parameter the text does not mention; never invent values.\n\n"
    "JSON schema:\n{schema}"
)


class ParameterSpec(NodeData):
    """One parameter to extract."""

    name: str
    type: str = "string"
    description: str | None = ""
    required: bool | None = False
    options: list[Any] | None = None

    @field_validator("type", mode="before")
    @classmethod
    def _canonical_type(cls, value: Any) -> str:
        kind = str(value or "string").strip().lower()
        kind = _TYPE_RENAMES.get(kind, kind)
        return kind if kind in TYPES else "string"

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value in RESERVED_NAMES:
            raise ValueError(f"parameter name {value} is reserved")
        return value

    def enum(self) -> list[str]:
        """The allowed values of a select parameter (empty: any value)."""
        if self.type != "string" or not self.options:
            return []
        return [str(option) for option in self.options]

    def json_schema(self) -> dict[str, Any]:
        """The JSON schema of this parameter."""
        if self.type.startswith("array["):
            item = self.type[len("array[") : -1]
            schema: dict[str, Any] = {"type": "array", "items": {"type": item}}
        else:
            schema = {"type": self.type}
            if self.enum():
                schema["enum"] = self.enum()
        if self.description:
            schema["description"] = self.description
        return schema


class ParameterExtractorData(NodeData):
    """Configuration of a parameter-extractor node."""

    model: ModelConfig
    query: list[str] = []
    parameters: list[ParameterSpec] = []
    instruction: str | None = None
    reasoning_mode: str | None = FUNCTION_CALL
    memory: MemoryConfig | None = None
    vision: VisionConfig | None = None

    @field_validator("query", mode="before")
    @classmethod
    def _selector(cls, value: Any) -> Any:
        return [] if value is None else [str(part) for part in value]


def parameters_schema(parameters: list[ParameterSpec]) -> dict[str, Any]:
    """The JSON schema of the object holding every declared parameter."""
    return {
        "type": "object",
        "properties": {p.name: p.json_schema() for p in parameters},
        "required": [p.name for p in parameters if p.required],
    }


def default_value(kind: str) -> Any:
    """The value of a parameter the model did not provide."""
    if kind.startswith("array["):
        return []
    return {"number": 0, "boolean": False}.get(kind, "")


class CoercionError(ValueError):
    """A value cannot be turned into its declared type."""


def _number(value: Any) -> int | float:
    if isinstance(value, bool):
        raise CoercionError("expected number")
    if isinstance(value, int | float) and math.isfinite(value):
        return value
    if isinstance(value, str):
        text = value.strip()
        if _GROUPED.fullmatch(text):
            text = text.replace(",", "")
        if _INTEGER.fullmatch(text):
            return int(text)
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        if math.isfinite(number):
            return number
    raise CoercionError("expected number")


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise CoercionError("expected boolean")


def _string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    raise CoercionError("expected string")


def _object(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            raise CoercionError("expected object") from None
    if isinstance(value, dict):
        return value
    raise CoercionError("expected object")


_SCALAR = {"string": _string, "number": _number, "boolean": _boolean, "object": _object}


def coerce(kind: str, value: Any) -> Any:
    """`value` as declared type `kind`; raises `CoercionError` when impossible."""
    if not kind.startswith("array["):
        return _SCALAR[kind](value)
    item = kind[len("array[") : -1]
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            raise CoercionError(f"expected {kind}") from None
    if not isinstance(value, list):
        value = [value]
    try:
        return [_SCALAR[item](element) for element in value]
    except CoercionError:
        raise CoercionError(f"expected {kind}") from None


def extract(
    parameters: list[ParameterSpec], raw: dict[str, Any] | None
) -> tuple[dict[str, Any], list[str]]:
    """Every declared parameter coerced (or defaulted), and the problems met on the way."""
    if raw is None:
        return {p.name: default_value(p.type) for p in parameters}, [
            "failed to parse the model output as a JSON object"
        ]
    values: dict[str, Any] = {}
    problems: list[str] = []
    for param in parameters:
        value = raw.get(param.name)
        if value is None or value == "":
            values[param.name] = default_value(param.type)
            if param.required:
                problems.append(f"missing required parameter: {param.name}")
            continue
        try:
            coerced = coerce(param.type, value)
        except CoercionError as exc:
            values[param.name] = default_value(param.type)
            problems.append(f"invalid value for parameter {param.name}: {exc}")
            continue
        if param.enum() and coerced not in param.enum():
            values[param.name] = default_value(param.type)
            problems.append(
                f"invalid value for parameter {param.name}: {coerced!r} is not one of "
                + ", ".join(param.enum())
            )
            continue
        values[param.name] = coerced
    return values, problems


def _arguments(call: ToolCall) -> dict[str, Any] | None:
    try:
        value = orjson.loads(call.arguments or "{}")
    except orjson.JSONDecodeError:
        return json_object(call.arguments)
    return value if isinstance(value, dict) else None


class ParameterExtractorNode(Node):
    """Outputs the declared parameters plus `__is_success`, `__reason` and `__usage`."""

    node_type = "parameter-extractor"
    data_model = ParameterExtractorData

    def _mode(self) -> str:
        data: ParameterExtractorData = self.data
        if data.reasoning_mode == PROMPT or data.model.mode == "completion":
            return PROMPT
        return FUNCTION_CALL

    def _system(self, mode: str) -> str:
        data: ParameterExtractorData = self.data
        schema = parameters_schema(data.parameters)
        if mode == FUNCTION_CALL:
            system = _SYSTEM_FUNCTION
        else:
            system = _SYSTEM_PROMPT.format(
                schema=orjson.dumps(schema, option=orjson.OPT_INDENT_2).decode()
            )
        instruction = render(data.instruction or "", self.pool).strip()
        if instruction:
            system += f"\n\nInstructions:\n{instruction}"
        return system

    def _tool(self) -> ToolSpec:
        return ToolSpec(
            name=TOOL_NAME,
            description="Submit the parameters extracted from the user's text.",
            parameters=parameters_schema(self.data.parameters),
        )

    async def run(self) -> AsyncIterator[NodeEvent]:
        """Call the model once and turn its answer into typed outputs."""
        data: ParameterExtractorData = self.data
        mode = self._mode()
        query = query_text(self.pool, data.query)
        messages = await chat_messages(
            self.ctx, self._system(mode), query, data.memory, data.vision
        )
        tools = (self._tool(),) if mode == FUNCTION_CALL else ()
        invocation = await invoke(self.ctx, data.model, messages, tools, failure_outputs=True)
        raw, process = self._raw(invocation, mode)
        values, problems = extract(data.parameters, raw)
        usage = invocation.usage.as_dict()
        outputs: dict[str, Any] = {
            **values,
            "__is_success": 0 if problems else 1,
            "__reason": "; ".join(problems) if problems else None,
            "__usage": usage,
        }
        process_data = model_process_data(data.model, messages)
        process_data.update(process)
        process_data.update(
            reasoning_mode=mode,
            usage=usage,
            finish_reason=invocation.finish_reason,
        )
        if tools:
            process_data["function"] = {
                "name": TOOL_NAME,
                "parameters": parameters_schema(data.parameters),
            }
        yield NodeResult(
            outputs=outputs,
            inputs={"query": query},
            process_data=process_data,
            **invocation.node_usage(),
        )

    def _raw(
        self, invocation: Invocation, mode: str
    ) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """The parsed answer and what to record of it: the function call's arguments when
        the model made one, else the text (also the fallback when it made none)."""
        if mode == FUNCTION_CALL:
            calls = [c for c in invocation.tool_calls if c.name == TOOL_NAME]
            call = calls[0] if calls else next(iter(invocation.tool_calls), None)
            if call is not None:
                return _arguments(call), {
                    "tool_call": {"name": call.name, "arguments": call.arguments},
                    "llm_text": invocation.text,
                }
        return json_object(invocation.text), {"llm_text": invocation.text}
