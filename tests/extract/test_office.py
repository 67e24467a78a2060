from __future__ import annotations

import io
from typing import Any

import docx
import pytest
from lxml import etree
from pptx import Presentation
from pptx.util import Inches

from headrace.extract import ExtractionError, ExtractLimits, extract_text
from tests.extract.builders import add_to_zip, make_pdf, zip_bytes


def make_docx() -> bytes:
    document = docx.Document()
    document.add_heading("Project plan", level=1)
    document.add_paragraph("Intro paragraph before the table.")
    table = document.add_table(rows=3, cols=3)
    for r, row in enumerate([["Task", "Owner", "Due"], ["Design", "Ada", "May"]]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    merged = table.cell(2, 0).merge(table.cell(2, 1))
    merged.text = "Merged | wide"
    table.cell(2, 2).text = "June"
    document.add_heading("Details", level=2)
    document.add_paragraph("First point", style="List Bullet")
    document.add_paragraph("")
    document.add_paragraph("Closing paragraph.")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


DOCX = make_docx()


def test_docx_paragraphs_and_tables_in_document_order() -> None:
    assert extract_text(DOCX, "plan.docx") == (
        "# Project plan\n\n"
        "Intro paragraph before the table.\n\n"
        "| Task | Owner | Due |\n"
        "| --- | --- | --- |\n"
        "| Design | Ada | May |\n"
        "| Merged \\| wide |  | June |\n\n"
        "## Details\n\n"
        "- First point\n\n"
        "Closing paragraph."
    )


def test_docx_vertically_merged_cell_is_shown_once() -> None:
    document = docx.Document()
    table = document.add_table(rows=3, cols=2)
    table.cell(0, 0).text = "Key"
    table.cell(0, 1).text = "Value"
    table.cell(1, 0).merge(table.cell(2, 0)).text = "Tall"
    table.cell(1, 1).text = "one"
    table.cell(2, 1).text = "two"
    out = io.BytesIO()
    document.save(out)
    assert extract_text(out.getvalue(), "t.docx") == (
        "| Key | Value |\n| --- | --- |\n| Tall | one |\n|  | two |"
    )


def test_docx_zip_bomb_is_refused_before_parsing() -> None:
    bomb = add_to_zip(DOCX, {"word/media/filler.bin": b"\x00" * (8 * 1024 * 1024)})
    assert len(bomb) < 100_000
    with pytest.raises(ExtractionError) as info:
        extract_text(bomb, "bomb.docx")
    assert str(info.value) == (
        "Could not read Word document: a part is compressed more than 200:1 (possible zip bomb)"
    )


def test_docx_total_expansion_limit() -> None:
    with pytest.raises(ExtractionError) as info:
        extract_text(DOCX, "plan.docx", limits=ExtractLimits(max_unzipped_bytes=10 * 1024))
    assert str(info.value) == (
        "Could not read Word document: its contents expand to more than 10 KB"
    )


def test_docx_with_too_many_members() -> None:
    many = add_to_zip(DOCX, {f"customXml/item{i}.xml": b"<a/>" for i in range(30)})
    with pytest.raises(ExtractionError, match=r"the limit is 20$"):
        extract_text(many, "many.docx", limits=ExtractLimits(max_zip_entries=20))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            b"not a zip at all",
            "Could not read Word document: file is damaged or not a Word document",
        ),
        (
            DOCX[: len(DOCX) // 2],
            "Could not read Word document: file is damaged or not a Word document",
        ),
        (zip_bytes({"hello.txt": b"hi"}), "Could not read Word document: file is damaged"),
        (make_pdf([["x"]]), "Could not read Word document: file is damaged or not a Word document"),
        (
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512,
            "Could not read Word document: it is password-protected or in an old binary format",
        ),
    ],
)
def test_damaged_docx(data: bytes, message: str) -> None:
    with pytest.raises(ExtractionError) as info:
        extract_text(data, "broken.docx")
    assert str(info.value) == message


def make_pptx() -> bytes:
    presentation = Presentation()
    slide = presentation.slides.add_slide(presentation.slide_layouts[1])
    slide.shapes.title.text = "Welcome"
    body = slide.placeholders[1].text_frame
    body.text = "First bullet"
    body.add_paragraph().text = "Second bullet"
    slide.notes_slide.notes_text_frame.text = "Speaker  notes here"

    blank = presentation.slides.add_slide(presentation.slide_layouts[6])
    rows = blank.shapes.add_table(2, 2, Inches(1), Inches(1), Inches(4), Inches(1)).table
    for r, row in enumerate([["Metric", "Value"], ["Users", "42"]]):
        for c, value in enumerate(row):
            rows.cell(r, c).text = value
    group = blank.shapes.add_group_shape()
    group.shapes.add_textbox(
        Inches(1), Inches(3), Inches(2), Inches(1)
    ).text_frame.text = "In group"
    out = io.BytesIO()
    presentation.save(out)
    return out.getvalue()


def test_pptx_slides_tables_groups_and_notes() -> None:
    assert extract_text(make_pptx(), "deck.pptx") == (
        "## Slide 1\n\n"
        "Welcome\n\n"
        "First bullet\nSecond bullet\n\n"
        "Notes: Speaker notes here\n\n"
        "## Slide 2\n\n"
        "| Metric | Value |\n| --- | --- |\n| Users | 42 |\n\n"
        "In group"
    )


def test_pptx_zip_bomb_is_refused() -> None:
    bomb = add_to_zip(make_pptx(), {"ppt/media/image9.png": b"A" * (4 * 1024 * 1024)})
    with pytest.raises(
        ExtractionError, match=r"^Could not read PowerPoint presentation: .*zip bomb"
    ):
        extract_text(bomb, "bomb.pptx")


def test_docx_renamed_as_pptx() -> None:
    with pytest.raises(ExtractionError) as info:
        extract_text(DOCX, "deck.pptx")
    assert str(info.value) == "Could not read PowerPoint presentation: file is damaged"


W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
MC = "http://schemas.openxmlformats.org/markup-compatibility/2006"


def _xml(fragment: str) -> Any:
    return etree.fromstring(f'<root xmlns:w="{W}" xmlns:mc="{MC}">{fragment}</root>')[0]


def test_docx_content_controls_insertions_and_text_boxes() -> None:
    document = docx.Document()
    body = document.element.body
    cover = _xml(
        "<w:sdt><w:sdtPr/><w:sdtContent>"
        "<w:p><w:r><w:t>Cover title</w:t></w:r></w:p>"
        "</w:sdtContent></w:sdt>"
    )
    edited = _xml(
        "<w:p><w:pPr><w:tabs><w:tab w:val='left' w:pos='720'/></w:tabs></w:pPr>"
        "<w:r><w:t xml:space='preserve'>Kept </w:t></w:r>"
        "<w:ins w:id='1' w:author='a'><w:r><w:t>inserted</w:t></w:r></w:ins>"
        "<w:del w:id='2' w:author='a'><w:r><w:delText>deleted</w:delText></w:r></w:del>"
        "<w:r><w:tab/><w:t>after tab</w:t><w:br/><w:t>next line</w:t></w:r></w:p>"
    )
    boxed = _xml(
        "<w:p><w:r><w:t>Before box</w:t></w:r><w:r><mc:AlternateContent>"
        "<mc:Choice Requires='wps'><w:drawing><w:txbxContent>"
        "<w:p><w:r><w:t>Box text</w:t></w:r></w:p></w:txbxContent></w:drawing></mc:Choice>"
        "<mc:Fallback><w:pict><w:txbxContent>"
        "<w:p><w:r><w:t>Box text</w:t></w:r></w:p></w:txbxContent></w:pict></mc:Fallback>"
        "</mc:AlternateContent></w:r></w:p>"
    )
    sect = body[-1]
    for element in (cover, edited, boxed):
        sect.addprevious(element)
    out = io.BytesIO()
    document.save(out)
    assert extract_text(out.getvalue(), "edited.docx") == (
        "Cover title\n\nKept inserted\tafter tab\nnext line\n\nBefore box\nBox text"
    )
