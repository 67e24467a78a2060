from __future__ import annotations

from typing import Any

import pydantic
import pytest

from headrace.knowledge.process_rules import (
    AUTOMATIC_RULES,
    HIERARCHICAL_CHILD_SEGMENTATION,
    HIERARCHICAL_PARENT_SEGMENTATION,
    MAX_SEGMENT_TOKENS,
    MIN_SEGMENT_TOKENS,
    ProcessRule,
    ProcessRuleError,
    Segmentation,
    automatic_process_rule,
    default_process_rule,
    parse_process_rule,
    unescape_separator,
)

BOTH_OFF = [
    {"id": "remove_extra_spaces", "enabled": False},
    {"id": "remove_urls_emails", "enabled": False},
]


def custom(**segmentation: Any) -> dict[str, Any]:
    return {
        "mode": "custom",
        "rules": {"pre_processing_rules": BOTH_OFF, "segmentation": segmentation},
    }


def hierarchical(**rules: Any) -> dict[str, Any]:
    return {"mode": "hierarchical", "rules": {"pre_processing_rules": BOTH_OFF, **rules}}


def test_default_rule_matches_the_server_default() -> None:
    rule = default_process_rule()
    assert rule.to_wire() == {
        "mode": "custom",
        "rules": {
            "pre_processing_rules": [
                {"id": "remove_extra_spaces", "enabled": True},
                {"id": "remove_urls_emails", "enabled": False},
            ],
            "segmentation": {"separator": "\n", "max_tokens": 1024, "chunk_overlap": 50},
        },
    }
    assert parse_process_rule(None) == rule


def test_automatic_mode_ignores_sent_rules() -> None:
    rule = parse_process_rule({"mode": "automatic", "rules": {"segmentation": "garbage"}})
    assert rule == automatic_process_rule()
    assert rule.rules == AUTOMATIC_RULES
    seg = rule.rules.segmentation
    assert (seg.max_tokens, seg.chunk_overlap) == (500, 50)
    assert rule.is_enabled("remove_extra_spaces")
    assert not rule.is_enabled("remove_urls_emails")


def test_custom_rule_round_trips() -> None:
    raw = {
        "mode": "custom",
        "rules": {
            "pre_processing_rules": [
                {"id": "remove_urls_emails", "enabled": True},
                {"id": "remove_extra_spaces", "enabled": False},
            ],
            "segmentation": {"separator": "###", "max_tokens": 300, "chunk_overlap": 20},
        },
    }
    rule = parse_process_rule(raw)
    assert rule.mode == "custom"
    assert rule.enabled_rule_ids == frozenset({"remove_urls_emails"})
    assert rule.rules.segmentation == Segmentation(
        separator="###", max_tokens=300, chunk_overlap=20
    )
    assert rule.rules.parent_mode is None
    wire = rule.to_wire()
    # Wire order of the cleaning rules is fixed; hierarchical-only keys are left out.
    assert [r["id"] for r in wire["rules"]["pre_processing_rules"]] == [
        "remove_extra_spaces",
        "remove_urls_emails",
    ]
    assert set(wire["rules"]) == {"pre_processing_rules", "segmentation"}
    assert parse_process_rule(wire) == rule


def test_custom_rule_drops_hierarchical_keys() -> None:
    raw = custom(max_tokens=100)
    raw["rules"]["parent_mode"] = "full-doc"
    raw["rules"]["subchunk_segmentation"] = {"max_tokens": 60}
    rule = parse_process_rule(raw)
    assert rule.rules.parent_mode is None
    assert rule.rules.subchunk_segmentation is None


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        ("\\n\\n", "\n\n"),
        ("\\n", "\n"),
        ("\n\n", "\n\n"),
        ("\\t", "\t"),
        ("\r\n", "\n"),
        ("\\r\\n", "\n"),
        ("***", "***"),
        ("\\n---\\n", "\n---\n"),
    ],
)
def test_separator_escapes_become_real_characters(sent: str, expected: str) -> None:
    rule = parse_process_rule(custom(separator=sent, max_tokens=100))
    assert rule.rules.segmentation.separator == expected
    assert unescape_separator(expected) == expected


def test_segmentation_defaults() -> None:
    seg = parse_process_rule(custom(max_tokens=100)).rules.segmentation
    assert seg.separator == "\n"
    assert seg.chunk_overlap == 0
    explicit_nulls = parse_process_rule(custom(max_tokens=100, separator=None, chunk_overlap=None))
    assert explicit_nulls.rules.segmentation.separator == "\n"


def test_pre_processing_rules_absent_means_all_off_and_last_duplicate_wins() -> None:
    raw: dict[str, Any] = {"mode": "custom", "rules": {"segmentation": {"max_tokens": 100}}}
    assert parse_process_rule(raw).enabled_rule_ids == frozenset()
    raw["rules"]["pre_processing_rules"] = [
        {"id": "remove_urls_emails", "enabled": True},
        {"id": "remove_urls_emails", "enabled": False},
        {"id": "remove_extra_spaces", "enabled": True},
    ]
    assert parse_process_rule(raw).enabled_rule_ids == frozenset({"remove_extra_spaces"})


def test_token_bounds_are_inclusive() -> None:
    assert MAX_SEGMENT_TOKENS == 4000
    assert MIN_SEGMENT_TOKENS == 50
    for value in (MIN_SEGMENT_TOKENS, MAX_SEGMENT_TOKENS):
        rule = parse_process_rule(custom(max_tokens=value, chunk_overlap=value - 1))
        assert rule.rules.segmentation.max_tokens == value


def test_hierarchical_defaults() -> None:
    rule = parse_process_rule(hierarchical())
    assert rule.mode == "hierarchical"
    assert rule.rules.parent_mode == "paragraph"
    assert rule.rules.segmentation == HIERARCHICAL_PARENT_SEGMENTATION
    assert rule.rules.subchunk_segmentation == HIERARCHICAL_CHILD_SEGMENTATION
    assert HIERARCHICAL_PARENT_SEGMENTATION.separator == "\n\n"
    assert HIERARCHICAL_CHILD_SEGMENTATION.separator == "\n"


def test_hierarchical_full_doc() -> None:
    rule = parse_process_rule(
        hierarchical(
            parent_mode="full-doc",
            segmentation={"separator": "\\n\\n", "max_tokens": 1000},
            subchunk_segmentation={"separator": "\\n", "max_tokens": 200, "chunk_overlap": 10},
        )
    )
    assert rule.rules.parent_mode == "full-doc"
    assert rule.rules.subchunk_segmentation == Segmentation(
        separator="\n", max_tokens=200, chunk_overlap=10
    )
    wire = rule.to_wire()
    assert wire["rules"]["parent_mode"] == "full-doc"
    assert wire["rules"]["subchunk_segmentation"]["max_tokens"] == 200
    assert parse_process_rule(wire) == rule


SEG_PROBLEMS: list[tuple[dict[str, Any], str]] = [
    ({"separator": 5, "max_tokens": 100}, "separator is invalid"),
    ({"separator": "", "max_tokens": 100}, "separator is required"),
    ({"separator": "\n"}, "max_tokens is required"),
    ({"max_tokens": "500"}, "max_tokens is invalid"),
    ({"max_tokens": 500.0}, "max_tokens is invalid"),
    ({"max_tokens": True}, "max_tokens is invalid"),
    ({"max_tokens": MIN_SEGMENT_TOKENS - 1}, "max_tokens is invalid"),
    ({"max_tokens": MAX_SEGMENT_TOKENS + 1}, "max_tokens is invalid"),
    ({"max_tokens": 100, "chunk_overlap": -1}, "chunk_overlap is invalid"),
    ({"max_tokens": 100, "chunk_overlap": 100}, "chunk_overlap is invalid"),
    ({"max_tokens": 100, "chunk_overlap": 150}, "chunk_overlap is invalid"),
    ({"max_tokens": 100, "chunk_overlap": "5"}, "chunk_overlap is invalid"),
    ({"max_tokens": 100, "chunk_overlap": False}, "chunk_overlap is invalid"),
]

ERRORS: list[tuple[object, str]] = [
    ("custom", "Process rule is invalid"),
    ([], "Process rule is invalid"),
    ({}, "Process rule mode is required"),
    ({"mode": ""}, "Process rule mode is required"),
    ({"mode": "fast"}, "Process rule mode is invalid"),
    ({"mode": 1}, "Process rule mode is invalid"),
    ({"mode": "custom"}, "Process rule rules is required"),
    ({"mode": "custom", "rules": []}, "Process rule rules is invalid"),
    (
        {"mode": "custom", "rules": {"pre_processing_rules": {}}},
        "Process rule pre_processing_rules is invalid",
    ),
    (
        {"mode": "custom", "rules": {"pre_processing_rules": ["remove_urls_emails"]}},
        "Process rule pre_processing_rules is invalid",
    ),
    (
        {"mode": "custom", "rules": {"pre_processing_rules": [{"enabled": True}]}},
        "Process rule pre_processing_rules id is required",
    ),
    (
        {"mode": "custom", "rules": {"pre_processing_rules": [{"id": "x", "enabled": True}]}},
        "Process rule pre_processing_rules id is invalid",
    ),
    (
        {"mode": "custom", "rules": {"pre_processing_rules": [{"id": 3, "enabled": True}]}},
        "Process rule pre_processing_rules id is invalid",
    ),
    (
        {"mode": "custom", "rules": {"pre_processing_rules": [{"id": "remove_urls_emails"}]}},
        "Process rule pre_processing_rules enabled is invalid",
    ),
    (
        {
            "mode": "custom",
            "rules": {"pre_processing_rules": [{"id": "remove_urls_emails", "enabled": "yes"}]},
        },
        "Process rule pre_processing_rules enabled is invalid",
    ),
    ({"mode": "custom", "rules": {}}, "Process rule segmentation is required"),
    ({"mode": "custom", "rules": {"segmentation": "\n"}}, "Process rule segmentation is invalid"),
    *[(custom(**seg), f"Process rule segmentation {msg}") for seg, msg in SEG_PROBLEMS],
    (hierarchical(parent_mode="doc"), "Process rule parent_mode is invalid"),
    (hierarchical(parent_mode=1), "Process rule parent_mode is invalid"),
    (hierarchical(segmentation=[]), "Process rule segmentation is invalid"),
    (hierarchical(subchunk_segmentation=[]), "Process rule subchunk_segmentation is invalid"),
    *[
        (hierarchical(subchunk_segmentation=seg), f"Process rule subchunk_segmentation {msg}")
        for seg, msg in SEG_PROBLEMS
    ],
]


@pytest.mark.parametrize(("raw", "message"), ERRORS)
def test_errors(raw: object, message: str) -> None:
    with pytest.raises(ProcessRuleError) as caught:
        parse_process_rule(raw)
    assert str(caught.value) == message
    assert str(caught.value).startswith("Process rule")
    assert isinstance(caught.value, ValueError)


def test_models_validate_on_their_own() -> None:
    with pytest.raises(pydantic.ValidationError):
        Segmentation(max_tokens=10)
    with pytest.raises(pydantic.ValidationError):
        Segmentation(max_tokens=100, chunk_overlap=100)
    with pytest.raises(pydantic.ValidationError):
        Segmentation(max_tokens=100, separator="")
    assert Segmentation(max_tokens=100, separator="\\n\\n").separator == "\n\n"
    with pytest.raises(pydantic.ValidationError):
        ProcessRule.model_validate({"mode": "smart", "rules": AUTOMATIC_RULES.model_dump()})


def test_rules_are_immutable() -> None:
    rule = default_process_rule()
    with pytest.raises(pydantic.ValidationError):
        rule.mode = "automatic"  # type: ignore[misc]
