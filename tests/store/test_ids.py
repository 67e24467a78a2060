"""Row ids are canonical UUID4 text, as `str(uuid.uuid4())` writes it; trace ids 32 hex."""

from __future__ import annotations

import os
import re
import threading
import uuid

from headrace.logs import new_trace_id, valid_trace_id
from headrace.store.tables.base import new_id


def test_ids_are_canonical_uuid4_text_and_distinct() -> None:
    ids = [new_id() for _ in range(5000)]
    assert len(set(ids)) == len(ids)
    for text in ids:
        parsed = uuid.UUID(text)
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed) == text


def test_ids_use_every_random_bit() -> None:
    # 122 random bits: over many ids every one of them is seen both set and clear.
    values = [uuid.UUID(new_id()).int for _ in range(2000)]
    ones = 0
    zeros = 0
    for value in values:
        ones |= value
        zeros |= ~value & ((1 << 128) - 1)
    random_bits = ((1 << 128) - 1) & ~(0xF << 76) & ~(0x3 << 62)  # less version, variant
    assert ones & random_bits == random_bits
    assert zeros & random_bits == random_bits


def test_trace_ids_are_32_hex_and_valid() -> None:
    traces = {new_trace_id() for _ in range(1000)}
    assert len(traces) == 1000
    assert all(re.fullmatch(r"[0-9a-f]{32}", t) and valid_trace_id(t) == t for t in traces)


def test_a_forked_child_draws_other_bytes_than_its_parent() -> None:
    new_id()  # the parent's buffer now holds bytes a child must not reuse
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its ids and leave at once
        os.close(read_end)
        os.write(write_end, ",".join(new_id() for _ in range(50)).encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        child = set(pipe.read().decode().split(","))
    os.waitpid(pid, 0)
    parent = {new_id() for _ in range(50)}
    assert len(child) == 50
    assert not child & parent


def test_threads_draw_distinct_ids() -> None:
    results: list[list[str]] = [[] for _ in range(8)]

    def draw(slot: list[str]) -> None:
        slot.extend(new_id() for _ in range(2000))

    threads = [threading.Thread(target=draw, args=(slot,)) for slot in results]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [i for slot in results for i in slot]
    assert len(set(every)) == len(every) == 16_000
