"""Document text extraction for the ``document-extractor`` node and knowledge-base indexing.

``extract_text(data, filename, mime_type=None, limits=None)`` picks an extractor by the file
extension (else the MIME type) and returns plain text; tables come out as Markdown tables.

Supported: plain text and source code (``PLAIN_TEXT_EXTENSIONS``, YAML included, returned as
written), JSON (pretty-printed), HTML (visible text), CSV/TSV, PDF, .docx, .pptx, .xlsx/.xlsm,
.xls, EPUB, .eml and Outlook .msg. Legacy .doc/.ppt, RTF and OpenDocument are refused.

Every failure raises :class:`ExtractionError` (a ``ValueError``) with a one-line message meant
for the end user: unsupported type, damaged file, password protection, or an exceeded
:class:`ExtractLimits` bound (input size, PDF pages and complexity, sheet rows and cells, output
length, ZIP expansion). Extraction is synchronous and CPU-bound; ``extract_text_async`` runs it
in a worker thread.
"""

from __future__ import annotations

from .base import ExtractionError, ExtractLimits
from .core import (
    PLAIN_TEXT_EXTENSIONS,
    SUPPORTED_EXTENSIONS,
    extract_text,
    extract_text_async,
    is_supported,
)

__all__ = [
    "PLAIN_TEXT_EXTENSIONS",
    "SUPPORTED_EXTENSIONS",
    "ExtractLimits",
    "ExtractionError",
    "extract_text",
    "extract_text_async",
    "is_supported",
]
