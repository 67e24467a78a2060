"""check_outputs (spec §4.8 output table), result post-processing, limits and fail-closed."""

from __future__ import annotations

from typing import Any

import pytest

from headrace.sandbox import (
    OutputValidationError,
    SandboxError,
    SandboxLimits,
    check_outputs,
    convert_scientific_notation,
    run_code,
)


def decl(**types: str) -> dict[str, dict[str, Any]]:
    return {name: {"type": t, "children": None} for name, t in types.items()}


def rejects(declared: dict[str, dict[str, Any]], result: dict[str, Any]) -> str:
    with pytest.raises(OutputValidationError) as info:
        check_outputs(declared, result)
    assert info.value.kind == "validation"
    return info.value.message


def nested(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(levels - 1):
        value = {"k": value}
    return value


# --- presence ----------------------------------------------------------------------------


def test_valid_outputs_pass_through() -> None:
    declared = decl(s="string", n="number", b="boolean", o="object")
    declared.update(decl(an="array[number]", as_="array[string]"))
    declared.update(decl(ao="array[object]", ab="array[boolean]"))
    result = {
        "s": "x",
        "n": 1.5,
        "b": True,
        "o": {"a": [1, "2", None]},
        "an": [1, 2.5],
        "as_": ["a", None],
        "ao": [{"k": 1}, None],
        "ab": [True, None],
    }
    assert check_outputs(declared, result) == result


def test_missing_output() -> None:
    assert rejects(decl(a="string", b="number"), {"a": "x"}) == "Output `b` is missing."


def test_extra_keys() -> None:
    message = rejects(decl(a="string"), {"a": "x", "b": 1})
    assert message == "Not all output parameters are validated."


def test_nulls_are_allowed_for_every_type() -> None:
    declared = decl(s="string", n="number", o="object", an="array[number]")
    result = {"s": None, "n": None, "o": None, "an": None}
    assert check_outputs(declared, result) == result


def test_unknown_type_and_non_dict_result() -> None:
    assert rejects(decl(a="file"), {"a": 1}) == "Output `a` has unsupported type `file`."
    with pytest.raises(OutputValidationError) as info:
        check_outputs(decl(a="string"), [1])  # type: ignore[arg-type]
    assert info.value.message == "Result must be a dict, got list"


# --- strings -----------------------------------------------------------------------------


def test_string_nul_characters_are_removed() -> None:
    assert check_outputs(decl(s="string"), {"s": "a\x00b\x00"}) == {"s": "ab"}


def test_string_length_limit() -> None:
    assert check_outputs(decl(s="string"), {"s": "x" * 400_000})["s"] == "x" * 400_000
    message = rejects(decl(s="string"), {"s": "x" * 400_001})
    assert message == "The length of output variable `s` must be less than 400000 characters"


def test_string_type() -> None:
    assert rejects(decl(s="string"), {"s": 5}) == "Output variable `s` must be a string"


# --- numbers -----------------------------------------------------------------------------


def test_number_booleans_become_integers() -> None:
    result = check_outputs(decl(t="number", f="number"), {"t": True, "f": False})
    assert result == {"t": 1, "f": 0}
    assert type(result["t"]) is int


def test_number_range() -> None:
    top = 9_223_372_036_854_775_807
    assert check_outputs(decl(n="number"), {"n": top}) == {"n": top}
    assert check_outputs(decl(n="number"), {"n": -top}) == {"n": -top}
    expected = (
        "Output variable `n` is out of range, it must be between "
        "-9223372036854775807 and 9223372036854775807."
    )
    assert rejects(decl(n="number"), {"n": top + 1}) == expected
    assert rejects(decl(n="number"), {"n": -top - 1}) == expected
    assert rejects(decl(n="number"), {"n": 1e19}) == expected


def test_number_precision() -> None:
    assert check_outputs(decl(n="number"), {"n": 0.1 + 0.2}) == {"n": 0.1 + 0.2}
    assert check_outputs(decl(n="number"), {"n": 1e-20}) == {"n": 1e-20}
    message = rejects(decl(n="number"), {"n": 1.2345678901234567e-05})
    assert message == "Output variable `n` has too high precision, it must be less than 20 digits."


def test_number_type() -> None:
    assert rejects(decl(n="number"), {"n": "5"}) == "Output variable `n` must be a number"


# --- booleans ----------------------------------------------------------------------------


def test_boolean_is_passed_through() -> None:
    assert check_outputs(decl(b="boolean"), {"b": False}) == {"b": False}


# --- objects -----------------------------------------------------------------------------


def test_object_type() -> None:
    message = rejects(decl(o="object"), {"o": [1]})
    assert message == "Output `o` is not an object, got list instead."


def test_object_nested_values_are_checked() -> None:
    result = check_outputs(decl(o="object"), {"o": {"a": {"s": "x\x00y"}, "t": True}})
    assert result == {"o": {"a": {"s": "xy"}, "t": True}}
    long_text = {"o": {"a": {"s": "x" * 400_001}}}
    message = rejects(decl(o="object"), long_text)
    assert message == "The length of output variable `o.a.s` must be less than 400000 characters"
    assert "`o.a[1]` is out of range" in rejects(decl(o="object"), {"o": {"a": [1, 2**64]}})


def test_object_depth_limit() -> None:
    assert check_outputs(decl(o="object"), {"o": nested(4)}) == {"o": nested(4)}
    message = rejects(decl(o="object"), {"o": nested(5)})
    assert message == "Depth limit 5 reached, object too deep."


# --- arrays ------------------------------------------------------------------------------


def test_array_number_length_and_items() -> None:
    declared = decl(a="array[number]")
    assert check_outputs(declared, {"a": [1] * 1000}) == {"a": [1] * 1000}
    message = rejects(declared, {"a": [1] * 1001})
    assert message == "The length of output variable `a` must be less than 1000 elements."
    assert rejects(declared, {"a": [1, "x"]}) == "Output variable `a[1]` must be a number"
    assert check_outputs(declared, {"a": [True, 2]}) == {"a": [1, 2]}


def test_array_string_length_and_items() -> None:
    declared = decl(a="array[string]")
    assert check_outputs(declared, {"a": ["x\x00"] * 30}) == {"a": ["x"] * 30}
    message = rejects(declared, {"a": ["x"] * 31})
    assert message == "The length of output variable `a` must be less than 30 elements."
    assert rejects(declared, {"a": ["x", 1]}) == "Output variable `a[1]` must be a string"


def test_array_object_length_items_and_depth() -> None:
    declared = decl(a="array[object]")
    assert check_outputs(declared, {"a": [{}] * 30}) == {"a": [{}] * 30}
    message = rejects(declared, {"a": [{}] * 31})
    assert message == "The length of output variable `a` must be less than 30 elements."
    message = rejects(declared, {"a": [{}, "x"]})
    assert message == "Output `a[1]` is not an object, got str instead."
    assert rejects(declared, {"a": [nested(5)]}) == "Depth limit 5 reached, object too deep."


def test_array_boolean_items() -> None:
    declared = decl(a="array[boolean]")
    assert check_outputs(declared, {"a": [True] * 2000}) == {"a": [True] * 2000}
    assert rejects(declared, {"a": [True, 1]}) == "Output `a[1]` is not a boolean, got int instead."


def test_array_type() -> None:
    for array_type in ("array[number]", "array[string]", "array[object]", "array[boolean]"):
        message = rejects({"a": {"type": array_type}}, {"a": "x"})
        assert message == "Output `a` is not an array, got str instead."


# --- post-processing, limits, fail closed ------------------------------------------------


def test_convert_scientific_notation() -> None:
    value = {"a": "1e3", "b": ["-2.5E-3", "x1e3", "1e3x", ".5e1"], "c": {"d": "1e999"}, "e": 7}
    assert convert_scientific_notation(value) == {
        "a": 1000.0,
        "b": [-0.0025, "x1e3", "1e3x", 5.0],
        "c": {"d": "1e999"},
        "e": 7,
    }


def test_limits_validation() -> None:
    assert SandboxLimits().wall_seconds == 15
    with pytest.raises(ValueError):
        SandboxLimits(cpu_seconds=0)
    with pytest.raises(ValueError):
        SandboxLimits(max_processes=0)


async def test_fails_closed_when_not_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    with pytest.raises(SandboxError) as info:
        await run_code("python3", "def main():\n    return {}\n", {})
    assert info.value.kind == "unavailable"
    assert info.value.message.startswith("Sandbox unavailable: the sandbox must run as root")
