"""Validation of `inputs` against the app's input form (spec §5.1.1).

Every failure is `400 invalid_param` with the contract's message.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from headrace.apps.app_config import InputVariable
from headrace.errors import InvalidParamError

STRING_TYPES = frozenset({"text-input", "select", "paragraph"})
TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
FALSE_WORDS = frozenset({"false", "0", "no", "off"})


def validate_inputs(variables: Iterable[InputVariable], given: Mapping[str, Any]) -> dict[str, Any]:
    """Keep declared variables only, apply defaults, check and coerce each value."""
    result: dict[str, Any] = {}
    misplaced: list[str] = []
    for var in variables:
        value = given.get(var.variable)
        if var.type in {"file", "file-list"} and value == "":
            value = None
        if value is None:
            if var.required:
                raise InvalidParamError(f"{var.variable} is required in input form")
            result[var.variable] = var.default
            continue
        if _is_misplaced(var.type, value):
            misplaced.append(var.variable)
            continue
        result[var.variable] = _check(var, value)
    if misplaced:
        raise InvalidParamError(f"Invalid input type for {misplaced}")
    return result


def _is_misplaced(kind: str, value: Any) -> bool:
    if kind in {"file", "file-list", "json_object"}:
        return False
    if isinstance(value, dict):
        return True
    return isinstance(value, list) and any(isinstance(v, dict) for v in value)


def _check(var: InputVariable, value: Any) -> Any:
    name = var.variable
    if var.type in STRING_TYPES:
        if not isinstance(value, str):
            raise InvalidParamError(f"(type '{var.type}') {name} in input form must be a string")
        if var.type == "select" and var.options and value not in var.options:
            raise InvalidParamError(
                f"{name} in input form must be one of the following: {list(var.options)}"
            )
        if var.max_length and len(value) > var.max_length:
            raise InvalidParamError(
                f"{name} in input form must be less than {var.max_length} characters"
            )
        return value.replace("\x00", "")
    if var.type == "number":
        return _number(name, value)
    if var.type == "checkbox":
        return _checkbox(name, value)
    if var.type == "file":
        if not isinstance(value, dict):
            raise InvalidParamError(f"{name} in input form must be a file")
        return value
    if var.type == "file-list":
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise InvalidParamError(f"{name} in input form must be a list of files")
        if var.max_length and len(value) > var.max_length:
            raise InvalidParamError(
                f"{name} in input form must be less than {var.max_length} files"
            )
        return value
    if var.type == "json_object":
        if value and not isinstance(value, dict):
            raise InvalidParamError(f"{name} in input form must be a dict")
        return value
    return value


def _number(name: str, value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        # Dify answers 500 here; a clear 400 is what a client can act on.
        raise InvalidParamError(f"{name} in input form must be a valid number")
    if not isinstance(value, str):
        return value
    text = value.strip()
    if not text:
        return None
    try:
        return float(text) if "." in text else int(text)
    except ValueError:
        raise InvalidParamError(f"{name} in input form must be a valid number") from None


def _checkbox(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in TRUE_WORDS | FALSE_WORDS:
        return value.strip().lower() in TRUE_WORDS
    raise InvalidParamError(f"{name} in input form must be a boolean")
