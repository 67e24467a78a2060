from __future__ import annotations

import pytest

from headrace.extract import ExtractionError, ExtractLimits, extract_text
from tests.extract.builders import make_epub, zip_bytes

CHAPTERS = [
    ("ch1", "<h1>Chapter One</h1><p>It was a dark night.</p><script>alert(1)</script>"),
    ("ch2", "<h1>Chapter Two</h1><p>Morning came&#160;at last.</p>"),
    ("appendix", "<p>Appendix text</p>"),
]


def test_spine_order_is_reading_order() -> None:
    data = make_epub(CHAPTERS, spine=["ch2", "ch1"])
    assert extract_text(data, "book.epub") == (
        "# Chapter Two\n\nMorning came at last.\n\n# Chapter One\n\nIt was a dark night."
    )


def test_missing_container_falls_back_to_the_opf() -> None:
    members = {"META-INF/container.xml": b"<container/>"}
    data = make_epub(CHAPTERS, spine=["appendix"], extra=members)
    assert extract_text(data, "book.epub") == "Appendix text"


def test_drm_protected_epub_is_refused() -> None:
    encryption = b"""<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container"
      xmlns:enc="http://www.w3.org/2001/04/xmlenc#">
      <enc:EncryptedData><enc:CipherData>
        <enc:CipherReference URI="OEBPS/text/ch1.xhtml"/>
      </enc:CipherData></enc:EncryptedData></encryption>"""
    data = make_epub(CHAPTERS, spine=["ch1"], extra={"META-INF/encryption.xml": encryption})
    with pytest.raises(ExtractionError) as info:
        extract_text(data, "drm.epub")
    assert str(info.value) == "Could not read EPUB: it is DRM-protected"


def test_xml_entity_declarations_are_refused() -> None:
    lol = (
        b'<?xml version="1.0"?><!DOCTYPE c [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><container>&b;</container>'
    )
    data = make_epub(CHAPTERS, spine=["ch1"], extra={"META-INF/container.xml": lol})
    with pytest.raises(ExtractionError, match=r"declares XML entities"):
        extract_text(data, "lol.epub")


def test_not_an_epub() -> None:
    with pytest.raises(ExtractionError) as info:
        extract_text(zip_bytes({"readme.txt": b"hi"}), "x.epub")
    assert str(info.value) == "Could not read EPUB: file is damaged or not an EPUB"


def test_epub_zip_bomb() -> None:
    data = make_epub(CHAPTERS, spine=["ch1"], extra={"OEBPS/pad.bin": b"\x00" * (2 * 1024 * 1024)})
    with pytest.raises(ExtractionError, match=r"possible zip bomb"):
        extract_text(data, "bomb.epub")
    with pytest.raises(ExtractionError, match=r"expand to more than 1 MB"):
        extract_text(
            data,
            "bomb.epub",
            limits=ExtractLimits(max_compression_ratio=10**9, max_unzipped_bytes=1024 * 1024),
        )
