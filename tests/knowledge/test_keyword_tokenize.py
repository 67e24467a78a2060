"""The terms both keyword back ends index."""

from __future__ import annotations

from headrace.knowledge.keyword.postgres import tsquery_text
from headrace.knowledge.keyword.sqlite import match_expression
from headrace.knowledge.keyword.tokenize import (
    MAX_TERMS,
    collection_term,
    document_terms,
    query_terms,
)


def test_words_are_case_width_and_diacritic_folded() -> None:
    assert document_terms("Hello, Naïve MÜLLER! ＡＢＣ１２３ straße") == [
        "hello",
        "naive",
        "muller",
        "abc123",
        "strasse",
    ]
    assert document_terms("foo_bar-baz 3.14 e-mail@host.com") == [
        "foo",
        "bar",
        "baz",
        "3",
        "14",
        "e",
        "mail",
        "host",
        "com",
    ]


def test_scripts_without_spaces_become_characters_and_bigrams() -> None:
    assert document_terms("知识库") == ["知", "识", "库", "知识", "识库"]
    assert document_terms("GPT模型") == ["gpt", "模", "型", "模型"]
    assert query_terms("知识库") == ["知识", "识库"]
    assert query_terms("猫") == ["猫"]
    assert query_terms("東京 ナレッジ") == ["東京", "ナレ", "レッ", "ッジ"]
    assert document_terms("한국어")[-2:] == ["한국", "국어"]


def test_other_scripts_keep_their_marks() -> None:
    assert document_terms("हिन्दी भाषा") == ["हिन्दी", "भाषा"]
    assert document_terms("Привет, мир") == ["привет", "мир"]


def test_query_terms_are_distinct_and_queries_are_quoted() -> None:
    assert query_terms("fox Fox FOX dog") == ["fox", "dog"]
    assert query_terms('" OR * NEAR( -') == ["or", "near"]
    assert match_expression("kb", ["a", "b"]) == f'"{collection_term("kb")}" AND ("a" OR "b")'
    assert tsquery_text(["a", "知识"]) == "'a' | '知识'"


def test_collection_terms_differ_and_huge_texts_are_capped() -> None:
    assert collection_term("a") != collection_term("b")
    assert collection_term("a").isalnum()
    assert len(document_terms("word " * (MAX_TERMS + 10))) == MAX_TERMS
