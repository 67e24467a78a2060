"""Input-form validation messages and coercions (spec §5.1.1)."""

from __future__ import annotations

from typing import Any

import pytest

from headrace.apps.app_config import parse_input_form
from headrace.apps.inputs import validate_inputs
from headrace.errors import InvalidParamError

FORM = parse_input_form(
    [
        {"text-input": {"variable": "name", "label": "Name", "required": True, "max_length": 5}},
        {
            "select": {
                "variable": "color",
                "label": "Color",
                "options": ["red", "blue"],
                "default": "red",
            }
        },
        {"number": {"variable": "count", "label": "Count"}},
        {"checkbox": {"variable": "ok", "label": "OK"}},
        {"file": {"variable": "doc", "label": "Doc"}},
        {"file-list": {"variable": "docs", "label": "Docs", "max_length": 2}},
        {"json_object": {"variable": "extra", "label": "Extra"}},
    ]
)


def check(**given: Any) -> dict[str, Any]:
    return validate_inputs(FORM, {"name": "Ann", **given})


def test_defaults_coercions_and_unknown_keys_dropped() -> None:
    result = check(count="3.5", ok="yes", unknown="x", doc="")
    assert result == {
        "name": "Ann",
        "color": "red",
        "count": 3.5,
        "ok": True,
        "doc": None,
        "docs": None,
        "extra": None,
    }
    assert check(count="7")["count"] == 7
    assert check(count=" ")["count"] is None
    assert check(ok=0)["ok"] is False


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"name": None}, "name is required in input form"),
        ({"name": 3}, "(type 'text-input') name in input form must be a string"),
        ({"name": "toolong"}, "name in input form must be less than 5 characters"),
        ({"color": "green"}, "color in input form must be one of the following: ['red', 'blue']"),
        ({"count": "abc"}, "count in input form must be a valid number"),
        ({"count": [1]}, "count in input form must be a valid number"),
        ({"doc": "file.txt"}, "doc in input form must be a file"),
        ({"docs": [{}, {}, {}]}, "docs in input form must be less than 2 files"),
        ({"docs": "x"}, "docs in input form must be a list of files"),
        ({"extra": [1]}, "extra in input form must be a dict"),
        ({"name": {"a": 1}}, "Invalid input type for ['name']"),
        ({"ok": "maybe"}, "ok in input form must be a boolean"),
    ],
)
def test_refusals(given: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidParamError) as info:
        check(**given)
    assert info.value.message == message
    assert info.value.code == "invalid_param" and info.value.status == 400
