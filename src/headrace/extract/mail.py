"""E-mail text: .eml (RFC 5322 / MIME, standard library) and Outlook .msg (olefile).

The result is a short header block (Subject, From, To, Cc, Date), a blank line, the body (the
plain-text body, else the HTML body as visible text) and the attachment names, if any.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import email.utils
import struct
from email.message import EmailMessage, Message

import olefile

from .base import ExtractionError, ExtractLimits, not_a
from .compound import open_ole, read_stream
from .htmltext import html_to_text, sniff_html_charset
from .textual import codec_name, decode_text

_HEADERS = ("Subject", "From", "To", "Cc", "Date")


def _part_text(part: Message) -> str:
    """Decoded text of one MIME part, tolerant of wrong or unknown charsets."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    try:
        return decode_text(payload, part.get_content_charset(), kind="e-mail")
    except ExtractionError:  # a stray NUL in one part should not lose the whole message
        return payload.decode("utf-8", errors="replace").replace("\x00", "")


def _header(message: Message, name: str) -> str:
    try:
        value = message.get(name)
    except (ValueError, TypeError, IndexError, LookupError):  # malformed header
        raw = message.get_all(name, failobj=[])
        value = raw[0] if raw else None
    return " ".join(str(value).split()) if value is not None else ""


def extract_eml(data: bytes, limits: ExtractLimits, charset: str | None) -> str:
    """Headers, body text and attachment names of a MIME message."""
    message = email.message_from_bytes(data, policy=email.policy.default)
    lines = [f"{name}: {value}" for name in _HEADERS if (value := _header(message, name))]
    body = ""
    if isinstance(message, EmailMessage):
        part = message.get_body(preferencelist=("plain", "html"))
        if part is not None:
            body = _part_text(part)
            if part.get_content_subtype() == "html":
                body = html_to_text(body)
    attachments: list[str] = []
    if isinstance(message, EmailMessage) and message.is_multipart():
        attachments = [
            name for attachment in message.iter_attachments() if (name := attachment.get_filename())
        ]
    return _render(lines, body, attachments)


def _render(header_lines: list[str], body: str, attachments: list[str]) -> str:
    blocks = ["\n".join(header_lines), body.strip()]
    if attachments:
        blocks.append("Attachments: " + ", ".join(attachments))
    return "\n\n".join(block for block in blocks if block)


# -- Outlook .msg (MS-OXMSG: MAPI properties stored in an OLE compound file) ---------------------
OUTLOOK = "Outlook message"
_PROPERTIES = "__properties_version1.0"
_ATTACHMENT_PREFIX = "__attach_version1.0_"
_SUBJECT, _SENDER_NAME, _SENDER_EMAIL, _SENDER_SMTP = 0x0037, 0x0C1A, 0x0C1F, 0x5D01
_DISPLAY_TO, _DISPLAY_CC, _BODY, _HTML = 0x0E04, 0x0E03, 0x1000, 0x1013
_SUBMIT_TIME, _DELIVERY_TIME, _CODEPAGE = 0x0039, 0x0E06, 0x3FFD
_LONG_FILENAME, _SHORT_FILENAME = 0x3707, 0x3704
_PT_LONG, _PT_SYSTIME = 0x0003, 0x0040
_FILETIME_EPOCH = dt.datetime(1601, 1, 1, tzinfo=dt.UTC)


class _Msg:
    """Reads MAPI properties from the root (or an attachment storage) of a .msg file."""

    def __init__(self, ole: olefile.OleFileIO[str], max_size: int) -> None:
        self._ole = ole
        self._max_size = max_size
        fixed = self._fixed_properties(_PROPERTIES, header=32)
        codepage = fixed.get((_CODEPAGE << 16) | _PT_LONG)
        self.codepage = "cp1252"
        if codepage is not None:
            number = struct.unpack_from("<I", codepage)[0]
            self.codepage = codec_name("utf-8" if number == 65001 else f"cp{number}") or "cp1252"
        self.fixed = fixed

    def _read(self, path: str) -> bytes | None:
        return read_stream(self._ole, path, OUTLOOK, self._max_size)

    def _fixed_properties(self, path: str, header: int) -> dict[int, bytes]:
        raw = self._read(path) or b""
        return {
            struct.unpack_from("<I", raw, offset)[0]: raw[offset + 8 : offset + 16]
            for offset in range(header, len(raw) - 15, 16)
        }

    def text(self, prop: int, storage: str = "") -> str:
        base = f"{storage}__substg1.0_{prop:04X}"
        raw = self._read(base + "001F")
        if raw:
            return raw.decode("utf-16-le", errors="replace").rstrip("\x00")
        raw = self._read(base + "001E")
        return raw.decode(self.codepage, errors="replace").rstrip("\x00") if raw else ""

    def binary(self, prop: int) -> bytes | None:
        return self._read(f"__substg1.0_{prop:04X}0102")

    def date(self) -> str:
        for prop in (_SUBMIT_TIME, _DELIVERY_TIME):
            value = self.fixed.get((prop << 16) | _PT_SYSTIME)
            if value:
                ticks = struct.unpack_from("<Q", value)[0]
                try:
                    when = _FILETIME_EPOCH + dt.timedelta(microseconds=ticks // 10)
                except OverflowError:
                    continue
                return email.utils.format_datetime(when)
        return ""

    def attachments(self) -> list[str]:
        names = []
        for entry in self._ole.listdir(streams=False, storages=True):
            if len(entry) == 1 and entry[0].startswith(_ATTACHMENT_PREFIX):
                storage = entry[0] + "/"
                name = self.text(_LONG_FILENAME, storage) or self.text(_SHORT_FILENAME, storage)
                if name:
                    names.append(name)
        return sorted(names)


def _sender(msg: _Msg) -> str:
    name = msg.text(_SENDER_NAME)
    address = msg.text(_SENDER_EMAIL)
    if not address or address.startswith("/"):  # an Exchange X.500 name, not an address
        address = msg.text(_SENDER_SMTP)
    if name and address and name != address:
        return f"{name} <{address}>"
    return name or address


def extract_msg(data: bytes, limits: ExtractLimits, charset: str | None) -> str:
    """Headers, body text and attachment names of an Outlook message."""
    with open_ole(data, OUTLOOK) as ole:
        if not ole.exists(_PROPERTIES):
            raise ExtractionError(not_a(OUTLOOK))
        msg = _Msg(ole, len(data))
        headers = {
            "Subject": msg.text(_SUBJECT),
            "From": _sender(msg),
            "To": msg.text(_DISPLAY_TO),
            "Cc": msg.text(_DISPLAY_CC),
            "Date": msg.date(),
        }
        lines = [f"{name}: {' '.join(value.split())}" for name, value in headers.items() if value]
        body = msg.text(_BODY)
        if not body.strip():
            html = msg.binary(_HTML)
            if html:
                body = html_to_text(decode_text(html, sniff_html_charset(html), kind=OUTLOOK))
        return _render(lines, body, msg.attachments())
