"""Prompt assembly from model configs, history windows, and usage pricing."""

from __future__ import annotations

from decimal import Decimal

from headrace.apps.app_config import parse_app_config
from headrace.apps.naming import clean_title, fallback_title
from headrace.apps.prompt import Turn, build_prompt, history_window
from headrace.apps.suggested import parse_questions
from headrace.providers.catalog import ModelPricing
from headrace.providers.types import ImagePart, TokenUsage
from headrace.providers.usage import build_usage

MODEL = {"provider": "openai", "name": "m", "mode": "chat"}


def test_simple_chat_prompt_with_history_and_images() -> None:
    config = parse_app_config({"model": MODEL, "pre_prompt": "Be {{tone}}. Q={{#query#}}"})
    image = ImagePart("https://x/y.png")
    messages = build_prompt(config, "chat", {"tone": "kind"}, "hi", [Turn("a", "b")], [image])
    assert [(m.role, m.content) for m in messages] == [
        ("system", "Be kind. Q=hi"),
        ("user", "a"),
        ("assistant", "b"),
        ("user", "hi"),
    ]
    assert messages[-1].images == (image,)


def test_completion_prompt_appends_query_unless_templated() -> None:
    config = parse_app_config({"model": MODEL, "pre_prompt": "Summarise {{text}}"})
    assert build_prompt(config, "completion", {"text": "T"}, "")[0].content == "Summarise T"
    assert (
        build_prompt(config, "completion", {"text": "T"}, "extra")[0].content
        == "Summarise T\nextra"
    )


def test_advanced_chat_prompt() -> None:
    config = parse_app_config(
        {
            "model": MODEL,
            "prompt_type": "advanced",
            "chat_prompt_config": {
                "prompt": [
                    {"role": "system", "text": "Sys {{x}}"},
                    {"role": "user", "text": "{{#query#}}!"},
                ]
            },
        }
    )
    messages = build_prompt(config, "chat", {"x": 1}, "go", [Turn("q", "a")])
    assert [(m.role, m.content) for m in messages] == [("system", "Sys 1"), ("user", "go!")]


def test_history_window_keeps_newest_within_budget() -> None:
    turns = [Turn("q" * 400, "a" * 400) for _ in range(20)]
    kept = history_window(turns, budget=1000)
    assert len(kept) == 5 and kept[-1] is turns[-1]


def test_usage_prices_are_decimal_strings() -> None:
    pricing = ModelPricing(Decimal("0.15"), Decimal("0.6"), Decimal("0.000001"), "USD")
    usage = build_usage(TokenUsage(1000, 500), pricing, latency=1.23456, time_to_first_token=0.1)
    assert (usage.prompt_price, usage.completion_price, usage.total_price) == (
        "0.0001500",
        "0.0003000",
        "0.0004500",
    )
    assert usage.total_tokens == 1500 and usage.latency == 1.235 and usage.time_to_generate is None
    free = build_usage(
        TokenUsage(3, 4), ModelPricing(Decimal(0), Decimal(0), Decimal("0.000001"), "USD"), 0.5
    )
    assert free.total_price == "0.0000000"


def test_titles_and_suggestions_parsing() -> None:
    assert fallback_title("x" * 60) == "x" * 47 + "..."
    assert fallback_title("short") == "short"
    assert clean_title('\n"Title: Rivers"\nmore', "q") == "Rivers"
    assert clean_title("   ", "the query") == "the query"
    assert parse_questions('["a", "b", "c", "d"]') == ["a", "b", "c"]
    assert parse_questions("1. one\n2. two\n- three") == ["one", "two", "three"]
