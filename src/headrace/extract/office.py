"""Word (.docx) and PowerPoint (.pptx) text with python-docx and python-pptx.

Both formats are ZIP packages, checked by the zip-bomb guard before the library opens them.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator

import docx
from docx.oxml.ns import qn
from docx.oxml.table import CT_Tbl
from docx.oxml.text.paragraph import CT_P
from docx.oxml.xmlchemy import BaseOxmlElement
from docx.text.paragraph import Paragraph
from lxml import etree
from pptx import Presentation
from pptx.shapes.autoshape import Shape
from pptx.shapes.base import BaseShape
from pptx.shapes.graphfrm import GraphicFrame
from pptx.shapes.group import GroupShape
from pptx.slide import Slide

from .archive import open_zip
from .base import ExtractLimits, TextBudget, markdown_table

WORD = "Word document"
POWERPOINT = "PowerPoint presentation"


# -- Word -------------------------------------------------------------------------------------
_NS = {
    "w": "http://schemas.openxmlformats.org/wordprocessingml/2006/main",
    "mc": "http://schemas.openxmlformats.org/markup-compatibility/2006",
}
# Run text (tracked insertions and content controls included, deletions not), run-level tabs and
# breaks, and nested paragraph starts (text boxes); never the legacy copy in mc:Fallback.
_TEXT_NODES = (
    "(.//w:r/w:t | .//w:r/w:tab | .//w:r/w:br | .//w:r/w:cr | .//w:p)[not(ancestor::mc:Fallback)]"
)


def extract_docx(data: bytes, limits: ExtractLimits, charset: str | None) -> str:
    """Paragraphs and tables in document order; headings as ``#`` and tables as Markdown.

    Blocks inside content controls (cover pages, tables of contents) are included.
    """
    open_zip(data, limits, WORD).close()
    document = docx.Document(io.BytesIO(data))
    budget = TextBudget(limits.max_chars)
    text_nodes = etree.XPath(
        _TEXT_NODES, namespaces=_NS
    )  # per call: XPath objects aren't shared across threads
    for block in _docx_blocks(document.element.body):
        if isinstance(block, CT_Tbl):
            text = _docx_table(block, text_nodes)
        else:
            text = _docx_paragraph(Paragraph(block, document), text_nodes)
        if text:
            budget.add(text + "\n\n")
    return budget.text().rstrip("\n")


def _docx_blocks(container: BaseOxmlElement) -> Iterator[CT_P | CT_Tbl]:
    for child in container.iterchildren():
        if isinstance(child, CT_P | CT_Tbl):
            yield child
        elif child.tag == qn("w:sdt"):
            content = child.find(qn("w:sdtContent"))
            if content is not None:
                yield from _docx_blocks(content)


def _xml_text(element: BaseOxmlElement, text_nodes: etree.XPath) -> str:
    parts: list[str] = []
    for node in text_nodes(element):
        name = etree.QName(node).localname
        if name == "t":
            parts.append(node.text or "")
        elif name == "tab":
            parts.append("\t")
        elif name != "p" or (parts and node is not element):
            parts.append("\n")
    return "".join(parts)


def _docx_paragraph(paragraph: Paragraph, text_nodes: etree.XPath) -> str:
    text = _xml_text(paragraph._p, text_nodes).strip()
    if not text:
        return ""
    style = paragraph.style.name if paragraph.style is not None else None
    style = style or ""
    if style == "Title":
        return "# " + text
    if style.startswith("Heading "):
        level = style.removeprefix("Heading ").strip()
        if level.isdigit() and 1 <= int(level) <= 6:
            return "#" * int(level) + " " + text
    if style.startswith("List"):
        return "- " + text
    return text


def _docx_table(table: CT_Tbl, text_nodes: etree.XPath) -> str:
    """Render a table; merged cells keep their text in the first grid position only.

    Rows are read from the XML directly (not ``row.cells``), so vertically merged cells cost
    nothing: a continuation cell is simply empty.
    """
    rows: list[list[str]] = []
    for tr in table.tr_lst:
        cells = [""] * tr.grid_before
        for tc in tr.tc_lst:
            cells.append("" if tc.vMerge == "continue" else _xml_text(tc, text_nodes).strip())
            cells.extend([""] * (tc.grid_span - 1))
        rows.append(cells)
    return markdown_table(rows)


# -- PowerPoint -------------------------------------------------------------------------------
def extract_pptx(data: bytes, limits: ExtractLimits, charset: str | None) -> str:
    """Each slide under ``## Slide N``: text boxes and tables in shape order, then notes."""
    open_zip(data, limits, POWERPOINT).close()
    presentation = Presentation(io.BytesIO(data))
    budget = TextBudget(limits.max_chars)
    for number, slide in enumerate(presentation.slides, start=1):
        blocks = list(_pptx_shapes(slide.shapes))
        notes = _pptx_notes(slide)
        if notes:
            blocks.append("Notes: " + notes)
        budget.add("\n\n".join([f"## Slide {number}", *blocks]) + "\n\n")
    return budget.text().rstrip("\n")


def _pptx_shapes(shapes: Iterable[BaseShape]) -> Iterable[str]:
    for shape in shapes:
        if isinstance(shape, GroupShape):
            yield from _pptx_shapes(shape.shapes)
        elif isinstance(shape, GraphicFrame) and shape.has_table:
            rows = [[cell.text for cell in row.cells] for row in shape.table.rows]
            table = markdown_table(rows)
            if table:
                yield table
        elif isinstance(shape, Shape) and shape.has_text_frame:
            text = "\n".join(line for p in shape.text_frame.paragraphs if (line := p.text.strip()))
            if text:
                yield text


def _pptx_notes(slide: Slide) -> str:
    if not slide.has_notes_slide:
        return ""
    frame = slide.notes_slide.notes_text_frame
    return " ".join(frame.text.split()) if frame is not None else ""
