from __future__ import annotations

import pytest

from headrace.knowledge.cleaning import clean, normalize, remove_extra_spaces, remove_urls_emails
from headrace.knowledge.process_rules import (
    PreProcessingRule,
    automatic_process_rule,
    default_process_rule,
    parse_process_rule,
)

URLS = ["remove_urls_emails"]
SPACES = ["remove_extra_spaces"]
BOTH = ["remove_urls_emails", "remove_extra_spaces"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a\r\nb", "a\nb"),
        ("a\rb", "a\nb"),
        ("a\r\n\r\nb", "a\n\nb"),
        ("page1\fpage2", "page1\npage2"),
        ("a\vb", "a\nb"),
        ("a\u2028b", "a\nb"),
        ("a\u2029b", "a\n\nb"),
        ("a\x85b", "a\nb"),
    ],
)
def test_line_endings_are_normalised(raw: str, expected: str) -> None:
    assert normalize(raw) == expected
    assert clean(raw) == expected


def test_control_characters_and_bad_code_points_are_removed() -> None:
    raw = "\ufeffa\x00b\x07c\x1fd\x7fe\x9ff\ufffeg\ud800h\udfffi"
    assert clean(raw) == "abcdefghi"


def test_tabs_newlines_and_real_characters_survive() -> None:
    raw = "col1\tcol2\nÄrger 😀 你好 \U0002000b"
    assert clean(raw) == raw


def test_no_rules_keeps_spacing_and_urls() -> None:
    raw = "a   b\n\n\n\nc https://x.org me@x.org  "
    assert clean(raw) == raw
    assert clean(raw, []) == raw
    assert clean(raw, [PreProcessingRule(id="remove_urls_emails", enabled=False)]) == raw


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a    b", "a b"),
        ("a\t\tb", "a b"),
        ("a\tb", "a b"),
        ("a\u00a0\u00a0b", "a b"),
        ("中文\u3000\u3000文本", "中文 文本"),
        ("line   \nnext", "line\nnext"),
        ("a\n\n\nb", "a\n\nb"),
        ("a\n\n\n\n\n\nb", "a\n\nb"),
        ("a\n  \n \t \n\nb", "a\n\nb"),
        ("a\nb\n\nc", "a\nb\n\nc"),
        ("  padded  \n", "padded"),
        (" indented line", "indented line"),
        ("x\n indented", "x\n indented"),
    ],
)
def test_remove_extra_spaces(raw: str, expected: str) -> None:
    assert clean(raw, SPACES) == expected
    assert remove_extra_spaces(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("see https://example.com/path?q=1&r=2#frag now", "see  now"),
        ("see http://example.com.", "see ."),
        ("(see https://example.com/x), then", "(see ), then"),
        ("wiki https://en.wikipedia.org/wiki/Foo_(bar) end", "wiki  end"),
        ("go to www.example.org/page, ok", "go to , ok"),
        ("HTTPS://EXAMPLE.COM/A and ftp://files.example.com/f.zip", " and "),
        ("mail jane.doe+tag@mail.example.co.uk today", "mail  today"),
        ("write to mailto:a@b.io!", "write to !"),
        ("访问https://example.com获取资料", "访问获取资料"),
        ("联系a@b.com获取", "联系获取"),
        ("[the docs](https://docs.example.com/x) say", "the docs say"),
        ('[docs](https://x.org/a "Title") say', "docs say"),
        ("[docs](<https://x.org/a b>) say", "docs say"),
        ("![a diagram](http://img.example.com/d.png) here", "a diagram here"),
        ("![](https://x.org/pixel.gif)gone", "gone"),
        ("[![build](https://ci.example/badge.svg)](https://ci.example/run)", "build"),
        ("[mail me](mailto:me@example.com)", "mail me"),
        ("[https://x.org](https://x.org)", ""),
        ("auto <https://x.org/y> and <me@example.com>", "auto  and "),
        ("[ref]: https://example.com/ref 'T'\nbody", "\nbody"),
    ],
)
def test_remove_urls_emails(raw: str, expected: str) -> None:
    assert clean(raw, URLS) == expected
    assert remove_urls_emails(raw) == expected


@pytest.mark.parametrize(
    "kept",
    [
        "![local image](/files/abc.png)",
        "[section](#install)",
        "[relative](docs/setup.md)",
        "ping @alice about version 1.2.3 e.g. today",
        "user@localhost is not an address",
        "price: $5.00; ratio 3:2",
    ],
)
def test_remove_urls_emails_keeps_non_urls(kept: str) -> None:
    assert clean(kept, URLS) == kept


def test_url_removal_runs_before_space_collapsing() -> None:
    raw = "Visit https://a.example/x or write to x@a.example   today.\n\n\n\nBye"
    assert clean(raw, BOTH) == "Visit or write to today.\n\nBye"


def test_rules_can_come_from_a_process_rule() -> None:
    raw = "a   b https://x.org\n\n\n\nc"
    assert clean(raw, default_process_rule()) == "a b https://x.org\n\nc"
    assert clean(raw, automatic_process_rule()) == "a b https://x.org\n\nc"
    everything = parse_process_rule(
        {
            "mode": "custom",
            "rules": {
                "pre_processing_rules": [
                    {"id": "remove_extra_spaces", "enabled": True},
                    {"id": "remove_urls_emails", "enabled": True},
                ],
                "segmentation": {"max_tokens": 100},
            },
        }
    )
    assert clean(raw, everything) == "a b\n\nc"
    assert clean(raw, everything.rules.pre_processing_rules) == "a b\n\nc"


def test_cleaning_is_idempotent_on_ordinary_text() -> None:
    raw = (
        "# Title\r\n\r\n\r\nSome  text with a [link](https://x.org) and mail a@b.org.\n"
        "- item\t\tone\n- item two   \n\n\n\n```\ncode   block\n```\n"
    )
    once = clean(raw, BOTH)
    assert clean(once, BOTH) == once
    assert once == (
        "# Title\n\nSome text with a link and mail .\n"
        "- item one\n- item two\n\n```\ncode block\n```"
    )


@pytest.mark.parametrize(
    "hostile",
    [
        "a" * 300_000,
        "a@" * 150_000,
        ".a" * 150_000,
        "x@" + "a." * 150_000,
        "http://" + "a" * 300_000,
        "[" * 300_000,
        "[a](http://" + "(" * 150_000,
        "![" * 150_000,
        "\t " * 150_000,
        "\n \n" * 100_000,
    ],
)
def test_hostile_inputs_clean_in_linear_time(hostile: str) -> None:
    # Completes quickly (each pattern is linear); the result is well-formed.
    result = clean(hostile, BOTH)
    assert isinstance(result, str)
    assert len(result) <= len(hostile)
