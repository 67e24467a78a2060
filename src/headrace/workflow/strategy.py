"""Per-node failure handling: retry settings and error strategies (dsl.md §5)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from headrace.workflow.nodes.base import NodeError, NodeResult

FAIL_BRANCH = "fail-branch"
DEFAULT_VALUE = "default-value"
_ARRAY_ELEMENT = {
    "array[number]": (int, float),
    "array[string]": (str,),
    "array[object]": (dict,),
}


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often, and how far apart, a failed node is retried."""

    max_retries: int = 0
    interval_seconds: float = 0.0


def retry_policy(data: Mapping[str, Any]) -> RetryPolicy:
    """The node's retry settings (disabled unless `retry_enabled`)."""
    config = data.get("retry_config")
    if not isinstance(config, Mapping) or not config.get("retry_enabled"):
        return RetryPolicy()
    retries = max(0, min(int(config.get("max_retries") or 0), 10))
    interval = max(0, int(config.get("retry_interval") or 0)) / 1000
    return RetryPolicy(retries, interval)


def error_strategy(data: Mapping[str, Any]) -> str | None:
    """`fail-branch`, `default-value` or None."""
    value = data.get("error_strategy")
    return value if value in (FAIL_BRANCH, DEFAULT_VALUE) else None


def _typed(item: Mapping[str, Any]) -> Any:
    kind = str(item.get("type") or "string").lower()
    value = item.get("value")
    if kind == "number" and isinstance(value, str):
        return float(value) if value.strip() else 0
    if (kind == "object" or kind.startswith("array")) and isinstance(value, str):
        value = orjson.loads(value or ("{}" if kind == "object" else "[]"))
    if kind == "object" and not isinstance(value, dict):
        raise ValueError(f"default value of {item.get('key')} must be an object")
    element = _ARRAY_ELEMENT.get(kind)
    if element is not None and (
        not isinstance(value, list) or not all(isinstance(v, element) for v in value)
    ):
        raise ValueError(f"default value of {item.get('key')} must be {kind}")
    return value


def handled_result(data: Mapping[str, Any], error: NodeError) -> NodeResult | None:
    """The result a strategy turns a failure into, or None when the failure is fatal."""
    strategy = error_strategy(data)
    if strategy is None:
        return None
    failure = {"error_message": error.message, "error_type": error.error_type}
    if strategy == FAIL_BRANCH:
        return NodeResult(
            outputs=failure, handle=FAIL_BRANCH, metadata={"error_strategy": strategy}
        )
    outputs: dict[str, Any] = {}
    for item in data.get("default_value") or []:
        if isinstance(item, Mapping) and item.get("key"):
            outputs[str(item["key"])] = _typed(item)
    outputs.update(failure)
    return NodeResult(outputs=outputs, metadata={"error_strategy": strategy})
