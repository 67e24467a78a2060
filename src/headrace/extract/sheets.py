"""Tables: CSV (sniffed dialect), .xlsx (openpyxl) and .xls (xlrd), rendered as Markdown tables.

A workbook gives one ``## <sheet>`` heading per sheet, each followed by its table (the first row
is the header). Rows and cells are counted as they are read, so a sheet that claims a million
rows is refused before it is rendered.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Sequence

import openpyxl
import xlrd

from .archive import open_zip
from .base import ExtractionError, ExtractLimits, TextBudget, markdown_table, not_a, trim_row
from .compound import OLE_MAGIC, open_ole, read_stream
from .htmltext import extract_html
from .textual import decode_text

EXCEL = "Excel workbook"
_SNIFF_BYTES = 64 * 1024


class _RowCounter:
    """Counts rows (and scanned cells) across a whole file against the limits."""

    def __init__(self, limits: ExtractLimits, what: str) -> None:
        self._limits = limits
        self._what = what
        self.rows = 0
        self.cells = 0

    def count(self, width: int) -> None:
        self.rows += 1
        self.cells += width
        if self.rows > self._limits.max_rows:
            raise ExtractionError(
                f"{self._what} has more than {self._limits.max_rows:,} rows; "
                f"the limit is {self._limits.max_rows:,}"
            )
        if self.cells > self._limits.max_cells:
            raise ExtractionError(
                f"{self._what} has more than {self._limits.max_cells:,} cells; "
                f"the limit is {self._limits.max_cells:,}"
            )


def _table(rows: Iterable[Sequence[str]], counter: _RowCounter) -> str:
    kept: list[list[str]] = []
    for row in rows:
        counter.count(len(row))
        trimmed = trim_row(row)
        if trimmed:
            kept.append(trimmed)
    return markdown_table(kept)


# -- CSV --------------------------------------------------------------------------------------
_DELIMITERS = (",", ";", "\t", "|")
_SNIFF_ROWS = 100


def sniff_delimiter(sample: str) -> str:
    """Pick the delimiter that splits the first rows into the most consistent column count.

    Linear-time replacement for ``csv.Sniffer``, whose regular expressions go quadratic on
    hostile input. Ties go to the order of ``_DELIMITERS``; with no clear winner, a comma.
    """
    cut = sample.rfind("\n")
    sample = sample[: cut + 1] if cut > 0 else sample
    best, best_score = ",", (0.0, 0, 0)
    for delimiter in _DELIMITERS:
        try:
            reader = csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter)
            widths = [len(row) for _, row in zip(range(_SNIFF_ROWS), reader, strict=False) if row]
        except csv.Error:
            continue
        if not widths:
            continue
        common = max(set(widths), key=widths.count)
        if common < 2:
            continue
        score = (widths.count(common) / len(widths), common, -_DELIMITERS.index(delimiter))
        if score > best_score:
            best, best_score = delimiter, score
    return best


def extract_csv(data: bytes, limits: ExtractLimits, charset: str | None) -> str:
    """Render a CSV file as one Markdown table, sniffing the delimiter."""
    text = decode_text(data, charset, kind="CSV file")
    delimiter = sniff_delimiter(text[:_SNIFF_BYTES])
    counter = _RowCounter(limits, "CSV file")
    try:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        return _table(reader, counter)
    except csv.Error as exc:
        raise ExtractionError(f"Could not read CSV file: {exc}") from exc


# -- values -----------------------------------------------------------------------------------
def format_value(value: object) -> str:
    """Show a cell value as a spreadsheet would: integral floats without ``.0``, ISO dates."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0, 0) and value.tzinfo is None:
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


# -- .xlsx ------------------------------------------------------------------------------------
def extract_xlsx(data: bytes, limits: ExtractLimits, charset: str | None) -> str:
    """Every worksheet as ``## <sheet>`` plus a Markdown table of its cached values."""
    open_zip(data, limits, EXCEL).close()
    workbook = openpyxl.load_workbook(
        io.BytesIO(data), read_only=True, data_only=True, keep_links=False
    )
    try:
        counter = _RowCounter(limits, "Workbook")
        budget = TextBudget(limits.max_chars)
        for sheet in workbook.worksheets:
            # Ignore the sheet's declared dimension: a forged one would pad every row.
            sheet.reset_dimensions()
            rows = ([format_value(v) for v in row] for row in sheet.iter_rows(values_only=True))
            table = _table(rows, counter)
            budget.add(f"## {sheet.title}\n\n{table}".rstrip() + "\n\n")
        return budget.text().rstrip("\n")
    finally:
        workbook.close()


# -- .xls -------------------------------------------------------------------------------------
_MAX_XLS_SHEETS = 256


def _biff_stream(data: bytes) -> bytes:
    """The BIFF workbook stream, read through olefile (xlrd's own reader can loop forever)."""
    with open_ole(data, EXCEL) as ole:
        for name in ("Workbook", "Book"):
            stream = read_stream(ole, name, EXCEL, len(data))
            if stream is not None:
                return stream
        if ole.exists("EncryptionInfo"):
            raise ExtractionError(f"Could not read {EXCEL}: it is password-protected")
    raise ExtractionError(not_a(EXCEL))


def extract_xls(data: bytes, limits: ExtractLimits, charset: str | None) -> str:
    """Every worksheet of a legacy (BIFF) workbook, rendered like .xlsx.

    Files named .xls that are really .xlsx or HTML tables (a common export) are read as such.
    """
    if data.startswith(b"PK\x03\x04"):
        return extract_xlsx(data, limits, charset)
    if data.lstrip()[:1] == b"<":
        return extract_html(data, limits, charset)
    biff = _biff_stream(data) if data.startswith(OLE_MAGIC) else data
    try:
        book = xlrd.open_workbook(file_contents=biff, on_demand=True, logfile=io.StringIO())
    except xlrd.biffh.XLRDError as exc:
        if "encrypted" in str(exc).lower():
            raise ExtractionError(f"Could not read {EXCEL}: it is password-protected") from exc
        raise ExtractionError(f"Could not read {EXCEL}: file is damaged") from exc
    try:
        if book.nsheets > _MAX_XLS_SHEETS:
            raise ExtractionError(
                f"Workbook has {book.nsheets:,} sheets; the limit is {_MAX_XLS_SHEETS}"
            )
        counter = _RowCounter(limits, "Workbook")
        budget = TextBudget(limits.max_chars)
        for index in range(book.nsheets):
            sheet = book.sheet_by_index(index)
            rows = (
                [_xls_value(book, sheet.cell(r, c)) for c in range(sheet.row_len(r))]
                for r in range(sheet.nrows)
            )
            table = _table(rows, counter)
            budget.add(f"## {sheet.name}\n\n{table}".rstrip() + "\n\n")
            book.unload_sheet(index)
        return budget.text().rstrip("\n")
    finally:
        book.release_resources()


def _xls_value(book: xlrd.Book, cell: xlrd.sheet.Cell) -> str:
    if cell.ctype == xlrd.XL_CELL_DATE:
        try:
            return format_value(xlrd.xldate_as_datetime(float(cell.value), book.datemode))
        except (xlrd.xldate.XLDateError, ValueError, OverflowError):
            return format_value(cell.value)
    if cell.ctype == xlrd.XL_CELL_BOOLEAN:
        return format_value(bool(cell.value))
    if cell.ctype == xlrd.XL_CELL_ERROR:
        return xlrd.error_text_from_code.get(int(cell.value), "#ERROR")
    return format_value(cell.value)
