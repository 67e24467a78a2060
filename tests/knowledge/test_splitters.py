from __future__ import annotations

import hashlib
import itertools
import random
from typing import Any

import pytest

from headrace.knowledge.cleaning import clean
from headrace.knowledge.process_rules import (
    ProcessRule,
    automatic_process_rule,
    default_process_rule,
    parse_process_rule,
)
from headrace.knowledge.splitters import (
    FULL_DOC_MAX_TOKENS,
    ChildChunk,
    Chunk,
    _Costs,
    _units,
    estimate_tokens,
    split_document,
    split_text,
)

WORDS = [
    "the", "a", "of", "knowledge", "base", "retrieval", "segment", "chunk", "embedding",
    "internationalization", "x", "supercalifragilisticexpialidocious", "API", "v1", "2024",
    "3.14159", "naïve", "Größe", "привет", "данные", "λόγος", "snake_case_name",
    "camelCaseIdentifier", "https://example.com/a/b?c=d", "😀", "--flag", "#", "|", "`code`",
]  # fmt: skip
CJK = ["知识库", "检索", "分段", "我们", "数据", "の", "ナレッジ", "검색", "문서"]
PUNCT = [". ", "! ", "? ", ", ", "; ", ": ", "。", "！", "？", "，", "、", "…"]
BREAKS = [" ", " ", " ", " ", "  ", "\t", "\n", "\n\n", "\n\n\n", " \n ", "\u3000"]


def random_text(rng: random.Random, size: int) -> str:
    parts: list[str] = []
    total = 0
    while total < size:
        roll = rng.random()
        if roll < 0.5:
            piece = rng.choice(WORDS)
        elif roll < 0.65:
            piece = "".join(rng.choice(CJK) for _ in range(rng.randint(1, 12)))
        elif roll < 0.75:
            piece = rng.choice(PUNCT)
        elif roll < 0.77:
            piece = rng.choice("abcdefghij0123456789") * rng.randint(50, 400)  # long "word"
        elif roll < 0.79:
            piece = "- " if rng.random() < 0.5 else "## "
        else:
            piece = rng.choice(BREAKS)
        parts.append(piece)
        total += len(piece)
    return "".join(parts)


def nonspace(text: str) -> str:
    return "".join(text.split())


def rule(mode: str = "custom", **segmentation: Any) -> ProcessRule:
    raw: dict[str, Any] = {
        "mode": mode,
        "rules": {
            "pre_processing_rules": [{"id": "remove_extra_spaces", "enabled": False}],
            "segmentation": segmentation,
        },
    }
    return parse_process_rule(raw)


# --- token estimate ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("", 0),
        ("hello", 1),
        ("Hello, world!", 5),
        ("The quick brown fox jumps over the lazy dog.", 11),
        ("internationalization", 3),
        ("你好世界", 4),
        ("こんにちは", 5),
        ("123456", 2),
        ("a" * 80, 10),
        ("   ", 1),
        ("\n\n", 1),
        ("привет", 2),
    ],
)
def test_estimate_tokens_examples(text: str, tokens: int) -> None:
    assert estimate_tokens(text) == tokens


def test_estimate_is_in_gpt_range_for_english_prose() -> None:
    prose = (
        "Knowledge bases let an application answer questions from your own documents. "
        "Each document is cleaned, split into chunks and indexed, so that retrieval can "
        "find the passages most relevant to a query and hand them to the model as context."
    )
    words = len(prose.split())
    assert 1.1 * words <= estimate_tokens(prose) <= 1.6 * words


def test_estimate_properties_the_splitter_relies_on() -> None:
    rng = random.Random(7)
    for _ in range(400):
        text = random_text(rng, rng.randint(1, 300))
        cut = rng.randint(0, len(text))
        head, tail = text[:cut], text[cut:]
        # Subadditive, and never larger for a prefix or suffix.
        assert _units(text) <= _units(head) + _units(tail)
        assert _units(head) <= _units(text)
        assert _units(tail) <= _units(text)
        # At least one unit per character, at most ten.
        assert len(text) <= _units(text) <= 10 * len(text)


def test_slice_costs_are_upper_bounds() -> None:
    rng = random.Random(11)
    for _ in range(200):
        text = random_text(rng, rng.randint(1, 400))
        costs = _Costs(text)
        if not text[-1:].isspace():
            assert costs(0, len(text)) == _units(text)
        for _ in range(10):
            a = rng.randint(0, len(text) - 1)
            b = rng.randint(a + 1, len(text))
            assert costs(a, b) >= _units(text[a:b])
        starts = sorted(rng.randint(0, len(text) - 1) for _ in range(5))
        ends = [rng.randint(s + 1, len(text)) for s in starts]
        assert costs.many(starts, ends) == [costs(s, e) for s, e in zip(starts, ends, strict=True)]


# --- split_text -------------------------------------------------------------------------


def test_split_text_rejects_bad_sizes() -> None:
    with pytest.raises(ValueError, match="max_tokens"):
        split_text("x", 0)
    with pytest.raises(ValueError, match="chunk_overlap"):
        split_text("x", 10, 10)
    with pytest.raises(ValueError, match="chunk_overlap"):
        split_text("x", 10, -1)


@pytest.mark.parametrize("text", ["", "   ", "\n\n\n", "\t \u3000 \n"])
def test_empty_and_blank_text_give_no_chunks(text: str) -> None:
    assert split_text(text, 50) == []
    assert split_text(text, 50, separator="\n") == []
    assert split_document(text, default_process_rule()) == []


def test_separator_is_a_hard_delimiter_and_is_removed() -> None:
    text = "alpha***beta\n\ngamma***  ***delta"
    assert split_text(text, 100, separator="***") == ["alpha", "beta\n\ngamma", "delta"]


def test_small_pieces_are_not_merged_across_the_separator() -> None:
    assert split_text("a\nb\nc", 100, 10, separator="\n") == ["a", "b", "c"]


def test_default_rule_gives_one_chunk_per_line() -> None:
    chunks = split_document("First line.\nSecond   line.\n\n\nThird line.", default_process_rule())
    assert [c.content for c in chunks] == ["First line.", "Second line.", "Third line."]
    assert [c.position for c in chunks] == [1, 2, 3]


def test_escaped_paragraph_separator_from_json() -> None:
    r = rule(separator="\\n\\n", max_tokens=100)
    text = "Para one,\nstill one.\n\nPara two.\n\n\n\nPara three."
    assert [c.content for c in split_document(text, r)] == [
        "Para one,\nstill one.",
        "Para two.",
        "Para three.",
    ]


def test_automatic_mode_packs_paragraphs_up_to_the_limit() -> None:
    paragraph = "This sentence has exactly some words in it. " * 6
    text = "\n\n".join(paragraph.strip() for _ in range(30))
    chunks = split_document(text, automatic_process_rule())
    assert 1 < len(chunks) < 30
    assert all(c.tokens <= 500 for c in chunks)
    # Packed: every chunk but the last holds several paragraphs.
    assert all(c.content.count("\n\n") >= 2 for c in chunks[:-1])


@pytest.mark.parametrize("separator", [None, "\n", "\n\n", "。", "##"])
def test_random_texts_respect_the_bound_and_keep_all_content(separator: str | None) -> None:
    rng = random.Random(hash(separator) % 1000 if separator else 1)
    for _ in range(120):
        text = random_text(rng, rng.randint(1, 4000))
        max_tokens = rng.choice([1, 2, 5, 17, 50, 120, 500])
        chunks = split_text(text, max_tokens, 0, separator)
        for chunk in chunks:
            assert chunk and chunk == chunk.strip()
            assert estimate_tokens(chunk) <= max_tokens
        pieces = text.split(separator) if separator else [text]
        assert nonspace("".join(chunks)) == nonspace("".join(pieces))


def test_random_documents_through_the_cleaner() -> None:
    rng = random.Random(3)
    for _ in range(60):
        text = random_text(rng, rng.randint(100, 5000))
        for r in (default_process_rule(), automatic_process_rule(), rule(max_tokens=60)):
            chunks = split_document(text, r)
            seg = r.rules.segmentation
            assert all(c.tokens <= seg.max_tokens for c in chunks)
            assert [c.position for c in chunks] == list(range(1, len(chunks) + 1))
            if seg.chunk_overlap == 0:
                cleaned = clean(text, r)
                assert nonspace("".join(c.content for c in chunks)) == nonspace(
                    "".join(cleaned.split(seg.separator))
                )


def test_random_texts_with_overlap() -> None:
    rng = random.Random(5)
    for _ in range(150):
        text = random_text(rng, rng.randint(1, 4000))
        max_tokens = rng.choice([2, 10, 50, 200])
        overlap = rng.randint(0, max_tokens - 1)
        chunks = split_text(text, max_tokens, overlap)
        assert all(estimate_tokens(c) <= max_tokens for c in chunks)
        assert all(c and c in text for c in chunks)
        # Each chunk adds content: it is never contained in the chunk before it.
        for before, after in itertools.pairwise(chunks):
            assert after not in before or text.count(after) > 1


SENTENCES = [f"Sentence number {n} talks about topic {n}." for n in range(1, 41)]


def test_overlap_starts_at_a_sentence_boundary() -> None:
    text = " ".join(SENTENCES)
    chunks = split_text(text, 60, 12)
    assert len(chunks) > 3
    for before, after in itertools.pairwise(chunks):
        assert after.startswith("Sentence number")
        overlap = before.rsplit(".", 2)[-2].strip() + "."
        assert after.startswith(overlap)
        assert estimate_tokens(overlap) <= 12
        assert before.endswith(".")


def test_overlap_falls_back_to_word_boundaries() -> None:
    words = [f"w{n:04d}" for n in range(2000)]
    chunks = split_text(" ".join(words), 100, 20)
    assert len(chunks) > 5
    for before, after in itertools.pairwise(chunks):
        first = after.split()[0]
        assert first in before.split()  # starts on a whole word from the previous chunk
        shared = before[before.index(first) :]
        assert after.startswith(shared)
        assert 0 < estimate_tokens(shared) <= 20


def test_no_overlap_when_zero_and_across_separators() -> None:
    text = " ".join(SENTENCES)
    chunks = split_text(text, 60, 0)
    assert " ".join(chunks) == text
    blocks = split_text("\n".join(SENTENCES[:5]), 60, 30, separator="\n")
    assert blocks == SENTENCES[:5]


def test_cjk_text_splits_at_sentence_punctuation() -> None:
    sentence = "知识库把文档切分成片段并建立索引。"
    text = sentence * 60
    chunks = split_text(text, 50)
    assert len(chunks) > 1
    assert all(estimate_tokens(c) <= 50 for c in chunks)
    assert all(c.endswith("。") for c in chunks)
    assert "".join(chunks) == text


def test_cjk_overlap_and_unpunctuated_text() -> None:
    text = "我们的知识库检索系统" * 100
    chunks = split_text(text, 30, 5)
    assert all(estimate_tokens(c) <= 30 for c in chunks)
    for before, after in itertools.pairwise(chunks):
        assert before.endswith(after[:5])
    assert "".join(split_text(text, 30)) == text


def test_markdown_is_split_at_lines_not_inside_them() -> None:
    table = "\n".join(f"| row {n} | value {n} | note {n} |" for n in range(40))
    text = f"# Title\n\nIntro paragraph.\n\n{table}\n\n```python\nprint('hi')\n```"
    chunks = split_document(text, rule(mode="automatic", max_tokens=100))
    lines = {line for c in chunks for line in c.content.split("\n")}
    assert all(line in text.split("\n") for line in lines)
    pieces = split_text(text, 60)
    assert all(estimate_tokens(c) <= 60 for c in pieces)
    assert all(line in text.split("\n") for c in pieces for line in c.split("\n"))


def test_very_long_words_are_cut() -> None:
    word = "x" * 10_000
    chunks = split_text(f"start {word} end", 50)
    assert all(estimate_tokens(c) <= 50 for c in chunks)
    assert "".join(chunks).replace(" ", "") == f"start{word}end"
    url = "https://example.com/" + "a1b2c3/" * 2000
    assert all(estimate_tokens(c) <= 50 for c in split_text(url, 50, 10))


def test_leading_and_trailing_whitespace_around_unbreakable_text() -> None:
    text = " " * 300 + "y" * 500 + "\n" * 300
    for max_tokens in (1, 7, 50):
        chunks = split_text(text, max_tokens)
        assert "".join(chunks) == "y" * 500
        assert all(estimate_tokens(c) <= max_tokens for c in chunks)


def test_splitting_is_deterministic() -> None:
    text = random_text(random.Random(99), 20_000)
    r = automatic_process_rule()
    assert split_document(text, r) == split_document(text, r)


# --- chunks -------------------------------------------------------------------------------


def test_chunk_fields() -> None:
    chunk = Chunk("héllo wörld", 3)
    assert chunk.word_count == 11
    assert chunk.tokens == estimate_tokens("héllo wörld")
    assert chunk.position == 3
    assert chunk.children == []
    assert chunk.index_node_hash == hashlib.sha256("héllo wörld".encode()).hexdigest()
    assert Chunk("hello", 1).index_node_hash == (
        "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    )
    child = ChildChunk("你好", 1)
    assert (child.word_count, child.tokens) == (2, 2)
    assert child.index_node_hash == hashlib.sha256("你好".encode()).hexdigest()


# --- hierarchical -------------------------------------------------------------------------


def hierarchical(parent_mode: str, **kwargs: Any) -> ProcessRule:
    rules: dict[str, Any] = {
        "pre_processing_rules": [{"id": "remove_extra_spaces", "enabled": True}],
        "parent_mode": parent_mode,
        **kwargs,
    }
    return parse_process_rule({"mode": "hierarchical", "rules": rules})


def test_hierarchical_paragraph_mode() -> None:
    text = "\n\n".join(
        "\n".join(f"Paragraph {p} line {n} says something." for n in range(4)) for p in range(5)
    )
    chunks = split_document(
        text,
        hierarchical(
            "paragraph",
            segmentation={"separator": "\\n\\n", "max_tokens": 200},
            subchunk_segmentation={"separator": "\\n", "max_tokens": 50},
        ),
    )
    assert len(chunks) == 5
    for p, chunk in enumerate(chunks):
        assert chunk.position == p + 1
        assert chunk.content.startswith(f"Paragraph {p} line 0")
        assert [c.content for c in chunk.children] == chunk.content.split("\n")
        assert [c.position for c in chunk.children] == [1, 2, 3, 4]


def test_hierarchical_paragraph_mode_bounds() -> None:
    text = random_text(random.Random(21), 30_000)
    chunks = split_document(
        text,
        hierarchical(
            "paragraph",
            segmentation={"separator": "\\n\\n", "max_tokens": 300},
            subchunk_segmentation={"separator": "\\n", "max_tokens": 60, "chunk_overlap": 10},
        ),
    )
    assert all(c.tokens <= 300 for c in chunks)
    assert all(child.tokens <= 60 for c in chunks for child in c.children)
    assert all(c.children for c in chunks)
    assert all(child.content in c.content for c in chunks for child in c.children)


def test_hierarchical_full_doc_mode() -> None:
    text = "Intro line.\nSecond line.\n\nNext paragraph here.\nLast   line."
    chunks = split_document(text, hierarchical("full-doc"))
    assert len(chunks) == 1
    parent = chunks[0]
    assert parent.content == clean(text, ["remove_extra_spaces"])
    assert [c.content for c in parent.children] == [
        "Intro line.",
        "Second line.",
        "Next paragraph here.",
        "Last line.",
    ]


def test_full_doc_parent_is_truncated_to_the_bound() -> None:
    paragraph = " ".join(SENTENCES)
    text = "\n\n".join(paragraph for _ in range(60))
    assert estimate_tokens(text) > FULL_DOC_MAX_TOKENS
    chunks = split_document(text, hierarchical("full-doc"))
    assert len(chunks) == 1
    parent = chunks[0]
    assert FULL_DOC_MAX_TOKENS * 0.9 <= parent.tokens <= FULL_DOC_MAX_TOKENS
    assert text.startswith(parent.content)
    assert parent.content.endswith(".")  # cut at a boundary
    assert all(child.tokens <= 512 for child in parent.children)


# --- size ---------------------------------------------------------------------------------


def test_multi_megabyte_input_splits() -> None:
    # Sanity only (timings belong in bench/): ~2 MB of mixed text through the stock rules.
    rng = random.Random(2024)
    text = random_text(rng, 50_000) * 40
    assert len(text) > 1_900_000
    for r in (default_process_rule(), automatic_process_rule()):
        chunks = split_document(text, r)
        assert len(chunks) > 1000
        assert max(c.tokens for c in chunks) <= r.rules.segmentation.max_tokens
    # Text without any whitespace or punctuation, and text without sentence ends.
    unbroken = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(500_000))
    words = " ".join(rng.choice(WORDS[:10]) for _ in range(100_000))
    for hard in (unbroken, words):
        assert max(estimate_tokens(c) for c in split_text(hard, 50, 10)) <= 50
