from __future__ import annotations

import contextlib
import datetime as dt
import io
import time
import zipfile

import openpyxl
import pytest

from headrace.extract import ExtractionError, ExtractLimits, extract_text
from headrace.extract.sheets import sniff_delimiter
from tests.extract.builders import FIXTURES, add_to_zip
from tests.extract.cfb import write_cfb


def test_csv_as_markdown_table() -> None:
    data = b"name,qty,note\nTea,2,hot\nCake,1,\n"
    assert extract_text(data, "order.csv") == (
        "| name | qty | note |\n| --- | --- | --- |\n| Tea | 2 | hot |\n| Cake | 1 |  |"
    )


def test_csv_dialect_is_sniffed() -> None:
    data = "Stadt;Einwohner;Fläche\nKöln;1.084.831;405,02\nBonn;336.465;141,06\n"
    assert extract_text(data.encode("latin-1"), "staedte.csv") == (
        "| Stadt | Einwohner | Fläche |\n| --- | --- | --- |\n"
        "| Köln | 1.084.831 | 405,02 |\n| Bonn | 336.465 | 141,06 |"
    )


def test_tsv_and_quoted_fields() -> None:
    data = b'id\ttext\n1\t"multi\nline | pipe"\n2\t"say ""hi"""\n'
    assert extract_text(data, "x.tsv") == (
        '| id | text |\n| --- | --- |\n| 1 | multi line \\| pipe |\n| 2 | say "hi" |'
    )


def test_csv_with_utf8_bom_and_ragged_rows() -> None:
    data = "\ufeffa,b\n1\n2,3,4\n".encode()
    assert extract_text(data, "r.csv") == (
        "| a | b |  |\n| --- | --- | --- |\n| 1 |  |  |\n| 2 | 3 | 4 |"
    )


def test_csv_skips_blank_rows_and_handles_empty_file() -> None:
    assert extract_text(b"a,b\n\n,\n1,2\n", "g.csv") == "| a | b |\n| --- | --- |\n| 1 | 2 |"
    assert extract_text(b"", "empty.csv") == ""


def test_csv_row_limit() -> None:
    data = b"n\n" + b"".join(f"{i}\n".encode() for i in range(20))
    with pytest.raises(ExtractionError) as info:
        extract_text(data, "many.csv", limits=ExtractLimits(max_rows=10))
    assert str(info.value) == "CSV file has more than 10 rows; the limit is 10"


def test_csv_field_too_large() -> None:
    data = b'a\n"' + b"x" * 200_000 + b'"\n'
    with pytest.raises(ExtractionError, match=r"^Could not read CSV file: field larger than"):
        extract_text(data, "huge.csv")


def make_xlsx() -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "Sales"
    sheet.append(["Region", "Units", "Price", "Date", "Open", "Total"])
    sheet.append(["North", 12, 2.5, dt.date(2024, 5, 1), True, "=B2*C2"])
    sheet.append(["South", 7, 0.1, dt.datetime(2024, 5, 2, 13, 30), False, None])
    sheet.append([])
    sheet.append(["Notes | misc", None, None, None, None, None])
    other = workbook.create_sheet("Summary")
    other["A1"] = "Total"
    other["B1"] = 19
    workbook.create_sheet("Empty")
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def test_xlsx_sheets_as_markdown_tables() -> None:
    # Formulas written by openpyxl carry no cached value, so data_only reads them as empty.
    assert extract_text(make_xlsx(), "sales.xlsx") == (
        "## Sales\n\n"
        "| Region | Units | Price | Date | Open | Total |\n"
        "| --- | --- | --- | --- | --- | --- |\n"
        "| North | 12 | 2.5 | 2024-05-01 | TRUE |  |\n"
        "| South | 7 | 0.1 | 2024-05-02 13:30:00 | FALSE |  |\n"
        "| Notes \\| misc |  |  |  |  |  |\n\n"
        "## Summary\n\n"
        "| Total | 19 |\n| --- | --- |\n\n"
        "## Empty"
    )


def test_xlsx_row_limit_counts_all_sheets() -> None:
    with pytest.raises(ExtractionError) as info:
        extract_text(make_xlsx(), "sales.xlsx", limits=ExtractLimits(max_rows=5))
    assert str(info.value) == "Workbook has more than 5 rows; the limit is 5"


def test_xlsx_forged_dimension_does_not_pad_rows() -> None:
    data = make_xlsx()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        sheet_xml = archive.read("xl/worksheets/sheet2.xml")
    forged = sheet_xml.replace(b'<dimension ref="A1:B1"/>', b'<dimension ref="A1:XFD1048576"/>')
    assert forged != sheet_xml
    out = extract_text(add_to_zip(data, {"xl/worksheets/sheet2.xml": forged}), "forged.xlsx")
    assert "## Summary\n\n| Total | 19 |\n| --- | --- |\n\n## Empty" in out


def test_xlsx_sparse_far_row_hits_the_row_limit() -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet["A1"] = "top"
    sheet["A500000"] = "far"
    out = io.BytesIO()
    workbook.save(out)
    with pytest.raises(ExtractionError, match=r"^Workbook has more than 100,000 rows"):
        extract_text(out.getvalue(), "sparse.xlsx")


def test_xlsx_cell_limit() -> None:
    with pytest.raises(ExtractionError) as info:
        extract_text(make_xlsx(), "sales.xlsx", limits=ExtractLimits(max_cells=10))
    assert str(info.value) == "Workbook has more than 10 cells; the limit is 10"


def test_xlsx_zip_bomb() -> None:
    bomb = add_to_zip(make_xlsx(), {"xl/media/pad.bin": b"\x00" * (3 * 1024 * 1024)})
    with pytest.raises(
        ExtractionError, match=r"^Could not read Excel workbook: .*possible zip bomb"
    ):
        extract_text(bomb, "bomb.xlsx")


def test_damaged_xlsx() -> None:
    with pytest.raises(ExtractionError) as info:
        extract_text(make_xlsx()[:-200], "cut.xlsx")
    assert str(info.value).startswith("Could not read Excel workbook: file is damaged")


def test_xls_legacy_workbook() -> None:
    data = (FIXTURES / "sample.xls").read_bytes()
    assert extract_text(data, "sample.xls") == (
        "## People\n\n"
        "| Name | Age | Joined | Score | Active |\n"
        "| --- | --- | --- | --- | --- |\n"
        "| Ada | 36 | 2024-03-01 | 9.5 | TRUE |\n"
        "| Linus |  | 1991-08-25 | 7 | FALSE |\n\n"
        "## Notes\n\n"
        "| Note |\n| --- |\n| a \\| b |"
    )


def test_damaged_xls() -> None:
    with pytest.raises(ExtractionError) as info:
        extract_text(b"\xd0\xcf\x11\xe0 definitely not biff", "old.xls")
    assert str(info.value) == "Could not read Excel workbook: file is damaged"


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        ("a,b,c\n1,2,3\n", ","),
        ("a;b;c\n1,5;2,5;3\n", ";"),
        ("a\tb\n1\t2\n", "\t"),
        ("a|b\n1|2\n", "|"),
        ('name,quote\n"x","a;b;c;d"\n"y","e;f"\n', ","),
        ("single\ncolumn\n", ","),
        ("", ","),
    ],
)
def test_delimiter_sniffing(sample: str, expected: str) -> None:
    assert sniff_delimiter(sample) == expected


@pytest.mark.parametrize(
    "data", [b',"' * 500_000, b'a,"b\n' * 100_000, b";'" * 500_000, b'"' * 1_000_000]
)
def test_hostile_csv_is_fast(data: bytes) -> None:
    started = time.monotonic()
    with contextlib.suppress(ExtractionError):
        extract_text(data, "hostile.csv")
    assert time.monotonic() - started < 5


def test_xls_with_a_looping_sector_chain_fails_fast() -> None:
    data = (FIXTURES / "looping-chain.xls").read_bytes()
    started = time.monotonic()
    with pytest.raises(ExtractionError, match=r"^Could not read Excel workbook: file is damaged"):
        extract_text(data, "loop.xls")
    assert time.monotonic() - started < 5


def test_misnamed_xls_files() -> None:
    assert extract_text(make_xlsx(), "really-xlsx.xls").startswith("## Sales\n\n| Region |")
    html_export = b"<html><body><table><tr><td>A</td><td>B</td></tr></table></body></html>"
    assert extract_text(html_export, "export.xls") == "A | B"


def test_xls_without_workbook_stream() -> None:
    with pytest.raises(ExtractionError) as info:
        extract_text(write_cfb({"WordDocument": b"\x00" * 100}), "doc.xls")
    assert (
        str(info.value) == "Could not read Excel workbook: file is damaged or not an Excel workbook"
    )
