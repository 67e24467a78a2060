"""Build small documents of every supported format in memory for the extraction tests."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "extract"


def _pdf_string(text: str) -> str:
    return "(" + text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ")"


def make_pdf(pages: Sequence[Sequence[str]]) -> bytes:
    """A valid PDF with one page per entry, each line drawn with Helvetica."""
    page_count = len(pages)
    font_id = 3
    first_page_id = 4
    objects: dict[int, bytes] = {}
    kids = " ".join(f"{first_page_id + 2 * i} 0 R" for i in range(page_count))
    objects[1] = b"<< /Type /Catalog /Pages 2 0 R >>"
    objects[2] = f"<< /Type /Pages /Kids [{kids}] /Count {page_count} >>".encode()
    objects[font_id] = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
    for index, lines in enumerate(pages):
        page_id = first_page_id + 2 * index
        content_id = page_id + 1
        ops = ["BT", "/F1 12 Tf", "72 720 Td", "14 TL"]
        for line in lines:
            ops.append(f"{_pdf_string(line)} Tj T*")
        ops.append("ET")
        stream = "\n".join(ops).encode("latin-1")
        objects[page_id] = (
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font << /F1 {font_id} 0 R >> >> /Contents {content_id} 0 R >>"
        ).encode()
        objects[content_id] = (
            f"<< /Length {len(stream)} >>\nstream\n".encode() + stream + b"\nendstream"
        )
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets: dict[int, int] = {}
    for obj_id in sorted(objects):
        offsets[obj_id] = out.tell()
        out.write(f"{obj_id} 0 obj\n".encode() + objects[obj_id] + b"\nendobj\n")
    xref_at = out.tell()
    size = max(objects) + 1
    out.write(f"xref\n0 {size}\n0000000000 65535 f \n".encode())
    for obj_id in range(1, size):
        out.write(f"{offsets[obj_id]:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {size} /Root 1 0 R >>\nstartxref\n{xref_at}\n%%EOF\n".encode())
    return out.getvalue()


def zip_bytes(members: dict[str, bytes], *, stored: Sequence[str] = ()) -> bytes:
    """A ZIP archive with the given members (deflated unless listed in ``stored``)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, content in members.items():
            method = zipfile.ZIP_STORED if name in stored else zipfile.ZIP_DEFLATED
            archive.writestr(name, content, compress_type=method)
    return out.getvalue()


def add_to_zip(data: bytes, extra: dict[str, bytes]) -> bytes:
    """Copy a ZIP archive and add members to it."""
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        members = {info.filename: source.read(info) for info in source.infolist()}
    members.update(extra)
    return zip_bytes(members)


_CONTAINER = b"""<?xml version="1.0"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
  <rootfiles>
    <rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/>
  </rootfiles>
</container>"""


def make_epub(
    chapters: Sequence[tuple[str, str]],
    spine: Sequence[str],
    extra: dict[str, bytes] | None = None,
) -> bytes:
    """An EPUB 3 with the given ``(id, body html)`` chapters, read in ``spine`` order."""
    manifest = "\n".join(
        f'<item id="{cid}" href="text/{cid}.xhtml" media-type="application/xhtml+xml"/>'
        for cid, _ in chapters
    )
    itemrefs = "\n".join(f'<itemref idref="{cid}"/>' for cid in spine)
    opf = f"""<?xml version="1.0" encoding="utf-8"?>
<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="id">
  <metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>Book</dc:title></metadata>
  <manifest>{manifest}</manifest>
  <spine>{itemrefs}</spine>
</package>"""
    members = {
        "mimetype": b"application/epub+zip",
        "META-INF/container.xml": _CONTAINER,
        "OEBPS/content.opf": opf.encode(),
    }
    for cid, body in chapters:
        members[f"OEBPS/text/{cid}.xhtml"] = (
            '<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE html>\n'
            '<html xmlns="http://www.w3.org/1999/xhtml"><head><title>Ignored</title></head>'
            f"<body>{body}</body></html>"
        ).encode()
    members.update(extra or {})
    return zip_bytes(members, stored=["mimetype"])
