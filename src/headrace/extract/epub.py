"""EPUB text with the standard library: the spine's XHTML documents, in reading order.

The package is a ZIP (checked by the zip-bomb guard); ``META-INF/container.xml`` names the OPF
file whose manifest and spine list the chapters. XML with entity declarations is refused.
"""

from __future__ import annotations

import posixpath
import zipfile
from urllib.parse import unquote
from xml.etree import ElementTree

from .archive import open_zip, read_member
from .base import ExtractionError, ExtractLimits, TextBudget, not_a
from .htmltext import html_to_text
from .textual import decode_text

EPUB = "EPUB"
_CONTAINER = "META-INF/container.xml"
_ENCRYPTION = "META-INF/encryption.xml"
_DOCUMENT_TYPES = frozenset({"application/xhtml+xml", "text/html", "application/xml"})


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _parse_xml(raw: bytes, name: str) -> ElementTree.Element:
    if b"<!ENTITY" in raw:
        raise ExtractionError(f"Could not read {EPUB}: {name} declares XML entities")
    try:
        return ElementTree.fromstring(raw)
    except ElementTree.ParseError as exc:
        raise ExtractionError(f"Could not read {EPUB}: {name} is damaged") from exc


def _opf_path(archive: zipfile.ZipFile) -> str:
    names = archive.namelist()
    if _CONTAINER in names:
        root = _parse_xml(read_member(archive, _CONTAINER, EPUB), _CONTAINER)
        for element in root.iter():
            path = element.get("full-path")
            if _local(element.tag) == "rootfile" and path:
                return path
    candidates = sorted(name for name in names if name.lower().endswith(".opf"))
    if not candidates:
        raise ExtractionError(not_a(EPUB))
    return candidates[0]


def _spine(archive: zipfile.ZipFile, opf_path: str) -> list[str]:
    """Paths of the spine's content documents, in reading order."""
    root = _parse_xml(read_member(archive, opf_path, EPUB), opf_path)
    base = posixpath.dirname(opf_path)
    manifest: dict[str, tuple[str, str]] = {}
    order: list[str] = []
    for element in root.iter():
        tag = _local(element.tag)
        if tag == "item" and element.get("id") and element.get("href"):
            href = posixpath.normpath(posixpath.join(base, unquote(element.get("href", ""))))
            manifest[element.get("id", "")] = (href, element.get("media-type", ""))
        elif tag == "itemref" and element.get("idref"):
            order.append(element.get("idref", ""))
    paths = [
        manifest[ref][0] for ref in order if ref in manifest and manifest[ref][1] in _DOCUMENT_TYPES
    ]
    return list(dict.fromkeys(paths))


def _encrypted(archive: zipfile.ZipFile) -> set[str]:
    """Members listed in ``encryption.xml`` (DRM or font obfuscation)."""
    if _ENCRYPTION not in archive.namelist():
        return set()
    root = _parse_xml(read_member(archive, _ENCRYPTION, EPUB), _ENCRYPTION)
    return {
        posixpath.normpath(unquote(element.get("URI", "")))
        for element in root.iter()
        if _local(element.tag) == "CipherReference"
    }


def extract_epub(data: bytes, limits: ExtractLimits, charset: str | None) -> str:
    """The visible text of every chapter, chapters separated by a blank line."""
    with open_zip(data, limits, EPUB) as archive:
        paths = _spine(archive, _opf_path(archive))
        if _encrypted(archive).intersection(paths):
            raise ExtractionError(f"Could not read {EPUB}: it is DRM-protected")
        names = set(archive.namelist())
        budget = TextBudget(limits.max_chars)
        for path in paths:
            if path not in names:
                continue
            markup = decode_text(read_member(archive, path, EPUB), "utf-8", kind=EPUB)
            text = html_to_text(markup)
            if text:
                budget.add(text + "\n\n")
        return budget.text().rstrip("\n")
