"""Per-node `data` rules of the importer checklist (dsl.md §8 rules 6, 9-18, 20).

Each function rewrites one node's `data` mapping in place and is idempotent. Unknown keys are
never removed: editor caches and future fields survive a round trip.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from headrace.dsl.provider_ids import (
    TOOL_TYPES_WITH_PLUGIN_IDS,
    canonical_model_provider,
    canonical_tool_provider,
)

_SCALAR_TYPES = frozenset(
    {
        "string",
        "number",
        "integer",
        "float",
        "secret",
        "boolean",
        "object",
        "file",
        "array",
        "any",
        "none",
        "group",
    }
)
_ARRAY_TYPE = re.compile(r"^array\[[a-z]+\]$")
_PARAMETER_TYPE_RENAMES = {"bool": "boolean", "select": "string"}


def lower_value_type(value: Any) -> Any:
    """Lower-case a value-type string such as `Array[String]` (dsl.md §3.4, §8 rule 18).

    Strings that are not value types are returned unchanged.
    """
    if not isinstance(value, str):
        return value
    lowered = value.lower()
    if lowered in _SCALAR_TYPES or _ARRAY_TYPE.match(lowered):
        return lowered
    return value


def _lower_key(item: Any, key: str) -> None:
    if isinstance(item, dict) and key in item:
        item[key] = lower_value_type(item[key])


def _each_dict(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, dict)]


def normalize_model(model: Any) -> None:
    """Rewrite the `provider` of a model block to plugin form (§8 rule 13)."""
    if isinstance(model, dict) and isinstance(model.get("provider"), str):
        model["provider"] = canonical_model_provider(model["provider"])


def normalize_provider_key(block: Any, key: str) -> None:
    """Rewrite `block[key]`, a model provider id, to plugin form when it is a string."""
    if isinstance(block, dict) and isinstance(block.get(key), str):
        block[key] = canonical_model_provider(block[key])


def _common(data: dict[str, Any]) -> None:
    if not isinstance(data.get("title"), str):
        data["title"] = "" if data.get("title") is None else str(data["title"])
    for item in _each_dict(data.get("default_value")):
        _lower_key(item, "type")
    for item in _each_dict(data.get("variables")):
        _lower_key(item, "value_type")


def _if_else(data: dict[str, Any]) -> None:
    if "cases" not in data and isinstance(data.get("conditions"), list):
        operator = data.get("logical_operator") or "and"
        data["cases"] = [
            {"case_id": "true", "logical_operator": operator, "conditions": data["conditions"]}
        ]
        data.pop("conditions", None)
        data.pop("logical_operator", None)
    for case in _each_dict(data.get("cases")):
        if isinstance(case.get("case_id"), int | float) and not isinstance(case["case_id"], bool):
            case["case_id"] = str(case["case_id"])


def _question_classifier(data: dict[str, Any]) -> None:
    normalize_model(data.get("model"))
    for item in _each_dict(data.get("classes")):
        if isinstance(item.get("id"), int) and not isinstance(item["id"], bool):
            item["id"] = str(item["id"])


def _llm(data: dict[str, Any]) -> None:
    normalize_model(data.get("model"))


def _start(data: dict[str, Any]) -> None:
    for variable in _each_dict(data.get("variables")):
        if "options" in variable and variable["options"] is None:
            variable["options"] = []


def _parameter_extractor(data: dict[str, Any]) -> None:
    normalize_model(data.get("model"))
    if not data.get("reasoning_mode"):
        data["reasoning_mode"] = "function_call"
    for param in _each_dict(data.get("parameters")):
        kind = lower_value_type(param.get("type"))
        if isinstance(kind, str):
            kind = _PARAMETER_TYPE_RENAMES.get(kind.lower(), kind)
        if "type" in param:
            param["type"] = kind


def _knowledge_retrieval(data: dict[str, Any]) -> None:
    single = data.get("single_retrieval_config")
    if isinstance(single, dict):
        normalize_model(single.get("model"))
    normalize_model(data.get("metadata_model_config"))
    multiple = data.get("multiple_retrieval_config")
    if isinstance(multiple, dict):
        rerank = multiple.get("reranking_model")
        normalize_provider_key(rerank, "provider")
        normalize_provider_key(rerank, "reranking_provider_name")
        weights = multiple.get("weights")
        if isinstance(weights, dict):
            normalize_provider_key(weights.get("vector_setting"), "embedding_provider_name")


def _tool(data: dict[str, Any]) -> None:
    provider_type = data.get("provider_type")
    if (
        isinstance(provider_type, str)
        and provider_type in TOOL_TYPES_WITH_PLUGIN_IDS
        and isinstance(data.get("provider_id"), str)
    ):
        data["provider_id"] = canonical_tool_provider(data["provider_id"])
    legacy = data.get("version") in (None, "1") and data.get("tool_node_version") is None
    if legacy:
        data["tool_node_version"] = "2"
        configurations = data.get("tool_configurations")
        if isinstance(configurations, dict):
            for name, value in configurations.items():
                if not isinstance(value, dict):
                    configurations[name] = {"type": "constant", "value": value}


def _http_request(data: dict[str, Any]) -> None:
    if isinstance(data.get("method"), str):
        data["method"] = data["method"].lower()
    body = data.get("body")
    if isinstance(body, dict) and isinstance(body.get("data"), str):
        body["data"] = [{"key": "", "type": "text", "value": body["data"]}]


def _iteration(data: dict[str, Any]) -> None:
    data.setdefault("is_parallel", False)
    data.setdefault("parallel_nums", 10)
    data.setdefault("error_handle_mode", "terminated")
    data.setdefault("flatten_output", True)
    _lower_key(data, "output_type")


def _loop(data: dict[str, Any]) -> None:
    for item in _each_dict(data.get("loop_variables")):
        _lower_key(item, "var_type")


def _end(data: dict[str, Any]) -> None:
    for item in _each_dict(data.get("outputs")):
        _lower_key(item, "value_type")


def _code(data: dict[str, Any]) -> None:
    outputs = data.get("outputs")
    if isinstance(outputs, dict):
        for spec in outputs.values():
            _lower_key(spec, "type")


def _variable_aggregator(data: dict[str, Any]) -> None:
    _lower_key(data, "output_type")
    settings = data.get("advanced_settings")
    if isinstance(settings, dict):
        for group in _each_dict(settings.get("groups")):
            _lower_key(group, "output_type")


def _list_operator(data: dict[str, Any]) -> None:
    _lower_key(data, "var_type")
    _lower_key(data, "item_var_type")


_RULES: dict[str, Callable[[dict[str, Any]], None]] = {
    "start": _start,
    "if-else": _if_else,
    "question-classifier": _question_classifier,
    "llm": _llm,
    "parameter-extractor": _parameter_extractor,
    "knowledge-retrieval": _knowledge_retrieval,
    "tool": _tool,
    "http-request": _http_request,
    "iteration": _iteration,
    "loop": _loop,
    "end": _end,
    "code": _code,
    "variable-aggregator": _variable_aggregator,
    "list-operator": _list_operator,
}


def normalize_node_data(data: dict[str, Any]) -> None:
    """Apply the common and the type-specific rules to one executable node's `data`."""
    _common(data)
    rule = _RULES.get(str(data.get("type") or ""))
    if rule is not None:
        rule(data)
