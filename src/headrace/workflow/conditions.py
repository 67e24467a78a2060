"""Comparison operators of if-else, loop break conditions and list filters (dsl.md §4.7)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from headrace.workflow.templates import render
from headrace.workflow.variables import MISSING, VariablePool, is_file


class ConditionError(ValueError):
    """A condition cannot be evaluated (missing variable, bad operator)."""


def _number(expected: Any, actual: Any) -> Any:
    if isinstance(actual, bool):
        return _boolean(expected)
    if isinstance(expected, int | float) and not isinstance(expected, bool):
        return expected
    text = str(expected).strip()
    try:
        number = float(text)
    except ValueError:
        raise ConditionError(f"Cannot compare {actual!r} with {expected!r}") from None
    if isinstance(actual, int) and number.is_integer():
        return int(number)
    return number


def _boolean(expected: Any) -> bool:
    if isinstance(expected, bool):
        return expected
    if isinstance(expected, int | float):
        return bool(expected)
    return str(expected).strip().lower() in ("true", "1", "yes")


def compare(operator: str, actual: Any, expected: Any) -> bool:
    """Apply one operator (`actual` is the variable's value)."""
    if actual is MISSING:
        actual = None
    match operator:
        case "contains":
            return bool(actual) and _contains(actual, expected)
        case "not contains":
            return not actual or not _contains(actual, expected)
        case "start with":
            return bool(actual) and str(actual).startswith(str(expected or ""))
        case "end with":
            return bool(actual) and str(actual).endswith(str(expected or ""))
        case "is" | "is not":
            if actual is None:
                return False
            equal = actual == (
                _boolean(expected)
                if isinstance(actual, bool)
                else str(expected if expected is not None else "")
            )
            return equal if operator == "is" else not equal
        case "empty":
            return not actual
        case "not empty":
            return bool(actual)
        case "=" | "≠" | ">" | "<" | "≥" | "≤" | "==" | "!=" | ">=" | "<=":
            if actual is None:
                return False
            return _ordered(operator, actual, _number(expected, actual))
        case "in":
            return bool(actual) and actual in _as_list(expected)
        case "not in":
            return not actual or actual not in _as_list(expected)
        case "all of":
            return isinstance(actual, list) and all(item in actual for item in _as_list(expected))
        case "null" | "is null" | "not exists":
            return actual is None
        case "not null" | "is not null" | "exists":
            return actual is not None
    raise ConditionError(f"Unsupported comparison operator: {operator}")


def _ordered(operator: str, actual: Any, expected: Any) -> bool:
    if operator in ("=", "=="):
        return bool(actual == expected)
    if operator in ("≠", "!="):
        return bool(actual != expected)
    if operator == ">":
        return bool(actual > expected)
    if operator == "<":
        return bool(actual < expected)
    if operator in ("≥", ">="):
        return bool(actual >= expected)
    return bool(actual <= expected)


def _contains(actual: Any, expected: Any) -> bool:
    if isinstance(actual, str):
        return str(expected if expected is not None else "") in actual
    if isinstance(actual, list):
        return expected in actual or str(expected) in [str(a) for a in actual]
    return False


def _as_list(expected: Any) -> list[Any]:
    if isinstance(expected, list):
        return expected
    if expected is None:
        return []
    return [expected]


def _file_attribute(file: Mapping[str, Any], key: str) -> Any:
    if key == "name":
        return file.get("filename")
    if key == "extension":
        ext = str(file.get("extension") or "")
        return ext if ext.startswith(".") else f".{ext}"
    return file.get(key)


def _sub_conditions(
    operator: str, files: Sequence[Any], sub: Mapping[str, Any], pool: VariablePool
) -> bool:
    conditions = sub.get("conditions") or []
    if not conditions:
        raise ConditionError("Sub variable is required")
    results = []
    for cond in conditions:
        key = str(cond.get("key") or "")
        expected = cond.get("value")
        if isinstance(expected, str):
            expected = render(expected, pool)
        if (
            key == "extension"
            and isinstance(expected, str)
            and expected
            and not expected.startswith(".")
        ):
            expected = f".{expected}"
        op = str(cond.get("comparison_operator") or "")
        per_file = [compare(op, _file_attribute(f, key), expected) for f in files if is_file(f)]
        combine = all if "not" in operator else any
        results.append(combine(per_file) if per_file else "not" in operator)
    if str(sub.get("logical_operator") or "and") == "or":
        return any(results)
    return all(results)


def evaluate(condition: Mapping[str, Any], pool: VariablePool, missing_fails: bool = True) -> bool:
    """Evaluate one if-else condition against the pool."""
    selector = condition.get("variable_selector") or []
    actual = pool.get(selector)
    if actual is MISSING and missing_fails:
        raise ConditionError(f"Variable {list(selector)} not found")
    operator = str(condition.get("comparison_operator") or "")
    expected = condition.get("value")
    if isinstance(expected, str):
        expected = render(expected, pool)
    elif isinstance(expected, list):
        expected = [render(v, pool) if isinstance(v, str) else v for v in expected]
    sub = condition.get("sub_variable_condition")
    if (
        isinstance(actual, list)
        and operator in ("contains", "not contains", "all of")
        and actual
        and all(is_file(a) for a in actual)
    ):
        if not isinstance(sub, Mapping):
            raise ConditionError("Sub variable is required")
        result = _sub_conditions(operator, actual, sub, pool)
        return result
    return compare(operator, actual, expected)


def evaluate_all(
    conditions: Sequence[Mapping[str, Any]],
    logical_operator: str,
    pool: VariablePool,
    missing_fails: bool = True,
) -> bool:
    """Combine conditions with `and`/`or`, short-circuiting."""
    if logical_operator == "or":
        return any(evaluate(c, pool, missing_fails) for c in conditions)
    return all(evaluate(c, pool, missing_fails) for c in conditions)
