"""Shared pieces of the extractors: the error type, the limits, an output budget and helpers.

Every extractor module imports from here and from nowhere else in the package, so the format
modules stay independent of each other (except the HTML-to-text helper, which several reuse).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

MIB = 1024 * 1024


class ExtractionError(ValueError):
    """A file could not be turned into text; the message is one line a user can read.

    Examples: ``Unsupported file type: .exe``, ``Could not read PDF: file is damaged``,
    ``PDF has 2,345 pages; the limit is 500``, ``File is larger than the 15 MB limit``.
    """

    def __init__(self, message: str) -> None:
        self.message = " ".join(message.split())
        super().__init__(self.message)


@dataclasses.dataclass(frozen=True, slots=True)
class ExtractLimits:
    """Bounds that keep extraction cheap and safe on hostile or oversized input.

    Every limit, when exceeded, raises :class:`ExtractionError` (nothing is silently truncated).
    """

    max_bytes: int = 15 * MIB
    """Largest accepted input file."""
    max_pages: int = 500
    """Most pages read from a PDF."""
    max_pdf_page_bytes: int = 2 * MIB
    """Largest decoded content (drawing instructions, form XObjects included) of one PDF page."""
    max_pdf_operations: int = 2_000_000
    """Most content-stream operations interpreted for one PDF."""
    max_rows: int = 100_000
    """Most rows read from a CSV file, or from all sheets of a workbook together."""
    max_cells: int = 20_000_000
    """Most spreadsheet cells scanned (empty ones included), across all sheets."""
    max_chars: int = 10_000_000
    """Longest text returned."""
    max_unzipped_bytes: int = 128 * MIB
    """Largest total uncompressed size of a ZIP-based file (.docx, .xlsx, .pptx, .epub)."""
    max_zip_entries: int = 10_000
    """Most members in a ZIP-based file."""
    max_compression_ratio: int = 200
    """Largest uncompressed/compressed ratio allowed for a ZIP member bigger than 1 MiB."""


def not_a(kind: str) -> str:
    """The standard "file is damaged or not a <kind>" message for ``kind``."""
    article = "an" if kind[:1] in "AEIOU" else "a"
    return f"Could not read {kind}: file is damaged or not {article} {kind}"


def format_size(num_bytes: int) -> str:
    """Render a byte count the way limit messages show it ("15 MB", "512 KB", "100 bytes")."""
    if num_bytes >= MIB and num_bytes % MIB == 0:
        return f"{num_bytes // MIB:,} MB"
    if num_bytes >= MIB:
        return f"{num_bytes / MIB:,.1f} MB"
    if num_bytes >= 1024 and num_bytes % 1024 == 0:
        return f"{num_bytes // 1024:,} KB"
    return f"{num_bytes:,} bytes"


class TextBudget:
    """Collects output pieces and fails as soon as the text would pass ``max_chars``.

    Extractors add as they go, so a huge document is refused early instead of being fully
    rendered first.
    """

    def __init__(self, max_chars: int) -> None:
        self._max_chars = max_chars
        self._parts: list[str] = []
        self._size = 0

    def add(self, piece: str) -> None:
        """Append ``piece``; raise :class:`ExtractionError` once the total is too long."""
        self._size += len(piece)
        check_chars(self._size, self._max_chars)
        self._parts.append(piece)

    def text(self, separator: str = "") -> str:
        """Join what was added."""
        return separator.join(self._parts)


def check_chars(size: int, max_chars: int) -> None:
    """Raise the standard "text too long" error when ``size`` exceeds ``max_chars``."""
    if size > max_chars:
        raise ExtractionError(f"Extracted text is longer than the {max_chars:,}-character limit")


def _md_cell(value: str) -> str:
    return " ".join(value.replace("|", "\\|").split())


def markdown_table(rows: Sequence[Sequence[str]]) -> str:
    """Render rows as a GitHub-flavoured Markdown table; the first row is the header.

    Rows are padded to the widest row; pipes are escaped and line breaks inside a cell become
    spaces. No rows gives an empty string.
    """
    if not rows:
        return ""
    width = max(len(row) for row in rows) or 1
    lines = []
    for index, row in enumerate(rows):
        cells = [_md_cell(cell) for cell in row] + [""] * (width - len(row))
        lines.append("| " + " | ".join(cells) + " |")
        if index == 0:
            lines.append("| " + " | ".join(["---"] * width) + " |")
    return "\n".join(lines)


def trim_row(row: Sequence[str]) -> list[str]:
    """Drop trailing empty cells."""
    end = len(row)
    while end and not row[end - 1]:
        end -= 1
    return list(row[:end])


def join_blocks(blocks: Iterable[str]) -> str:
    """Join non-empty text blocks with a blank line between them."""
    return "\n\n".join(block for block in blocks if block)
