"""Token estimate, recursive text splitting and document chunking.

Token estimate
    :func:`estimate_tokens` approximates a GPT-style (cl100k-like) BPE count without a
    tokenizer: each CJK character (Han, kana, Hangul) is one token; runs of ASCII letters cost
    one token per 8 letters, digits one per 3, other letters (accented Latin, Cyrillic, Greek,
    …) one per 3, punctuation and symbols one per 2, line breaks one per 2; horizontal
    whitespace costs a tenth of a token per character. English prose comes out at about
    1.3–1.5 tokens a word, a little above cl100k (erring on the safe side). Internally costs
    are integer *units* (10 per token); every character costs at least 1 unit and at most 10,
    and the estimate is subadditive (``cost(a + b) <= cost(a) + cost(b)``) and never grows
    when text is cut off either end — the properties the splitter relies on to guarantee its
    bound cheaply.

Splitting (:func:`split_text`)
    A custom separator is a hard delimiter, as in Dify: the text is cut at every occurrence,
    the separator is dropped and pieces are never merged across it. A piece larger than
    ``max_tokens`` is split recursively at paragraph breaks, then line breaks, sentence ends
    (``. ! ? …`` followed by a space, and ``。！？；``), clause punctuation (``, ; :`` and
    ``，、：``), whitespace and finally between characters, and the parts are packed greedily
    into chunks of at most ``max_tokens``. Each chunk after the first of such a piece starts
    with up to ``chunk_overlap`` tokens from the end of the previous one, cut at a sentence or
    line start when one fits, else at a word start (or between CJK characters). No overlap is
    added across hard delimiters. Chunks are stripped; empty ones are dropped. Without a
    separator (``automatic`` mode) the whole text is one piece. Everything is linear in the
    input size apart from a logarithmic factor in the overlap search.

Documents (:func:`split_document`)
    Cleans the text with the rule's cleaning rules, then: ``custom`` → flat chunks with the
    rule's separator; ``automatic`` → flat chunks without a separator; ``hierarchical`` →
    parents with children split by ``subchunk_segmentation``. With ``parent_mode`` paragraph
    parents come from ``segmentation``; with ``full-doc`` the whole document is one parent,
    truncated (at a paragraph/line/sentence end where possible) to
    :data:`FULL_DOC_MAX_TOKENS` — the 10,000-token bound Dify documents for that mode.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field

from .cleaning import clean
from .process_rules import HIERARCHICAL_CHILD_SEGMENTATION, ProcessRule

__all__ = [
    "FULL_DOC_MAX_TOKENS",
    "ChildChunk",
    "Chunk",
    "estimate_tokens",
    "split_document",
    "split_text",
]

FULL_DOC_MAX_TOKENS = 10_000
"""Largest parent chunk in hierarchical ``full-doc`` mode; the rest of the document is dropped."""

UNITS_PER_TOKEN = 10
"""Internal cost units per estimated token."""

_CJK = (
    "\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    "\uac00-\ud7af\uf900-\ufaff\U00020000-\U0002fa1f"
)
_NEWLINES = "\n\r\f\v"
# One match per whole token. The character classes are disjoint, so a run of one class is
# matched greedily in pieces of its maximum length whatever precedes it.
_ATOM_PATTERN = (
    rf"[{_CJK}]|[A-Za-z]{{1,8}}|[0-9]{{1,3}}|[^\W0-9A-Za-z_{_CJK}]{{1,3}}"
    rf"|[{_NEWLINES}]{{1,2}}|(?:_|[^\w\s{_CJK}]){{1,2}}"
)
_ATOM = re.compile(_ATOM_PATTERN)
# The same tokens with the horizontal whitespace after them (and, for the first, before it):
# the matches tile the text, and the splitter's cuts, which follow whitespace, fall between.
_SPACED_ATOM = re.compile(rf"[^\S{_NEWLINES}]*(?:{_ATOM_PATTERN})[^\S{_NEWLINES}]*")
# Horizontal whitespace other than the plain space (which str.count handles quickly).
_OTHER_HSPACE = re.compile(rf"[^\S{_NEWLINES} ]")

_SENTENCE = r"[.!?…]+[\"'”’)\]]*\s+|[。！？；]+[」』”’）\"']*\s*"
_LEVELS = (
    re.compile(r"\n[^\S\n]*\n\s*"),  # paragraphs
    re.compile(r"\n\s*"),  # lines
    re.compile(_SENTENCE),  # sentences
    re.compile(r"[,;:]\s+|[，、：]\s*"),  # clauses
    re.compile(r"\s+"),  # words
)
_WORD_LEVEL = len(_LEVELS) - 1
_WORD_PART = re.compile(r"\s*\S+\s*")  # a word with the whitespace after it (linear)
_TAIL_SENTENCE = re.compile(rf"{_SENTENCE}|\n\s*")
_TAIL_WORD = re.compile(rf"\s+|[{_CJK}，、：；。！？]")
_NON_SPACE = re.compile(r"\S")


def _units(text: str) -> int:
    """Exact cost of ``text``: 10 units per token atom plus 1 per horizontal whitespace."""
    units = _ATOM.subn("", text)[1] * UNITS_PER_TOKEN + text.count(" ")
    if _OTHER_HSPACE.search(text):
        units += len(_OTHER_HSPACE.findall(text))
    return units


def estimate_tokens(text: str) -> int:
    """Approximate GPT-style token count of ``text`` (deterministic; see the module docstring)."""
    return -(-_units(text) // UNITS_PER_TOKEN)


class _Costs:
    """Upper bounds of the cost of any slice of one text, after a single regex pass.

    A slice costs at most 10 units per token atom it touches (an atom cut in two is counted
    on both sides) plus its horizontal whitespace; exact when it starts and ends at atom
    boundaries.
    """

    __slots__ = ("ends", "other_spaces", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.ends = list(itertools.accumulate(map(len, _SPACED_ATOM.findall(text))))
        if not self.ends or self.ends[-1] < len(text):
            self.ends.append(len(text))  # trailing whitespace: an over-counted sentinel atom
        self.other_spaces = _OTHER_HSPACE.search(text) is not None

    def __call__(self, start: int, end: int) -> int:
        atoms = bisect_left(self.ends, end) - bisect_right(self.ends, start) + 1
        units = atoms * UNITS_PER_TOKEN + self.text.count(" ", start, end)
        if self.other_spaces:
            units += len(_OTHER_HSPACE.findall(self.text, start, end))
        return units

    def many(self, starts: list[int], ends: list[int]) -> list[int]:
        """``[self(s, e) for s, e in zip(starts, ends)]``, computed in bulk."""
        firsts = map(bisect_right, itertools.repeat(self.ends), starts)
        lasts = map(bisect_left, itertools.repeat(self.ends), ends)
        spaces = map(self.text.count, itertools.repeat(" "), starts, ends)
        units = [
            (last - first + 1) * UNITS_PER_TOKEN + space
            for first, last, space in zip(firsts, lasts, spaces, strict=False)
        ]
        if self.other_spaces:
            other = _OTHER_HSPACE.findall
            units = [
                u + len(other(self.text, s, e))
                for u, s, e in zip(units, starts, ends, strict=False)
            ]
        return units


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class ChildChunk:
    """A child chunk of a hierarchical parent; the derived fields are computed from ``content``."""

    content: str
    position: int
    """1-based position inside the parent."""
    word_count: int = field(init=False)
    """Characters in ``content`` (Dify's ``word_count``)."""
    tokens: int = field(init=False)
    """:func:`estimate_tokens` of ``content``."""
    index_node_hash: str = field(init=False)
    """SHA-256 hex digest of ``content`` (UTF-8)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "word_count", len(self.content))
        object.__setattr__(self, "tokens", estimate_tokens(self.content))
        object.__setattr__(self, "index_node_hash", _sha256(self.content))


@dataclass(frozen=True, slots=True)
class Chunk:
    """A segment of a document; the derived fields are computed from ``content``."""

    content: str
    position: int
    """1-based position in the document."""
    children: list[ChildChunk] = field(default_factory=list)
    """Child chunks (hierarchical mode only)."""
    word_count: int = field(init=False)
    """Characters in ``content`` (Dify's ``word_count``)."""
    tokens: int = field(init=False)
    """:func:`estimate_tokens` of ``content``."""
    index_node_hash: str = field(init=False)
    """SHA-256 hex digest of ``content`` (UTF-8); stable across runs."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "word_count", len(self.content))
        object.__setattr__(self, "tokens", estimate_tokens(self.content))
        object.__setattr__(self, "index_node_hash", _sha256(self.content))


_Span = tuple[int, int, int]  # start, end, units


def _cut_points(start: int, end: int, level: int, text: str) -> list[int]:
    """Positions inside ``(start, end)`` just after the separators of ``level``."""
    if level == _WORD_LEVEL:  # the most numerous parts: let the regex engine do the work
        lengths = map(len, _WORD_PART.findall(text, start, end))
        cuts = list(itertools.accumulate(lengths, initial=start))[1:]
    else:
        cuts = [m.end() for m in _LEVELS[level].finditer(text, start, end)]
    if cuts and cuts[-1] == end:
        cuts.pop()
    return cuts


def _spans(
    costs: _Costs,
    start: int,
    end: int,
    level: int,
    budget: int,
    out: list[_Span],
    group_words: bool = True,
) -> None:
    """Cut the oversized ``[start, end)`` into contiguous spans of at most ``budget`` units.

    At the word level, words are costed in groups (about 1/32 of the budget each) so that a
    long text without sentence punctuation does not cost one bisection per word; a group too
    large is re-cut word by word.
    """
    for index in range(level, len(_LEVELS)):
        cuts = _cut_points(start, end, index, costs.text)
        if not cuts:
            continue
        group = max(1, budget // (UNITS_PER_TOKEN * 32)) if group_words else 1
        if index == _WORD_LEVEL and group > 1:
            cuts = cuts[group - 1 :: group]
        starts = [start, *cuts]
        cuts.append(end)
        for part_start, part_end, units in zip(starts, cuts, costs.many(starts, cuts), strict=True):
            if units <= budget:
                out.append((part_start, part_end, units))
            elif index == _WORD_LEVEL and group > 1:
                _spans(costs, part_start, part_end, index, budget, out, group_words=False)
            else:
                _spans(costs, part_start, part_end, index + 1, budget, out)
        return
    _cut_characters(costs, start, end, budget, out)


def _cut_characters(costs: _Costs, start: int, end: int, budget: int, out: list[_Span]) -> None:
    """Last resort for a slice without inner whitespace: cut between token atoms.

    Leading and trailing whitespace is cut into runs of ``budget / 10`` characters (a
    character never costs more than 10 units) and costed exactly.
    """
    segment = costs.text[start:end]
    body_end = start + len(segment.rstrip())
    body_start = min(body_end, end - len(segment.lstrip()))
    _cut_whitespace(costs.text, start, body_start, budget, out)
    ends = costs.ends
    # Atoms (10 units each here) per span: an eighth of the budget, so packing leaves room
    # for the overlap.
    per_span = max(1, budget // (UNITS_PER_TOKEN * 8))
    first = bisect_right(ends, body_start)  # the atom holding ``body_start``
    previous = body_start
    while previous < body_end:
        index = first + per_span - 1
        cut = body_end if index >= len(ends) else min(ends[index], body_end)
        out.append((previous, cut, costs(previous, cut)))
        previous, first = cut, index + 1
    _cut_whitespace(costs.text, body_end, end, budget, out)


def _cut_whitespace(text: str, start: int, end: int, budget: int, out: list[_Span]) -> None:
    step = budget // UNITS_PER_TOKEN
    for cut in range(start, end, step):
        stop = min(cut + step, end)
        out.append((cut, stop, _units(text[cut:stop])))


def _tail_start(costs: _Costs, start: int, end: int, budget: int) -> int:
    """Start of the longest tail of ``[start, end)`` costing at most ``budget``, at a boundary.

    Sentence or line starts are preferred, then word starts (or CJK character boundaries).
    Returns ``end`` when no tail with content fits. Never returns ``start``: a chunk is never
    repeated whole.
    """
    if budget < UNITS_PER_TOKEN:
        return end
    text = costs.text
    low = max(start + 1, end - budget)  # a character costs at least one unit
    for pattern in (_TAIL_SENTENCE, _TAIL_WORD):
        candidates = [
            m.end() for m in pattern.finditer(text, max(start, low - 16), end) if low <= m.end()
        ]
        if candidates and candidates[-1] == end:
            candidates.pop()
        # Costs shrink as the tail starts later: find the earliest candidate that fits.
        lo, hi = 0, len(candidates)
        while lo < hi:
            mid = (lo + hi) // 2
            if costs(candidates[mid], end) <= budget:
                hi = mid
            else:
                lo = mid + 1
        if lo < len(candidates) and _NON_SPACE.search(text, candidates[lo], end):
            return candidates[lo]
    return end


def _pack(costs: _Costs, spans: list[_Span], budget: int, overlap: int) -> list[tuple[int, int]]:
    """Greedily merge contiguous spans into ``(start, end)`` chunks of at most ``budget`` units."""
    text = costs.text
    chunks: list[tuple[int, int]] = []
    start, end, units = spans[0]
    fresh = start  # where this chunk's new (non-overlap) text begins
    for span_start, span_end, span_units in spans[1:]:
        if units + span_units <= budget:
            end, units = span_end, units + span_units
            continue
        if _NON_SPACE.search(text, fresh, end):
            chunks.append((start, end))
        tail = _tail_start(costs, start, end, min(overlap, budget - span_units))
        units = (costs(tail, end) if tail < end else 0) + span_units
        start, end, fresh = tail, span_end, span_start
    if _NON_SPACE.search(text, fresh, end):
        chunks.append((start, end))
    return chunks


def split_text(
    text: str, max_tokens: int, chunk_overlap: int = 0, separator: str | None = None
) -> list[str]:
    """Split ``text`` into stripped, non-empty chunks of at most ``max_tokens`` estimated tokens.

    ``separator`` (if given and non-empty) is a hard delimiter that is removed; see the module
    docstring for the fallback order and the overlap rules. Raises ``ValueError`` unless
    ``max_tokens >= 1`` and ``0 <= chunk_overlap < max_tokens``.
    """
    if max_tokens < 1:
        raise ValueError("max_tokens must be at least 1")
    if not 0 <= chunk_overlap < max_tokens:
        raise ValueError("chunk_overlap must be at least 0 and less than max_tokens")
    budget = max_tokens * UNITS_PER_TOKEN
    overlap = chunk_overlap * UNITS_PER_TOKEN
    chunks: list[str] = []
    for piece in text.split(separator) if separator else [text]:
        if not piece or piece.isspace():
            continue
        # The estimate is at least one unit per character: long pieces need no exact count.
        if len(piece) <= budget and _units(piece) <= budget:
            chunks.append(piece.strip())
            continue
        costs = _Costs(piece)
        spans: list[_Span] = []
        _spans(costs, 0, len(piece), 0, budget, spans)
        chunks.extend(piece[s:e].strip() for s, e in _pack(costs, spans, budget, overlap))
    return chunks


def _truncate(text: str, max_tokens: int) -> str:
    """``text`` stripped, cut to at most ``max_tokens`` at the best boundary available."""
    limit = max_tokens * UNITS_PER_TOKEN
    if len(text) <= limit and _units(text) <= limit:
        return text.strip()
    # The estimate is at least one unit per character, so this prefix is certainly too long
    # and its first chunk cannot end at the artificial cut.
    pieces = split_text(text[: limit + 1], max_tokens)
    return pieces[0] if pieces else ""


def split_document(text: str, rule: ProcessRule) -> list[Chunk]:
    """Clean ``text`` with ``rule``'s cleaning rules and chunk it (see the module docstring)."""
    cleaned = clean(text, rule)
    segmentation = rule.rules.segmentation
    if rule.mode != "hierarchical":
        separator = None if rule.mode == "automatic" else segmentation.separator
        contents = split_text(
            cleaned, segmentation.max_tokens, segmentation.chunk_overlap, separator
        )
        return [Chunk(content, position) for position, content in enumerate(contents, 1)]

    child_rule = rule.rules.subchunk_segmentation or HIERARCHICAL_CHILD_SEGMENTATION
    if rule.rules.parent_mode == "full-doc":
        whole = _truncate(cleaned, FULL_DOC_MAX_TOKENS)
        parents = [whole] if whole else []
    else:
        parents = split_text(
            cleaned, segmentation.max_tokens, segmentation.chunk_overlap, segmentation.separator
        )
    chunks: list[Chunk] = []
    for position, parent in enumerate(parents, 1):
        children = split_text(
            parent, child_rule.max_tokens, child_rule.chunk_overlap, child_rule.separator
        )
        chunks.append(
            Chunk(parent, position, [ChildChunk(c, index) for index, c in enumerate(children, 1)])
        )
    return chunks
