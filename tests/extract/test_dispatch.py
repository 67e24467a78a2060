from __future__ import annotations

import threading
from typing import Any

import pytest

from headrace.extract import (
    SUPPORTED_EXTENSIONS,
    ExtractionError,
    ExtractLimits,
    core,
    extract_text,
    extract_text_async,
    is_supported,
)
from headrace.extract.base import format_size


@pytest.mark.parametrize(
    ("filename", "mime", "message"),
    [
        ("setup.exe", None, "Unsupported file type: .exe"),
        ("setup.exe", "application/octet-stream", "Unsupported file type: .exe"),
        ("Letter.DOC", "application/msword", "Unsupported file type: .doc"),
        ("slides.ppt", None, "Unsupported file type: .ppt"),
        ("memo.rtf", "text/plain", "Unsupported file type: .rtf"),
        ("archive.tar.gz", None, "Unsupported file type: .gz"),
        ("blob", "application/octet-stream", "Unsupported file type: application/octet-stream"),
        ("blob", None, "Unsupported file type: the file has no extension or MIME type"),
    ],
)
def test_unsupported_types(filename: str, mime: str | None, message: str) -> None:
    with pytest.raises(ExtractionError) as info:
        extract_text(b"data", filename, mime)
    assert str(info.value) == message
    assert not is_supported(filename, mime)


def test_extraction_error_is_a_value_error_with_one_line() -> None:
    error = ExtractionError("Could not read PDF:\n  file is damaged")
    assert isinstance(error, ValueError)
    assert str(error) == error.message == "Could not read PDF: file is damaged"


def test_extension_wins_over_mime_type() -> None:
    assert extract_text(b'{"a":1}', "x.json", "text/plain") == '{\n  "a": 1\n}'


@pytest.mark.parametrize(
    ("filename", "mime", "expected"),
    [
        ("README", "text/plain", "<b>hi</b>"),
        ("page", "text/html; charset=utf-8", "hi"),
        ("data.unknown", "application/json", '{\n  "a": 1\n}'),
        ("Makefile", "text/x-makefile", "<b>hi</b>"),
    ],
)
def test_mime_type_fallback(filename: str, mime: str, expected: str) -> None:
    data = b'{"a":1}' if "json" in mime else b"<b>hi</b>"
    assert extract_text(data, filename, mime) == expected
    assert is_supported(filename, mime)


def test_windows_paths_and_upper_case_extensions() -> None:
    assert extract_text(b"hello", "C:\\Users\\ada\\NOTES.TXT") == "hello"


def test_file_size_limit() -> None:
    with pytest.raises(ExtractionError) as info:
        extract_text(b"x" * (15 * 1024 * 1024 + 1), "big.txt")
    assert str(info.value) == "File is larger than the 15 MB limit"
    assert extract_text(b"x" * 10, "ok.txt", limits=ExtractLimits(max_bytes=10)) == "x" * 10


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (15 * 1024 * 1024, "15 MB"),
        (1536 * 1024, "1.5 MB"),
        (512 * 1024, "512 KB"),
        (100, "100 bytes"),
    ],
)
def test_size_wording(size: int, text: str) -> None:
    assert format_size(size) == text


def test_output_length_limit() -> None:
    with pytest.raises(ExtractionError) as info:
        extract_text(b"y" * 2_000, "long.txt", limits=ExtractLimits(max_chars=1_500))
    assert str(info.value) == "Extracted text is longer than the 1,500-character limit"


def test_default_limits() -> None:
    limits = ExtractLimits()
    assert limits.max_bytes == 15 * 1024 * 1024
    assert limits.max_pages == 500
    assert limits.max_chars == 10_000_000


def test_supported_extensions_cover_every_family() -> None:
    for ext in (".txt", ".md", ".py", ".json", ".yaml", ".yml", ".html", ".csv", ".pdf", ".docx",
                ".pptx", ".xlsx", ".xls", ".epub", ".eml", ".msg", ".vtt", ".log"):  # fmt: skip
        assert ext in SUPPORTED_EXTENSIONS
    assert ".doc" not in SUPPORTED_EXTENSIONS


async def test_async_runs_in_a_worker_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    loop_thread = threading.get_ident()
    seen: list[int] = []
    original = core.extract_text

    def spy(*args: Any) -> str:
        seen.append(threading.get_ident())
        return original(*args)

    monkeypatch.setattr(core, "extract_text", spy)
    assert await extract_text_async(b"a,b\n1,2\n", "t.csv") == "| a | b |\n| --- | --- |\n| 1 | 2 |"
    assert len(seen) == 1
    assert seen[0] != loop_thread
    with pytest.raises(ExtractionError, match=r"Unsupported file type: .exe"):
        await extract_text_async(b"", "x.exe")
