"""Choosing an extractor by extension (else MIME type) and wrapping every failure."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from pathlib import PurePosixPath

from .base import ExtractionError, ExtractLimits, check_chars, format_size
from .epub import extract_epub
from .htmltext import extract_html
from .mail import extract_eml, extract_msg
from .office import extract_docx, extract_pptx
from .pdf import extract_pdf
from .sheets import extract_csv, extract_xls, extract_xlsx
from .textual import extract_json, extract_plain, extract_yaml

Extractor = Callable[[bytes, ExtractLimits, "str | None"], str]


@dataclasses.dataclass(frozen=True, slots=True)
class _Format:
    label: str  # used in "Could not read <label>: ..."
    extract: Extractor


_PLAIN = _Format("text file", extract_plain)
_JSON = _Format("JSON", extract_json)
_YAML = _Format("YAML", extract_yaml)
_HTML = _Format("HTML", extract_html)
_CSV = _Format("CSV file", extract_csv)
_PDF = _Format("PDF", extract_pdf)
_DOCX = _Format("Word document", extract_docx)
_PPTX = _Format("PowerPoint presentation", extract_pptx)
_XLSX = _Format("Excel workbook", extract_xlsx)
_XLS = _Format("Excel workbook", extract_xls)
_EPUB = _Format("EPUB", extract_epub)
_EML = _Format("e-mail", extract_eml)
_MSG = _Format("Outlook message", extract_msg)

_PLAIN_TEXT_LIST = """
    .txt .text .md .markdown .mdx .rst .adoc .asciidoc .org .tex .bib .xml .xsd .xsl .svg
    .log .vtt .srt .properties .ini .cfg .conf .config .toml .env .jsonl .ndjson .diff .patch
    .py .pyi .ipynb .js .mjs .cjs .jsx .ts .mts .cts .tsx .vue .svelte .java .kt .kts .scala
    .groovy .gradle .c .h .cc .cpp .cxx .hh .hpp .hxx .cs .fs .go .rs .swift .m .mm .rb .php
    .pl .pm .lua .r .jl .dart .ex .exs .erl .hrl .hs .ml .mli .clj .cljs .el .lisp .scm .vim
    .sh .bash .zsh .fish .ps1 .psm1 .bat .cmd .sql .graphql .gql .proto .tf .hcl .css .scss
    .sass .less .dockerfile .mk .cmake .nix .zig .nim .v .sv .vhd .asm .s
"""
PLAIN_TEXT_EXTENSIONS = frozenset(_PLAIN_TEXT_LIST.split())

_BY_EXTENSION: dict[str, _Format] = {
    **dict.fromkeys(PLAIN_TEXT_EXTENSIONS, _PLAIN),
    ".json": _JSON,
    ".geojson": _JSON,
    ".yaml": _YAML,
    ".yml": _YAML,
    ".html": _HTML,
    ".htm": _HTML,
    ".xhtml": _HTML,
    ".csv": _CSV,
    ".tsv": _CSV,
    ".pdf": _PDF,
    ".docx": _DOCX,
    ".pptx": _PPTX,
    ".xlsx": _XLSX,
    ".xlsm": _XLSX,
    ".xls": _XLS,
    ".epub": _EPUB,
    ".eml": _EML,
    ".msg": _MSG,
}

# Known formats with no clean, maintained pure-Python reader: refused whatever the MIME type.
REFUSED_EXTENSIONS = frozenset({".doc", ".ppt", ".rtf", ".odt", ".ods", ".odp", ".pages"})

_OOXML = "application/vnd.openxmlformats-officedocument."
_BY_MIME: dict[str, _Format] = {
    "text/plain": _PLAIN,
    "text/markdown": _PLAIN,
    "text/xml": _PLAIN,
    "application/xml": _PLAIN,
    "text/html": _HTML,
    "application/xhtml+xml": _HTML,
    "text/csv": _CSV,
    "text/tab-separated-values": _CSV,
    "application/json": _JSON,
    "text/json": _JSON,
    "application/yaml": _YAML,
    "application/x-yaml": _YAML,
    "text/yaml": _YAML,
    "text/x-yaml": _YAML,
    "application/pdf": _PDF,
    _OOXML + "wordprocessingml.document": _DOCX,
    _OOXML + "presentationml.presentation": _PPTX,
    _OOXML + "spreadsheetml.sheet": _XLSX,
    "application/vnd.ms-excel.sheet.macroenabled.12": _XLSX,
    "application/vnd.ms-excel": _XLS,
    "application/epub+zip": _EPUB,
    "message/rfc822": _EML,
    "application/vnd.ms-outlook": _MSG,
}

SUPPORTED_EXTENSIONS = frozenset(_BY_EXTENSION)


def _extension(filename: str) -> str:
    return PurePosixPath(filename.replace("\\", "/")).suffix.lower()


def _split_mime(mime_type: str | None) -> tuple[str, str | None]:
    """``"text/plain; charset=latin-1"`` → ``("text/plain", "latin-1")``."""
    if not mime_type:
        return "", None
    base, *params = mime_type.split(";")
    charset = None
    for param in params:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip("\"'") or None
    return base.strip().lower(), charset


def _choose(filename: str, mime_type: str | None) -> _Format:
    extension = _extension(filename.strip())
    mime, _ = _split_mime(mime_type)
    if extension in _BY_EXTENSION:
        return _BY_EXTENSION[extension]
    if extension not in REFUSED_EXTENSIONS:
        found = _BY_MIME.get(mime)
        if found is None and mime.startswith("text/"):
            found = _PLAIN
        if found is not None:
            return found
    if extension:
        raise ExtractionError(f"Unsupported file type: {extension}")
    if mime:
        raise ExtractionError(f"Unsupported file type: {mime}")
    raise ExtractionError("Unsupported file type: the file has no extension or MIME type")


def is_supported(filename: str, mime_type: str | None = None) -> bool:
    """Whether :func:`extract_text` has an extractor for this name / MIME type."""
    try:
        _choose(filename, mime_type)
    except ExtractionError:
        return False
    return True


def extract_text(
    data: bytes,
    filename: str,
    mime_type: str | None = None,
    limits: ExtractLimits | None = None,
) -> str:
    """Extract the text of a document, choosing the format by extension, else by MIME type.

    Synchronous and CPU-bound: call it from a worker thread (see :func:`extract_text_async`).
    Every failure, including damaged input and exceeded limits, raises
    :class:`ExtractionError` with a one-line message meant for the end user.
    """
    limits = limits or ExtractLimits()
    fmt = _choose(filename, mime_type)
    if len(data) > limits.max_bytes:
        raise ExtractionError(f"File is larger than the {format_size(limits.max_bytes)} limit")
    _, charset = _split_mime(mime_type)
    try:
        text = fmt.extract(bytes(data), limits, charset)
    except ExtractionError:
        raise
    except MemoryError as exc:
        raise ExtractionError(f"Could not read {fmt.label}: it is too large to extract") from exc
    except RecursionError as exc:
        raise ExtractionError(f"Could not read {fmt.label}: it is nested too deeply") from exc
    except Exception as exc:  # any library failure on bad input becomes a user-facing error
        raise ExtractionError(f"Could not read {fmt.label}: file is damaged") from exc
    check_chars(len(text), limits.max_chars)
    return text


async def extract_text_async(
    data: bytes,
    filename: str,
    mime_type: str | None = None,
    limits: ExtractLimits | None = None,
) -> str:
    """:func:`extract_text` in a worker thread, so the event loop stays free."""
    return await asyncio.to_thread(extract_text, data, filename, mime_type, limits)
