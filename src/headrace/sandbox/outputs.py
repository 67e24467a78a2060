"""Output checks of the workflow ``code`` node (spec §4.8) and result post-processing."""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any, Final

from ._types import OutputValidationError

MAX_STRING_LENGTH: Final = 400_000
MAX_NUMBER: Final = 9_223_372_036_854_775_807
MIN_NUMBER: Final = -9_223_372_036_854_775_807
MAX_PRECISION: Final = 20
MAX_DEPTH: Final = 5
MAX_NUMBER_ARRAY_LENGTH: Final = 1000
MAX_STRING_ARRAY_LENGTH: Final = 30
MAX_OBJECT_ARRAY_LENGTH: Final = 30

OUTPUT_TYPES: Final = frozenset(
    {"string", "number", "object", "boolean"}
    | {"array[string]", "array[number]", "array[object]", "array[boolean]"}
)

_SCIENTIFIC = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def convert_scientific_notation(value: Any) -> Any:
    """Return ``value`` with every string in scientific notation (``"1.5e-7"``) as a float.

    Applied to a run's result, recursively through objects and arrays (spec §4.8).
    """
    if isinstance(value, str):
        if _SCIENTIFIC.fullmatch(value):
            number = float(value)
            if math.isfinite(number):
                return number
        return value
    if isinstance(value, dict):
        return {key: convert_scientific_notation(item) for key, item in value.items()}
    if isinstance(value, list):
        return [convert_scientific_notation(item) for item in value]
    return value


def check_outputs(declared: dict[str, dict[str, Any]], result: dict[str, Any]) -> dict[str, Any]:
    """Validate ``result`` against the node's declared ``outputs`` and return the outputs.

    ``declared`` maps output names to ``{"type": ..., "children": ...}``. The returned dict
    holds exactly the declared names with NUL characters stripped from strings and booleans
    of ``number`` outputs turned into 0/1. Raises :class:`OutputValidationError` with the
    spec's message on the first violated rule.
    """
    if not isinstance(result, dict):
        raise OutputValidationError(f"Result must be a dict, got {type(result).__name__}")
    outputs: dict[str, Any] = {}
    for name, config in declared.items():
        if name not in result:
            raise OutputValidationError(f"Output `{name}` is missing.")
        output_type = config.get("type") if isinstance(config, dict) else None
        outputs[name] = _check_declared(name, output_type, result[name])
    if any(key not in declared for key in result):
        raise OutputValidationError("Not all output parameters are validated.")
    return outputs


def _type_name(value: Any) -> str:
    return type(value).__name__


def _check_declared(path: str, output_type: Any, value: Any) -> Any:
    if output_type == "string":
        return _check_string(path, value)
    if output_type == "number":
        return _check_number(path, int(value) if isinstance(value, bool) else value)
    if output_type == "boolean":
        return value
    if output_type == "object":
        if value is None:
            return None
        if not isinstance(value, dict):
            raise OutputValidationError(
                f"Output `{path}` is not an object, got {_type_name(value)} instead."
            )
        return _check_untyped(path, value, 2)
    if (
        isinstance(output_type, str)
        and output_type.startswith("array[")
        and output_type in (OUTPUT_TYPES)
    ):
        return _check_array(path, output_type, value)
    raise OutputValidationError(f"Output `{path}` has unsupported type `{output_type}`.")


def _check_array(path: str, output_type: str, value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, list):
        raise OutputValidationError(
            f"Output `{path}` is not an array, got {_type_name(value)} instead."
        )
    limit = {
        "array[number]": MAX_NUMBER_ARRAY_LENGTH,
        "array[string]": MAX_STRING_ARRAY_LENGTH,
        "array[object]": MAX_OBJECT_ARRAY_LENGTH,
    }.get(output_type)
    if limit is not None and len(value) > limit:
        raise OutputValidationError(
            f"The length of output variable `{path}` must be less than {limit} elements."
        )
    checked: list[Any] = []
    for index, item in enumerate(value):
        item_path = f"{path}[{index}]"
        if output_type == "array[number]":
            checked.append(_check_number(item_path, int(item) if isinstance(item, bool) else item))
        elif output_type == "array[string]":
            checked.append(_check_string(item_path, item))
        elif output_type == "array[object]":
            if item is not None and not isinstance(item, dict):
                raise OutputValidationError(
                    f"Output `{item_path}` is not an object, got {_type_name(item)} instead."
                )
            checked.append(None if item is None else _check_untyped(item_path, item, 2))
        else:
            if item is not None and not isinstance(item, bool):
                raise OutputValidationError(
                    f"Output `{item_path}` is not a boolean, got {_type_name(item)} instead."
                )
            checked.append(item)
    return checked


def _check_untyped(path: str, value: Any, depth: int) -> Any:
    """Validate a nested value of an object output (no declared schema).

    Mappings and arrays each add one level; strings and numbers get the scalar checks.
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return _check_string(path, value)
    if isinstance(value, int | float):
        return _check_number(path, value)
    if isinstance(value, dict | list) and depth > MAX_DEPTH:
        raise OutputValidationError(f"Depth limit {MAX_DEPTH} reached, object too deep.")
    if isinstance(value, dict):
        return {
            key: _check_untyped(f"{path}.{key}", item, depth + 1) for key, item in value.items()
        }
    if isinstance(value, list):
        return [_check_untyped(f"{path}[{i}]", item, depth + 1) for i, item in enumerate(value)]
    raise OutputValidationError(f"Output `{path}` is not a valid type, got {_type_name(value)}.")


def _check_string(path: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise OutputValidationError(f"Output variable `{path}` must be a string")
    if len(value) > MAX_STRING_LENGTH:
        raise OutputValidationError(
            f"The length of output variable `{path}` must be less than "
            f"{MAX_STRING_LENGTH} characters"
        )
    return value.replace("\x00", "")


def _decimal_places(value: float) -> int:
    exponent = Decimal(repr(value)).as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _check_number(path: str, value: Any) -> int | float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise OutputValidationError(f"Output variable `{path}` must be a number")
    if not (math.isfinite(value) and MIN_NUMBER <= value <= MAX_NUMBER):
        raise OutputValidationError(
            f"Output variable `{path}` is out of range, it must be between "
            f"{MIN_NUMBER} and {MAX_NUMBER}."
        )
    if isinstance(value, float) and _decimal_places(value) > MAX_PRECISION:
        raise OutputValidationError(
            f"Output variable `{path}` has too high precision, it must be less than "
            f"{MAX_PRECISION} digits."
        )
    return value
