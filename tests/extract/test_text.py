from __future__ import annotations

import codecs

import pytest

from headrace.extract import ExtractionError, extract_text


def test_plain_text_utf8_is_returned_as_is() -> None:
    text = "Hello, wörld ✓\nsecond line\n"
    assert extract_text(text.encode(), "notes.txt") == text


def test_utf8_bom_is_stripped() -> None:
    data = codecs.BOM_UTF8 + "Grüße aus Köln".encode()
    assert extract_text(data, "greeting.md") == "Grüße aus Köln"


def test_latin1_text_is_detected() -> None:
    text = "Café crème brûlée, naïve façade, déjà vu.\nÄrger über Öl für Größe.\n"
    assert extract_text(text.encode("latin-1"), "menu.txt") == text


def test_short_latin1_word() -> None:
    assert extract_text("café".encode("latin-1"), "w.txt") == "café"


def test_cyrillic_cp1251_is_detected() -> None:
    text = "Привет, как дела? Это тест кодировки, и он довольно длинный."
    assert extract_text(text.encode("cp1251"), "ru.txt") == text


def test_utf16_with_bom() -> None:
    text = "line one\nligne deux – ünïcödé"
    assert extract_text(text.encode("utf-16"), "u16.txt") == text


def test_declared_charset_from_mime_type_wins_over_detection() -> None:
    text = "Zażółć gęślą jaźń"
    data = text.encode("iso-8859-2")
    assert extract_text(data, "pl.txt", "text/plain; charset=ISO-8859-2") == text


def test_source_code_and_logs_are_plain_text() -> None:
    code = 'def f(x):\n    return x * 2  # "doubled"\n'
    assert extract_text(code.encode(), "lib.py") == code
    assert extract_text(b"WEBVTT\n\n00:00.000 --> 00:01.000\nHi", "talk.vtt").startswith("WEBVTT")
    assert extract_text(b"2024-01-01 INFO started", "app.LOG") == "2024-01-01 INFO started"
    assert extract_text(b"<a><b>1</b></a>", "data.xml") == "<a><b>1</b></a>"


def test_empty_text_file() -> None:
    assert extract_text(b"", "empty.txt") == ""


def test_binary_data_in_a_text_file_is_refused() -> None:
    data = b"\x00\x01\x02\x03\xff\xfe\x00\x00" * 64 + bytes(range(256))
    with pytest.raises(ExtractionError, match=r"looks like binary data"):
        extract_text(data, "blob.txt")


def test_json_is_pretty_printed() -> None:
    out = extract_text(b'{"name":"Ada","tags":["x","\\u00e9"],"n":1}', "d.json")
    assert out == '{\n  "name": "Ada",\n  "tags": [\n    "x",\n    "é"\n  ],\n  "n": 1\n}'


def test_invalid_json_names_the_position() -> None:
    with pytest.raises(ExtractionError) as info:
        extract_text(b'{"a": 1,\n "b": }', "bad.json")
    assert str(info.value) == "Could not read JSON: Expecting value at line 2, column 7"


def test_deeply_nested_json_is_refused_cleanly() -> None:
    with pytest.raises(ExtractionError, match=r"Could not read JSON"):
        extract_text(b"[" * 100_000 + b"]" * 100_000, "deep.json")


def test_yaml_is_returned_as_written() -> None:
    data = "# settings\nname: démo\nsteps:\n  - one\n  - two\nb: 1\na: 2\n---\nnext: doc\n"
    assert extract_text(data.encode(), "flow.yml") == data
    assert extract_text(data.encode("latin-1"), "flow.yaml") == data


def test_yaml_alias_bomb_costs_nothing() -> None:
    lines = ['a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for i in range(1, 10):
        prev = chr(ord("a") + i - 1)
        cur = chr(ord("a") + i)
        refs = ", ".join([f"*{prev}"] * 9)
        lines.append(f"{cur}: &{cur} [{refs}]")
    data = "\n".join(lines)
    assert extract_text(data.encode(), "bomb.yaml") == data


def test_nul_bytes_in_utf8_text_mean_binary() -> None:
    with pytest.raises(ExtractionError, match=r"looks like binary data"):
        extract_text(b"\x00" * 10_000, "zeros.log")


def test_declared_utf16_charset_is_honoured() -> None:
    data = "ünï".encode("utf-16-le")
    assert extract_text(data, "x.txt", "text/plain; charset=utf-16le") == "ünï"


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_without_bom(encoding: str) -> None:
    text = "Plain notes exported from an old editor – résumé"
    assert extract_text(text.encode(encoding), "old.txt") == text
