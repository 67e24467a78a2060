"""HTML to visible text with lxml's (libxml2) HTML parser: linear-time and forgiving.

The ``<head>``, scripts, styles and templates are dropped; block elements become line
breaks (paragraph-like ones a blank line), headings get Markdown ``#`` marks, list items a
``- `` bullet, and table cells are separated by `` | ``. Whitespace collapses as a browser
would, except inside ``<pre>``/``<textarea>``.
"""

from __future__ import annotations

import re

from lxml import etree

from .base import ExtractLimits
from .textual import decode_text

_SKIP = frozenset({"head", "script", "style", "noscript", "template", "title"})
_PRESERVE = frozenset({"pre", "textarea", "listing", "plaintext", "xmp"})
_PARAGRAPH = frozenset(
    {
        "p", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "blockquote", "table", "ul", "ol",
        "dl", "hr", "figure", "section", "article", "header", "footer", "main", "aside",
        "nav", "form", "details", "address",
    }
)  # fmt: skip
_LINE = frozenset(
    {
        "div", "li", "tr", "dt", "dd", "br", "caption", "figcaption", "summary", "option",
        "fieldset", "legend", "body", "html", "center", "textarea", "hgroup", "dialog",
    }
)  # fmt: skip
_CELLS = frozenset({"td", "th"})
_HEADING = re.compile(r"h([1-6])")
_META_CHARSET = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)


class _Writer:
    """Turns open/close/data events into text with browser-like whitespace and line breaks."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._breaks = 0
        self._space = False
        self._prefix = ""
        self._preserve = 0
        self._row_has_cell = False

    def _break(self, count: int) -> None:
        self._breaks = max(self._breaks, count)
        self._space = False

    def _emit(self, text: str) -> None:
        if self._parts and self._breaks:
            self._parts.append("\n" * self._breaks)
        elif self._parts and self._space:
            self._parts.append(" ")
        self._breaks = 0
        self._space = False
        if self._prefix:
            self._parts.append(self._prefix)
            self._prefix = ""
        self._parts.append(text)

    def text(self) -> str:
        """The collected text, lines right-trimmed."""
        lines = "".join(self._parts).split("\n")
        return "\n".join(line.rstrip() for line in lines).strip("\n")

    def data(self, data: str | None) -> None:
        """Character data; whitespace collapses except inside preformatted elements."""
        if not data:
            return
        if self._preserve:
            self._emit(data)
            return
        words = data.split()
        if not words:
            self._space = self._space or bool(self._parts)
            return
        if data[0].isspace():
            self._space = True
        self._emit(" ".join(words))
        self._space = data[-1].isspace()

    def open(self, tag: str) -> None:
        """An element starts."""
        if tag in _PRESERVE:
            self._preserve += 1
        if tag in _PARAGRAPH:
            self._break(2)
        elif tag in _LINE:
            self._break(1)
        heading = _HEADING.fullmatch(tag)
        if heading:
            self._prefix = "#" * int(heading.group(1)) + " "
        elif tag == "li":
            self._prefix = "- "
        elif tag == "tr":
            self._row_has_cell = False
        elif tag in _CELLS:
            if self._row_has_cell and not self._breaks:
                self._prefix = " | "
                self._space = False
            self._row_has_cell = True

    def close(self, tag: str) -> None:
        """An element ends."""
        if tag in _PRESERVE:
            self._preserve = max(0, self._preserve - 1)
        if tag in _PARAGRAPH:
            self._break(2)
        elif tag in _LINE:
            self._break(1)
        if tag == "li" or _HEADING.fullmatch(tag):
            self._prefix = ""


def html_to_text(markup: str) -> str:
    """Return the visible text of an HTML (or XHTML) document or fragment."""
    parser = etree.HTMLParser(
        encoding="utf-8",
        recover=True,
        no_network=True,
        remove_comments=True,
        remove_pis=True,
        compact=False,
    )
    root = etree.fromstring(markup.encode("utf-8", errors="replace"), parser)
    if root is None:
        return ""
    writer = _Writer()
    walker = etree.iterwalk(root, events=("start", "end"))
    for event, element in walker:
        tag = element.tag.lower() if isinstance(element.tag, str) else ""
        if event == "start":
            if tag in _SKIP:
                walker.skip_subtree()  # its "end" still comes, for the tail text
                continue
            writer.open(tag)
            writer.data(element.text)
        else:
            if tag not in _SKIP:
                writer.close(tag)
            writer.data(element.tail)
    return writer.text()


def sniff_html_charset(data: bytes) -> str | None:
    """The charset declared by a ``<meta>`` tag near the start of the document, if any."""
    match = _META_CHARSET.search(data[:4096])
    return match.group(1).decode("ascii") if match else None


def extract_html(data: bytes, limits: ExtractLimits, charset: str | None) -> str:
    """Extract the visible text of an HTML file."""
    return html_to_text(decode_text(data, charset or sniff_html_charset(data), kind="HTML"))
