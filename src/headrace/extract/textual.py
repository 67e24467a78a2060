"""Plain text, source code, JSON and YAML: decoding with charset detection."""

from __future__ import annotations

import codecs
import json
import unicodedata
from typing import Any

from .base import ExtractionError, ExtractLimits

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Ties between single-byte code pages are common on short text; Western European wins them.
_PREFERRED_TIE = "cp1252"


def codec_name(name: str | None) -> str | None:
    """Python's canonical name for an encoding label, or None when unknown."""
    if not name:
        return None
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def _utf16_without_bom(data: bytes) -> str | None:
    """``utf-16-le``/``-be`` when NUL bytes sit in every other position (mostly-ASCII UTF-16)."""
    head = data[:4096]
    if len(head) < 4 or len(head) % 2 or b"\x00" not in head:
        return None
    half = len(head) // 2
    even_nuls = head[0::2].count(0)
    odd_nuls = head[1::2].count(0)
    if odd_nuls > half * 0.4 and even_nuls < half * 0.05:
        return "utf-16-le"
    if even_nuls > half * 0.4 and odd_nuls < half * 0.05:
        return "utf-16-be"
    return None


def _mostly_latin(text: str) -> bool:
    """Whether the non-ASCII letters of ``text`` are mostly Latin-script ones."""
    letters = [ch for ch in text if ord(ch) > 127 and ch.isalpha()]
    if not letters:
        return True
    latin = sum(1 for ch in letters if unicodedata.name(ch, "").startswith("LATIN"))
    return latin * 2 > len(letters)


def _detect(data: bytes) -> str | None:
    """Ask charset-normalizer (when installed) for the most plausible encoding.

    Single-byte Latin code pages are hard to tell apart on short text, and the detector's
    favourite is often a Baltic or Central European one for plain Western text. So when the
    best guess reads as Latin script, or ties with another guess, and Windows-1252 is among
    the plausible code pages, Windows-1252 wins.
    """
    try:
        from charset_normalizer import from_bytes
    except ImportError:  # pragma: no cover - optional dependency
        return None
    matches = list(from_bytes(data))
    if not matches:
        return None
    best = matches[0]
    western = [m for m in matches if _PREFERRED_TIE in m.could_be_from_charset]
    if western:
        if any(m.chaos <= best.chaos + 0.01 for m in western):
            return _PREFERRED_TIE
        if _mostly_latin(str(best)):
            return _PREFERRED_TIE
    return best.encoding


def decode_text(
    data: bytes, declared_charset: str | None = None, *, kind: str = "text file"
) -> str:
    """Decode bytes to text: BOM, the declared charset, UTF-8, a detector, else Latin-1.

    Raises :class:`ExtractionError` for data that looks binary: NUL bytes that are not part of
    UTF-16 text (by byte-order mark, layout or declared charset).
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data.decode(encoding, errors="replace")
    utf16 = _utf16_without_bom(data)
    if utf16 is not None:
        return data.decode(utf16, errors="replace")
    declared = codec_name(declared_charset)
    if declared is not None:
        try:
            return data.decode(declared)
        except UnicodeDecodeError:
            pass
    if b"\x00" in data[:8192]:
        raise ExtractionError(f"Could not read {kind}: it looks like binary data, not text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    detected = codec_name(_detect(data))
    if detected == _PREFERRED_TIE:
        try:
            return data.decode(detected)
        except UnicodeDecodeError:
            return data.decode("latin-1")
    if detected is not None:
        return data.decode(detected, errors="replace")
    return data.decode("latin-1")


def extract_plain(data: bytes, limits: ExtractLimits, charset: str | None = None) -> str:
    """Return the file's text as-is, decoded (the caller checks the output size)."""
    return decode_text(data, charset)


def extract_json(data: bytes, limits: ExtractLimits, charset: str | None = None) -> str:
    """Parse JSON and return it pretty-printed (2-space indent, non-ASCII kept)."""
    text = decode_text(data, charset, kind="JSON")
    try:
        value: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ExtractionError(
            f"Could not read JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from exc
    except (RecursionError, ValueError) as exc:
        raise ExtractionError("Could not read JSON: it is nested too deeply or too large") from exc
    try:
        return json.dumps(value, indent=2, ensure_ascii=False)
    except (RecursionError, ValueError) as exc:
        raise ExtractionError("Could not read JSON: it is nested too deeply or too large") from exc


def extract_yaml(data: bytes, limits: ExtractLimits, charset: str | None) -> str:
    """Return YAML as written, decoded.

    YAML is already readable text, so it is not re-serialised: comments and key order stay, and
    a large or alias-heavy file costs no parsing time (PyYAML needs minutes for a few MB).
    """
    return decode_text(data, charset, kind="YAML")
