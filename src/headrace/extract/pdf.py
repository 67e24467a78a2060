"""PDF text with pypdf: page-bounded, encrypted files opened only with the empty password."""

from __future__ import annotations

import io
from typing import Any

from pypdf import PageObject, PdfReader
from pypdf.errors import DependencyError, PdfReadError, PyPdfError
from pypdf.generic import StreamObject

from .base import ExtractionError, ExtractLimits, TextBudget, format_size, not_a

_DAMAGED = "Could not read PDF: file is damaged"


_ERRORS = (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError)


def extract_pdf(data: bytes, limits: ExtractLimits, charset: str | None) -> str:
    """Extract the text of every page, pages separated by a blank line.

    pypdf's text extraction grows faster than linearly with a page's drawing instructions, so
    a few KB of compressed PDF could keep it busy for minutes: pages are refused when their
    decoded content passes ``max_pdf_page_bytes``, and the whole document when it needs more
    than ``max_pdf_operations`` content-stream operations (form XObjects included).
    """
    if b"%PDF" not in data[:1024]:
        raise ExtractionError(not_a("PDF"))
    try:
        reader = PdfReader(io.BytesIO(data))
    except _ERRORS as exc:
        raise ExtractionError(_DAMAGED) from exc
    if reader.is_encrypted:
        _unlock(reader)
    try:
        page_count = len(reader.pages)
    except _ERRORS as exc:
        raise ExtractionError(_DAMAGED) from exc
    if page_count > limits.max_pages:
        raise ExtractionError(f"PDF has {page_count:,} pages; the limit is {limits.max_pages:,}")
    budget = TextBudget(limits.max_chars)
    operations = _OperationBudget(limits.max_pdf_operations)
    for index in range(page_count):
        try:
            page = reader.pages[index]
            _check_page_size(page, index + 1, limits.max_pdf_page_bytes)
            text = page.extract_text(visitor_operand_before=operations) or ""
        except ExtractionError:
            raise
        except _ERRORS as exc:
            raise ExtractionError(f"Could not read PDF: page {index + 1} is damaged") from exc
        text = text.strip()
        if text:
            budget.add(text)
    return budget.text("\n\n")


class _OperationBudget:
    """A pypdf visitor that stops extraction after too many content-stream operations."""

    def __init__(self, limit: int) -> None:
        self._left = limit
        self._limit = limit

    def __call__(self, operator: Any, operands: Any, cm: Any, tm: Any) -> None:
        self._left -= 1
        if self._left < 0:
            raise ExtractionError(
                f"Could not read PDF: it has more than {self._limit:,} drawing operations "
                "(too complex to extract)"
            )


def _check_page_size(page: PageObject, number: int, limit: int) -> None:
    """Refuse a page whose decoded content (plus its form XObjects) is larger than ``limit``."""
    contents = page.get_contents()
    size = len(contents.get_data()) if contents is not None else 0
    resources = page.get("/Resources")
    xobjects = resources.get_object().get("/XObject") if resources is not None else None
    if xobjects is not None:
        for ref in xobjects.get_object().values():
            xobject = ref.get_object()
            if isinstance(xobject, StreamObject) and xobject.get("/Subtype") == "/Form":
                size += len(xobject.get_data())
    if size > limit:
        raise ExtractionError(
            f"Could not read PDF: page {number} has more than {format_size(limit)} of drawing "
            "instructions (too complex to extract)"
        )


def _unlock(reader: PdfReader) -> None:
    """Open an encrypted PDF that needs no password to view; refuse the others clearly."""
    try:
        opened = reader.decrypt("")
    except DependencyError as exc:
        raise ExtractionError("Could not read PDF: it uses an unsupported encryption") from exc
    except (PdfReadError, PyPdfError, ValueError, KeyError, TypeError, NotImplementedError) as exc:
        raise ExtractionError("Could not read PDF: its encryption is damaged") from exc
    if not opened:
        raise ExtractionError("Could not read PDF: it is password-protected")
