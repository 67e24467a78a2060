"""Metadata filters of retrieval (spec §10.6): conditions on document metadata values."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from headrace.workflow.conditions import ConditionError, compare


def _instant(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            try:
                return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
            except ValueError:
                return None
    return None


def condition_holds(metadata: Mapping[str, Any], condition: Mapping[str, Any]) -> bool:
    """Whether one condition holds for a document's metadata."""
    name = str(condition.get("name") or "")
    operator = str(condition.get("comparison_operator") or "")
    expected = condition.get("value")
    actual = metadata.get(name)
    if operator in ("before", "after"):
        left, right = _instant(actual), _instant(expected)
        if left is None or right is None:
            return False
        return left < right if operator == "before" else left > right
    try:
        return compare(operator, actual, expected)
    except ConditionError:
        return False


def metadata_matches(metadata: Mapping[str, Any], filtering: Mapping[str, Any] | None) -> bool:
    """Whether a document passes `metadata_filtering_conditions` (no conditions: it passes)."""
    conditions: Sequence[Mapping[str, Any]] = (filtering or {}).get("conditions") or []
    if not conditions:
        return True
    results = (condition_holds(metadata, c) for c in conditions)
    if str((filtering or {}).get("logical_operator") or "and") == "or":
        return any(results)
    return all(results)
