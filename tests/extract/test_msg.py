from __future__ import annotations

import datetime as dt
import struct

import pytest

from headrace.extract import ExtractionError, extract_text
from tests.extract.cfb import write_cfb


def _u(text: str) -> bytes:
    return text.encode("utf-16-le")


def _properties(*fixed: tuple[int, bytes]) -> bytes:
    header = b"\x00" * 32
    return header + b"".join(
        struct.pack("<II", tag, 6) + value.ljust(8, b"\x00") for tag, value in fixed
    )


def _filetime(when: dt.datetime) -> bytes:
    delta = when - dt.datetime(1601, 1, 1, tzinfo=dt.UTC)
    return struct.pack("<Q", (delta.days * 86_400 + delta.seconds) * 10_000_000)


SENT = dt.datetime(2024, 3, 5, 9, 30, tzinfo=dt.UTC)


def make_msg(extra: dict[str, bytes] | None = None, *, body: bool = True) -> bytes:
    streams = {
        "__properties_version1.0": _properties((0x00390040, _filetime(SENT))),
        "__substg1.0_0037001F": _u("Quarterly numbers"),
        "__substg1.0_0C1A001F": _u("Ada Lovelace"),
        "__substg1.0_0C1F001F": _u("/O=EXCHANGE/OU=FIRST/CN=RECIPIENTS/CN=ADA"),
        "__substg1.0_5D01001F": _u("ada@example.com"),
        "__substg1.0_0E04001F": _u("Bob; Carol"),
        "__attach_version1.0_#00000000/__substg1.0_3707001F": _u("numbers.xlsx"),
        "__attach_version1.0_#00000000/__substg1.0_37010102": b"PK" + b"\x00" * 5000,
        "__attach_version1.0_#00000001/__substg1.0_3704001E": b"NOTES.TXT\x00",
        "__recip_version1.0_#00000000/__substg1.0_3001001F": _u("Bob"),
    }
    if body:
        streams["__substg1.0_1000001F"] = _u("Hi all,\r\n\r\nnumbers attached.\r\n" + "x" * 10)
    streams.update(extra or {})
    return write_cfb(streams)


def test_outlook_message_headers_body_and_attachments() -> None:
    assert extract_text(make_msg(), "q.msg") == (
        "Subject: Quarterly numbers\n"
        "From: Ada Lovelace <ada@example.com>\n"
        "To: Bob; Carol\n"
        "Date: Tue, 05 Mar 2024 09:30:00 +0000\n\n"
        "Hi all,\r\n\r\nnumbers attached.\r\nxxxxxxxxxx\n\n"
        "Attachments: NOTES.TXT, numbers.xlsx"
    )


def test_outlook_message_html_body_and_8bit_strings() -> None:
    html = b"<html><body><p>Gr\xfc\xdfe</p><script>x()</script><p>Bye</p></body></html>"
    data = make_msg(
        {
            "__substg1.0_10130102": html,
            "__substg1.0_0037001E": b"Caf\xe9\x00",
            "__substg1.0_0037001F": b"",
        },
        body=False,
    )
    out = extract_text(data, "h.msg", "application/vnd.ms-outlook")
    assert out.startswith("Subject: Café\n")
    assert "\n\nGrüße\n\nBye\n\nAttachments:" in out


def test_large_body_in_regular_sectors() -> None:
    body = "Long body line.\r\n" * 400
    data = make_msg({"__substg1.0_1000001F": _u(body)})
    assert body.strip() in extract_text(data, "big.msg")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"From: a@b.c\r\n\r\nnot outlook", "file is damaged or not an Outlook message"),
        (write_cfb({"WordDocument": b"\x00" * 600}), "file is damaged or not an Outlook message"),
        (make_msg()[:1024], "file is damaged"),
    ],
)
def test_damaged_msg(data: bytes, message: str) -> None:
    with pytest.raises(ExtractionError) as info:
        extract_text(data, "bad.msg")
    assert str(info.value) == f"Could not read Outlook message: {message}"


def test_stream_declaring_a_size_beyond_the_file_is_refused() -> None:
    data = bytearray(make_msg())
    entry = data.find(_u("__substg1.0_1000001F"))
    assert entry > 0
    struct.pack_into("<Q", data, entry + 120, 0x7FFF0000)
    with pytest.raises(ExtractionError) as info:
        extract_text(bytes(data), "forged.msg")
    assert str(info.value) == "Could not read Outlook message: file is damaged"
