from __future__ import annotations

import io

import pytest
from pypdf import PdfReader, PdfWriter

from headrace.extract import ExtractionError, ExtractLimits, extract_text
from tests.extract.builders import make_pdf

DOC = make_pdf([["Quarterly report", "Revenue (net) grew"], ["Second page text"]])


def _encrypted(user_password: str) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(DOC)))
    writer.encrypt(user_password=user_password, owner_password="owner", algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_pages_in_order_separated_by_blank_line() -> None:
    assert extract_text(DOC, "report.pdf") == (
        "Quarterly report\nRevenue (net) grew\n\nSecond page text"
    )


def test_mime_type_fallback_without_extension() -> None:
    assert extract_text(DOC, "download", "application/pdf").startswith("Quarterly report")


def test_too_many_pages() -> None:
    doc = make_pdf([[f"page {n}"] for n in range(3)])
    with pytest.raises(ExtractionError) as info:
        extract_text(doc, "big.pdf", limits=ExtractLimits(max_pages=2))
    assert str(info.value) == "PDF has 3 pages; the limit is 2"


def test_page_count_uses_thousands_separator() -> None:
    doc = make_pdf([["x"]] * 1_002)
    with pytest.raises(ExtractionError, match=r"^PDF has 1,002 pages; the limit is 1,000$"):
        extract_text(doc, "big.pdf", limits=ExtractLimits(max_pages=1_000))


@pytest.mark.parametrize(
    "data",
    [b"%PDF-1.4\n1 0 obj << /Type /Catalog", DOC[: len(DOC) // 3], b"%PDF-1.7\n" + b"\x00" * 500],
)
def test_damaged_pdf(data: bytes) -> None:
    with pytest.raises(ExtractionError) as info:
        extract_text(data, "broken.pdf")
    assert str(info.value) == "Could not read PDF: file is damaged"


def test_not_a_pdf() -> None:
    with pytest.raises(ExtractionError) as info:
        extract_text(b"PK\x03\x04 this is a zip", "fake.pdf")
    assert str(info.value) == "Could not read PDF: file is damaged or not a PDF"


def test_password_protected_pdf_is_refused() -> None:
    with pytest.raises(ExtractionError) as info:
        extract_text(_encrypted("secret"), "locked.pdf")
    assert str(info.value) == "Could not read PDF: it is password-protected"


def test_encrypted_pdf_with_empty_user_password_opens() -> None:
    assert extract_text(_encrypted(""), "restricted.pdf").startswith("Quarterly report")


def test_output_limit_applies_while_reading_pages() -> None:
    doc = make_pdf([["a" * 60]] * 5)
    with pytest.raises(ExtractionError, match=r"longer than the 100-character limit"):
        extract_text(doc, "long.pdf", limits=ExtractLimits(max_chars=100))


def test_page_with_too_many_drawing_instructions() -> None:
    doc = make_pdf([["short"], ["x" * 80] * 30])
    with pytest.raises(ExtractionError) as info:
        extract_text(doc, "heavy.pdf", limits=ExtractLimits(max_pdf_page_bytes=1024))
    assert str(info.value) == (
        "Could not read PDF: page 2 has more than 1 KB of drawing instructions "
        "(too complex to extract)"
    )


def test_operation_budget_covers_the_whole_document() -> None:
    doc = make_pdf([["line"] * 10] * 4)  # about 25 operations per page
    assert extract_text(doc, "ok.pdf", limits=ExtractLimits(max_pdf_operations=200))
    with pytest.raises(ExtractionError) as info:
        extract_text(doc, "busy.pdf", limits=ExtractLimits(max_pdf_operations=60))
    assert str(info.value) == (
        "Could not read PDF: it has more than 60 drawing operations (too complex to extract)"
    )
