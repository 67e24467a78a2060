"""Turning text into the terms both keyword back ends index.

Text is NFKC-normalised and case-folded, then split into runs of letters, marks and digits.
A run of a script written without spaces (Han, kana, Hangul, Thai, Lao, Khmer, Myanmar) is
indexed as its single characters plus its character bigrams, so "知识库" yields
知 识 库 知识 识库; a query uses the bigrams of such a run (the character alone when the run
is one character long), which finds the text wherever those characters stand side by side.
Other runs are words; Latin-based letters lose their diacritics ("Naïve" -> "naive").

Terms hold only letters, marks and digits, so they survive the engines' own tokenizers
unchanged (FTS5 `unicode61 remove_diacritics 0`, PostgreSQL's `simple` configuration).
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Iterator

MAX_TERMS = 50_000  # PostgreSQL limits a tsvector to 1 MB: index the start of huge texts
_DENSE_RANGES = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1100, 0x11FF),  # Hangul Jamo
    (0x1780, 0x17FF),  # Khmer
    (0x2E80, 0x2FDF),  # CJK radicals
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x3100, 0x31FF),  # Bopomofo, Hangul compatibility Jamo, Katakana extensions
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xA960, 0xA97F),  # Hangul Jamo extended A
    (0xAC00, 0xD7FF),  # Hangul syllables, Jamo extended B
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0x20000, 0x3FFFF),  # CJK extensions B and later
)


def _dense(char: str) -> bool:
    code = ord(char)
    return any(low <= code <= high for low, high in _DENSE_RANGES)


def _word_char(char: str) -> bool:
    category = unicodedata.category(char)
    return category[0] in "LMN" or category == "Co"


def _fold(word: str) -> str:
    """Drop the diacritics of letters whose base letter is ASCII."""
    if word.isascii():
        return word
    out: list[str] = []
    for char in word:
        decomposed = unicodedata.normalize("NFKD", char)
        if decomposed[0].isascii() and decomposed[0].isalnum():
            out.append("".join(c for c in decomposed if c.isascii()))
        else:
            out.append(char)
    return "".join(out)


def runs(text: str) -> Iterator[tuple[str, bool]]:
    """The word runs of `text` as (run, is written without spaces)."""
    normal = unicodedata.normalize("NFKC", text).casefold()
    start = -1
    dense = False
    for position, char in enumerate(normal):
        if not _word_char(char):
            if start >= 0:
                yield normal[start:position], dense
                start = -1
            continue
        char_dense = _dense(char)
        if start >= 0 and char_dense != dense:
            yield normal[start:position], dense
            start = -1
        if start < 0:
            start, dense = position, char_dense
    if start >= 0:
        yield normal[start:], dense


def document_terms(text: str) -> list[str]:
    """The terms to index for `text` (in order, repeats kept: they count for ranking)."""
    terms: list[str] = []
    for run, dense in runs(text):
        if dense:
            terms.extend(run)
            terms.extend(run[i : i + 2] for i in range(len(run) - 1))
        else:
            terms.append(_fold(run))
        if len(terms) >= MAX_TERMS:
            break
    return terms[:MAX_TERMS]


def query_terms(query: str) -> list[str]:
    """The distinct terms to look up for a query, in order of appearance."""
    terms: list[str] = []
    for run, dense in runs(query):
        if dense and len(run) > 1:
            terms.extend(run[i : i + 2] for i in range(len(run) - 1))
        else:
            terms.append(run if dense else _fold(run))
    return list(dict.fromkeys(terms))


def collection_term(collection: str) -> str:
    """A term standing for the collection (indexed with every text of it)."""
    return "zc" + hashlib.sha256(collection.encode()).hexdigest()[:24]
