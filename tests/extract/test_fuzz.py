"""Damaged inputs of every binary format: always an ExtractionError or text, never a hang."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import pytest

from headrace.extract import ExtractionError, extract_text
from tests.extract.builders import FIXTURES, make_epub, make_pdf
from tests.extract.test_msg import make_msg
from tests.extract.test_office import DOCX, make_pptx
from tests.extract.test_sheets import make_xlsx

SAMPLES: dict[str, Callable[[], bytes]] = {
    "f.pdf": lambda: make_pdf([["Hello world"], ["Page two"]]),
    "f.docx": lambda: DOCX,
    "f.pptx": make_pptx,
    "f.xlsx": make_xlsx,
    "f.xls": lambda: (FIXTURES / "sample.xls").read_bytes(),
    "f.epub": lambda: make_epub([("c1", "<p>Hello</p>")], ["c1"]),
    "f.msg": make_msg,
}


@pytest.mark.parametrize("filename", sorted(SAMPLES))
def test_mutated_files_fail_cleanly(filename: str) -> None:
    original = SAMPLES[filename]()
    rng = random.Random(filename)
    started = time.monotonic()
    for _ in range(40):
        data = bytearray(original)
        if rng.random() < 0.2:
            data = data[: rng.randrange(len(data))]
        else:
            for _ in range(rng.randint(1, 8)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        try:
            assert isinstance(extract_text(bytes(data), filename), str)
        except ExtractionError as error:
            assert "\n" not in str(error)
    assert time.monotonic() - started < 20
