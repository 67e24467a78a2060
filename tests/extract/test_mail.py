from __future__ import annotations

from email.message import EmailMessage

from headrace.extract import extract_text


def test_plain_email_with_headers() -> None:
    data = (
        b"From: Ada <ada@example.com>\r\nTo: team@example.com\r\n"
        b"Subject: =?utf-8?q?Caf=C3=A9_plans?=\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\nSee you at noon.\r\n"
    )
    assert extract_text(data, "note.eml") == (
        "Subject: Café plans\nFrom: Ada <ada@example.com>\nTo: team@example.com\n"
        "Date: Mon, 01 Jan 2024 10:00:00 +0000\n\nSee you at noon."
    )


def test_multipart_prefers_plain_and_lists_attachments() -> None:
    message = EmailMessage()
    message["Subject"] = "Report"
    message["From"] = "bob@example.com"
    message.set_content("Plain body.")
    message.add_alternative("<p>HTML <b>body</b></p>", subtype="html")
    message.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf", filename="q1.pdf")
    assert extract_text(message.as_bytes(), "r.eml") == (
        "Subject: Report\nFrom: bob@example.com\n\nPlain body.\n\nAttachments: q1.pdf"
    )


def test_html_only_email_becomes_visible_text() -> None:
    message = EmailMessage()
    message["Subject"] = "News"
    message.set_content(
        "<html><style>p{}</style><body><p>Hello</p><p>World &amp; more</p></body></html>",
        subtype="html",
    )
    assert extract_text(message.as_bytes(), "n.eml") == "Subject: News\n\nHello\n\nWorld & more"


def test_latin1_body_and_mime_type_fallback() -> None:
    data = (
        b"Subject: Hi\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\nGr\xfc\xdfe\r\n"
    )
    assert extract_text(data, "message", "message/rfc822") == "Subject: Hi\n\nGrüße"


def test_wrong_declared_charset_does_not_fail() -> None:
    data = b"Subject: x\r\nContent-Type: text/plain; charset=x-unknown\r\n\r\nhello\r\n"
    assert extract_text(data, "m.eml") == "Subject: x\n\nhello"
